#!/usr/bin/env bash
# The window step's large shapes with 4 rows a set (RETNET_CUDA_WINDOW_UNR=4: twice the state
# in flight before the wait; at B = 8 the 64-column shape then asks for all 8 of a thread's
# rows before it): test_cuda_retention and test_cuda_model under it, then the 1.3B step at
# B = 4, 8, 16, 64, 256 with 2 and 4 rows a set, alternated, twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for u in 2 4; do
  for t in retention model; do
    RETNET_CUDA_WINDOW_UNR=$u timeout 100 build-cuda/cuda/tests/test_cuda_$t >"$OUT/$t-unr$u.log" 2>&1
    echo "test_cuda_$t, RETNET_CUDA_WINDOW_UNR=$u: exit $?: $(tail -n 1 "$OUT/$t-unr$u.log")"
  done
done
for i in 1 2; do
  for u in 2 4; do
    decode_run "unr$u" build-cuda/retnet 4,8,16,64,256 RETNET_CUDA_WINDOW_UNR=$u
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
