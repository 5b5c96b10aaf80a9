#!/usr/bin/env bash
# The backward's dq and dk passes side by side on two streams (lab flag 256 = one after the
# other; written 2026-11-29, not yet run). Build; the CUDA tests; the float64 lab with and
# without; the store identity; flag 256 timed against the default; the training step.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_ops
for f in 0 256; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 100 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab$f.log" 2>&1
  echo "lab, flags $f: exit $? $(grep CORRECTNESS "$OUT/lab$f.log")"
done
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
timeout 120 python3 dev/cuda/retention_ab.py 256 0 >"$OUT/ab256.txt" 2>&1; echo "ab 256 0: exit $?"; cat "$OUT/ab256.txt"
echo "at $((SECONDS - t0)) s"
train_ab 256 0 256 0
echo "total $((SECONDS - t0)) s"
