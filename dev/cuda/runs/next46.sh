#!/usr/bin/env bash
# Twelfth session, first call: q k v g as one product (and fc1 | gate) where the weights lie
# together, past the gemv kernels' 16 rows (model_cuda.cu's joined_out; the split kernel
# cuda_op_qkvg_split, cuda_op_glu_rows_bf16). sm_90a build; the tests of the changed paths
# (test_cuda_ops: test_joined_products bit for bit against rope_bf16 / glu_bf16; test_cuda_model
# test_wide_batch: B 20 and 17 against the CPU; test_graphs at B 24); then the 1.3B step with
# RETNET_CUDA_ONE_PRODUCT 0 / 1 at B = 17, 32, 64, 256.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
timeout 200 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (graphs, batch): exit $?: $(tail -n 1 "$OUT/tests.log")"
grep FAIL "$OUT/tests.log" | head
decode_ab RETNET_CUDA_ONE_PRODUCT "0 1" 17,32,64,256
echo "total $((SECONDS - t0)) s"
