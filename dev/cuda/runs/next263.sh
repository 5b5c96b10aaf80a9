#!/usr/bin/env bash
# Thirty-fifth session: mega_lab.cu with wo split by each block's 32 columns of o (MEGA_WOS: wo
# stored as [128][2048][32] slices, y added to x by red.add, the head norm's sums met on a
# counter a head: two meetings a layer) against wo by rows (three), in one call; each checked
# layer by layer against float64 (2 and 24 layers), the WOS form's mutants (the rotation's
# sign; the decay left out) must fail.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mega_build || exit 1
{
  MEGA_WOS=1 timeout 120 /tmp/mega_lab 2 5
  for i in 1 2; do
    MEGA_WOS=1 timeout 200 /tmp/mega_lab 24 30
    timeout 200 /tmp/mega_lab 24 30
  done
} 2>&1 | tee "$OUT/mega_lab.txt"
for i in 1 2; do echo "== mutant $i (WOS)"; MEGA_WOS=1 timeout 120 /tmp/mega_lab_mut$i 2 1 | grep check; done
echo "total $((SECONDS - t0)) s"
