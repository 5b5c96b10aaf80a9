#!/usr/bin/env bash
# Thirty-fifth session: mega_lab.cu, the whole decoding step at B = 1 as one persistent kernel
# (the fla-shaped 1.3B: three meetings a layer, each draining a stage; a counter a head; the
# products on tensor cores),
# checked layer by layer against float64 at 2 and 24 layers, timed at 24 against a plain read of
# its bytes (and timing-only variants without meetings, head waits, state bytes or products);
# two mutants (the rotation's sign; the decay left out) must fail the check.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mega_build || exit 1
{
  timeout 120 /tmp/mega_lab 2 5
  timeout 200 /tmp/mega_lab 24 30
  timeout 200 /tmp/mega_lab 24 30
} 2>&1 | tee "$OUT/mega_lab.txt"
for i in 1 2; do echo "== mutant $i"; timeout 120 /tmp/mega_lab_mut$i 2 1 | grep check; done
echo "total $((SECONDS - t0)) s"
