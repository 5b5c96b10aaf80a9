#!/usr/bin/env bash
# The decoding window's length W (RETNET_CUDA_WINDOW=W: 16 by default; 8, 32 last compared in
# the fifteenth session's next78, with its first kernel), alternated twice: the fla shape at
# B = 4, 8, 64 and 256.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2; do
  decode_run "w16" build-cuda/retnet 4,8,64,256
  decode_run "w8" build-cuda/retnet 4,8,64,256 RETNET_CUDA_WINDOW=8
  decode_run "w32" build-cuda/retnet 4,8,64,256 RETNET_CUDA_WINDOW=32
done
decode_table
echo "total $((SECONDS - t0)) s"
