#!/usr/bin/env bash
# Eleventh session, review: test_cuda_train's test_graphs now also at B = 12 (the mma gemv's
# two tiles under graphs and programmatic launch, bit for bit the op-by-op step), and the
# gemv tests after the review's comment and message edits; lib.sh's probe_copy builds.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
probe_copy /tmp/probe
( cd /tmp/probe && make CUDA=1 -j6 build-cuda/retnet >"$OUT/probe-build.log" 2>&1; echo "probe build: exit $?" ) &
JOBS=10 cuda_build build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv
timeout 150 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/train.log" 2>&1
echo "test_cuda_train (graphs, batch): exit $?: $(tail -n 1 "$OUT/train.log")"
grep FAIL "$OUT/train.log" | head
wait
echo "total $((SECONDS - t0)) s"
