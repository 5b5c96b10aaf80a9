#!/usr/bin/env bash
# Seventeenth session: a large batch's decoding step as two halves on two streams
# (model_cuda.cu's decode_layers, RETNET_CUDA_SPLIT=mode[,MB]), one half's state read beside
# the other's products. The decoding tests (test_cuda_model's new test_split against the CPU,
# test_graphs' split runs: graph bit for bit the halves op by op), then the 1.3B step at
# B = 32-256 with the split off, mode 1 (two free chains) and mode 2 (state reads taking turns).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
decode_tests
for i in 1 2; do
  decode_run off build-cuda/retnet 32,64,128,256 RETNET_CUDA_SPLIT=0
  decode_run m1 build-cuda/retnet 32,64,128,256 RETNET_CUDA_SPLIT=1,0
  decode_run m2 build-cuda/retnet 32,64,128,256 RETNET_CUDA_SPLIT=2,0
done
decode_table
decode_runs 32
echo "total $((SECONDS - t0)) s"
