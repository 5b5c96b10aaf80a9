#!/usr/bin/env bash
# Fifteenth session: the windowed step streamed (step_window_stream_kernel: one block an SM,
# cp.async filling the next unit's stage while one is summed) for large states. The window
# tests as they are and with RETNET_CUDA_WINDOW_STREAM=1 (the streamed kernel at every size),
# then the 1.3B step: window off, W = 16 streamed, W = 16 with the block kernel.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
T="build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model"
TEST_TIMEOUT=150 cuda_tests $T
cp "$OUT/tests.log" "$OUT/tests-default.log"
RETNET_CUDA_WINDOW_STREAM=1 TEST_TIMEOUT=150 cuda_tests $T
for i in 1 2; do
  decode_run w0 build-cuda/retnet 16,32,64,128,256 RETNET_CUDA_WINDOW=0
  decode_run stream build-cuda/retnet 16,32,64,128,256 RETNET_CUDA_WINDOW=16,0
  decode_run block build-cuda/retnet 16,32,64,128,256 RETNET_CUDA_WINDOW=16,0 RETNET_CUDA_WINDOW_STREAM=0
done
decode_table
decode_runs 64
echo "total $((SECONDS - t0)) s"
