#!/usr/bin/env bash
# next153 with the reduction's slices all in flight before the sums (a loop over S waited for each) and x staged in two halves (the products start on the first): as next153:
# weight rows a block streamed into mma.sync, fp32 partial sums; gemv_sk_reduce_kernel: the
# slices in order and the epilogue), lab switch RETNET_CUDA_GEMV_MAX_M=64: q k v g with the
# rotation (no split kernel), fc1 | gate with the GLU, wo and fc2 with the residual; the output
# layer stays on cuBLASLt. test_cuda_gemv (M to 64), test_cuda_model and train's graphs and
# batch with the switch on; then B = 24, 32, 64 against cuBLASLt, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
cuda_tests build-cuda/cuda/tests/test_cuda_gemv
env RETNET_CUDA_GEMV_MAX_M=64 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model64.log" 2>&1
echo "test_cuda_model at MAX_M 64: exit $?: $(tail -n 1 "$OUT/model64.log")"; grep FAIL "$OUT/model64.log" | head -4
env RETNET_CUDA_GEMV_MAX_M=64 timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >"$OUT/train64.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs) at MAX_M 64: exit $?: $(tail -n 1 "$OUT/train64.log")"; grep FAIL "$OUT/train64.log" | head -4
for i in 1 2; do
  decode_run "cublas" build-cuda/retnet 24,32,64
  decode_run "sk" build-cuda/retnet 24,32,64 RETNET_CUDA_GEMV_MAX_M=64
done
decode_table
echo "total $((SECONDS - t0)) s"
