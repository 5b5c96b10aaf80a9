#!/usr/bin/env bash
# Sixteenth session, last call: the window's fold with both register sets at once (a thread's
# rows 2 UNR in a row: each token's values read once for 4 rows, its keys as float4s), sm_90a:
# the window's tests (test_cuda_retention, test_cuda_model, test_cuda_train's batch and graphs),
# window_lab2 (the mainline shapes' fold and read-only times, bits against each other), then
# the 1.3B step against the tree before (build/base.tar, carried) at B = 8, 64, 256, twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
( nvcc -O3 -std=c++17 $CUDA_GENCODE -o "$OUT/window_lab2" dev/cuda/window_lab2.cu >"$OUT/lab2-build.log" 2>&1; echo "lab2 build: exit $?" ) &
LAB=$!
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
grep FAIL "$OUT/tests.log" | head
wait $LAB
timeout 100 "$OUT/window_lab2" >"$OUT/window_lab2.txt" 2>&1
grep -E "plain|mainline|FAIL" "$OUT/window_lab2.txt"
wait $BPID
for i in 1 2; do
  decode_run base /tmp/base/build-cuda/retnet 8,64,256
  decode_run new build-cuda/retnet 8,64,256
done
decode_runs
echo "total $((SECONDS - t0)) s"
