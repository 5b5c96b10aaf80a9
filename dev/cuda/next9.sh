#!/usr/bin/env bash
# For the next session's first device call (written 2026-11-29 after the last device call;
# NOT yet run): the review's mends to the backward's side stream (host code only: the join
# also after a failed dq pass, no CUDA error left behind when the side stream cannot be made,
# dq and dk in turn when their buffers overlap) and test_cuda_retention's new cases (outputs
# NaN-filled before they are written; += onto random values in fp32 and bf16, with and without
# the contraction split). Build; every CUDA test; the float64 lab; the store identity; the
# dq || dk gain again (flag 256), which the mends must not change.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=150 cuda_tests
grep -E "dv512" "$OUT/tests.log"
RETNET_CUDA_LAB_FLAGS=256 TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention
timeout 100 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab: exit $? $(grep CORRECTNESS "$OUT/lab.log")"
timeout 100 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
timeout 60 python3 dev/cuda/retention_ab.py 256 0
echo "total $((SECONDS - t0)) s"
