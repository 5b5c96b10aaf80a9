#!/usr/bin/env bash
# (branch wip-hn-push, compiled for sm_80 and sm_90a, not yet run: the twenty-ninth session's
# GPU time was spent) The B = 1 step's head norm with the blocks' sums pushed into every
# block of the cluster and one cluster barrier (the kernel arrives at its start and waits
# before the writes), where the pull form has two; RETNET_CUDA_HN_PUSH=0 pulls. Tests
# (test_step_hn: y bit for bit the separate launches'; the model's decoding), then the 1.3B
# step at B = 1 on / off, three runs alternated, and the preset with the head norm fused too.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention \
  build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
train_decode_tests
for i in 1 2 3; do
  for v in 1 0; do
    decode_run "push$v" build-cuda/retnet 1 RETNET_CUDA_HN_PUSH=$v
    DECODE_MODEL="--preset 1.3b" decode_run "p-push$v" build-cuda/retnet 1 RETNET_CUDA_HN_PUSH=$v RETNET_CUDA_HN_FUSED=1
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
