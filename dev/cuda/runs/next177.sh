#!/usr/bin/env bash
# The review's tree (gemv.cu: run()'s repeat of rms_in's one-row check gone; model_cuda.cu:
# rms_chain's repeat of the K % 8 rule gone, the output weight picked once in last_logits):
# the decoding tests, then the fla shape at B = 1 chain / apart (RETNET_CUDA_RMS_CHAIN=0)
# alternated twice, through lib.sh's decode_run.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
for i in 1 2; do
  decode_run "chain" build-cuda/retnet 1
  decode_run "apart" build-cuda/retnet 1 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
