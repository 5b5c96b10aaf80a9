#!/usr/bin/env bash
# Ready for the next session's first device call (written 2026-11-29, not yet run). What was
# written after the last device call of 2026-11-29 and has not run on a GPU:
#   - the retention backward's dv written as bf16 straight into the wv product's operand
#     (model_cuda.cu; the same bits by construction) and the review's TMA-store mends (a
#     barrier before every staging, no box wholly past the last column, none under clusters);
#   - lab flag 32: a contraction wider than 256 as two passes over its halves (the backward's
#     dq and dk when dv = 512); flags 64 / 128: 4 / 3 cp.async load stages for KC <= 128
#     (the H16 forward and the dv pass of dk = 128).
# Here: build; every CUDA test as committed; the store check; the float64 lab with each flag;
# each flag timed against the default (dev/cuda/retention_ab.py). Then dev/cuda/next5.sh with
# the flags that won: the model tests under them and the training step with and without.
# Predictions (before any run): flag 32, H8 backward at T = 16k 3.1 -> ~2.5 ms (sequential
# halves: each launch has 64 blocks of 64 columns there, so 32-column tiles again), 1.3B
# layer backward 1.69 -> ~1.3 ms; flags 64/128, H16 forward 0.69 -> ~0.5 ms (the v4 probe: 0.31
# of 0.78 ms went to loads).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=150 cuda_tests
mv "$OUT/tests.log" "$OUT/tests-default.log"
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -2
echo "DIFF lines: $(grep -c "^DIFF" "$OUT/store.txt")"; grep "^DIFF" "$OUT/store.txt" | head -5
for f in 0 32 64 128; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 100 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab$f.log" 2>&1
  echo "lab, flags $f: exit $? $(grep CORRECTNESS "$OUT/lab$f.log")"
done
echo "at $((SECONDS - t0)) s"
for f in 32 64 128; do
  timeout 120 python3 dev/cuda/retention_ab.py 0 $f >"$OUT/ab$f.txt" 2>&1; echo "ab 0 $f: exit $?"; cat "$OUT/ab$f.txt"
done
echo "total $((SECONDS - t0)) s"
