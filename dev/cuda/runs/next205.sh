#!/usr/bin/env bash
# (reverted: B = 1 1.032 -> 1.226 ms with fc1 | gate in it; the trace (next207) shows why; see README)
# gemv_smem_kernel: one-row products with each block's whole share of the weights asked for
# in shared memory by bulk copies before the programmatic-launch wait (no registers held, so
# its blocks start beside the products before it, whose early loads fill half the register
# file). RETNET_CUDA_GEMV_SMEM: 1 GLU products (fc1 | gate; the default), 2 every one-row
# product without rope that fits, 0 none. Tests: test_cuda_gemv at the default and at 2,
# test_cuda_model, test_cuda_train's argmax, batch, graphs; then the step at B = 1, three runs
# alternated, the fla shape and the paper preset.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
RETNET_CUDA_GEMV_SMEM=2 timeout 100 build-cuda/cuda/tests/test_cuda_gemv >>"$OUT/tests2.log" 2>&1
echo "test_cuda_gemv at RETNET_CUDA_GEMV_SMEM=2: exit $?: $(tail -n 1 "$OUT/tests2.log")"
RETNET_CUDA_GEMV_SMEM=2 timeout 100 build-cuda/cuda/tests/test_cuda_model >>"$OUT/tests2.log" 2>&1
echo "test_cuda_model at RETNET_CUDA_GEMV_SMEM=2: exit $?: $(tail -n 1 "$OUT/tests2.log")"
train_decode_tests
grep -hiE "fail|error" "$OUT/tests.log" "$OUT/tests2.log" | head -8
for i in 1 2 3; do
  decode_run "off" build-cuda/retnet 1,2 RETNET_CUDA_GEMV_SMEM=0
  decode_run "glu" build-cuda/retnet 1,2
  decode_run "all" build-cuda/retnet 1,2 RETNET_CUDA_GEMV_SMEM=2
done
decode_table
mv "$OUT/decode.jsonl" "$OUT/decode-fla.jsonl"
export DECODE_MODEL="--preset 1.3b"
for i in 1 2 3; do
  decode_run "p-off" build-cuda/retnet 1 RETNET_CUDA_GEMV_SMEM=0
  decode_run "p-all" build-cuda/retnet 1 RETNET_CUDA_GEMV_SMEM=2
done
decode_table
echo "total $((SECONDS - t0)) s"
