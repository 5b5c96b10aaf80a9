#!/usr/bin/env bash
# Thirty-sixth session, after the review (norm_in and norm_in_ll share norm_out): the defaults
# checked and timed once more, the mutants built from the same tree.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mega_build || exit 1
timeout 150 /tmp/mega_lab 24 30 | grep -E "check|step \(|drain" | tee "$OUT/mega_lab.txt"
for i in 1 2; do echo "== mutant $i"; timeout 120 /tmp/mega_lab_mut$i 2 1 | grep check; done
echo "total $((SECONDS - t0)) s"
