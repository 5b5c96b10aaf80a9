#!/usr/bin/env bash
# Twelfth session, sixth call: step_kernel with 32 row groups (512 threads) and plain loads and
# stores, step_lab.cu's best shape, against the 16 hinted row groups it had
# (RETNET_CUDA_STEP_RG=16); the decoding tests; the 1.3B step at B = 1, 8, 64, 256 both ways.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
timeout 200 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch test_argmax >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (graphs, batch, argmax): exit $?: $(tail -n 1 "$OUT/tests.log")"
grep FAIL "$OUT/tests.log" | head
decode_ab RETNET_CUDA_STEP_RG "16 32" 1,8,64,256
echo "total $((SECONDS - t0)) s"
