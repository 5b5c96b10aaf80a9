#!/usr/bin/env bash
# Fourteenth session, first call: ring_lab.cu (can a persistent kernel stream the 1.3B step's
# weights through a TMA ring at HBM speed under the step's grid barriers?), then HEAD 20d8c07
# (the review of gemv_fma_kernel) as next65: a clean build for every target, every CUDA test,
# and the FMA gemv's two shapes in the model.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/ring_lab" dev/cuda/ring_lab.cu &&
  timeout 120 "$OUT/ring_lab" | tee "$OUT/ring_lab.txt"
echo "ring lab at $((SECONDS - t0)) s"
clean_tests 150
decode_ab RETNET_CUDA_FMA "4,1 4,2" 1,2
echo "total $((SECONDS - t0)) s"
