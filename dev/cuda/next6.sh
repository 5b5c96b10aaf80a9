#!/usr/bin/env bash
# The split (flag 32 = off) and 4 load stages for KC = 128 (flag 64 = off) as defaults, with the
# split's second half adding by TMA in bf16 too (written 2026-11-29 after next4.sh, not yet run).
# Here: build; the CUDA tests; the float64 lab under the defaults and the old ways; the old ways
# timed against the new; the training step old (96) against new (0), then by phase.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_ops
grep -E "dv512" "$OUT/tests.log"
RETNET_CUDA_LAB_FLAGS=128 TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for f in 0 96 128; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 100 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab$f.log" 2>&1
  echo "lab, flags $f: exit $? $(grep CORRECTNESS "$OUT/lab$f.log")"
done
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
for f in 32 64; do
  timeout 120 python3 dev/cuda/retention_ab.py $f 0 >"$OUT/ab$f.txt" 2>&1; echo "ab $f 0: exit $?"; cat "$OUT/ab$f.txt"
done
echo "at $((SECONDS - t0)) s"
train_ab 96 0 96 0
train_phases
echo "total $((SECONDS - t0)) s"
