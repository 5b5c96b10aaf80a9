#!/usr/bin/env bash
# Thirty-eighth session: is the library's persistent step (next286: 1.019-1.020 ms a step by
# `retnet bench decode`, a tie with the chain) slower than the lab's kernel (0.91 by its own
# event timing, next278), or is the bench's step the difference? The lab in this call, and
# CUPTI's kernel durations of the library's step and the chain's.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp \
  -o /tmp/mega_lab dev/cuda/mega_lab.cu >"$OUT/mega_build.log" 2>&1 &
ML=$!
JOBS=14 cuda_build build-cuda/retnet
trace_build
wait $ML; echo "mega_lab build: exit $?"
timeout 200 /tmp/mega_lab 24 30 | grep -E "check|step \(" | tee "$OUT/mega_lab.txt"
ROWS=6 decode_trace pstep 1
ROWS=6 decode_trace chain 1 RETNET_CUDA_PERSISTENT=0
for i in 1 2; do
  decode_run pstep build-cuda/retnet 1
  decode_run chain build-cuda/retnet 1 RETNET_CUDA_PERSISTENT=0
done
decode_table
echo "total $((SECONDS - t0)) s"
