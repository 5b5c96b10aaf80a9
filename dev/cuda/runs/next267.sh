#!/usr/bin/env bash
# Thirty-fifth session, after the final review: the persistent step (mega_lab.cu, 24 layers, wo
# by rows; its check first) and the library's decoding step (`retnet bench decode`, the same
# fla-shaped 1.3B, B = 1, context 64: the kernel chain) in one call, alternated twice, so that
# the two are compared on one machine.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp \
  -o /tmp/mega_lab dev/cuda/mega_lab.cu || exit 1
for i in 1 2; do
  decode_run chain build-cuda/retnet 1
  timeout 150 /tmp/mega_lab 24 30 | grep -E "check|step \(|drain" | tee -a "$OUT/mega_lab.txt"
done
decode_table
echo "total $((SECONDS - t0)) s"
