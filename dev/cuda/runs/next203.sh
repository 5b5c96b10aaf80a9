#!/usr/bin/env bash
# (reverted: level or slower, e.g. B = 8 1.503 -> 1.514 ms, B = 16 2.022 -> 2.045; see README)
# The output layer through the gemv kernels at 2-16 rows (last_logits; was cuBLASLt's gemm
# there): next202's trace put the gemv at 21.5 us against nvjet's 39.2 at B = 4 in the chain.
# Tests: test_cuda_model (the logits against the CPU), test_cuda_train's argmax, batch,
# graphs; then the step with RETNET_CUDA_OUT_GEMV=0 (cuBLASLt) and the default, three runs
# alternated, the fla shape at B = 2, 3, 4, 8, 16 and the paper preset at 2, 4, 8, 16.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_model
train_decode_tests
for i in 1 2 3; do
  decode_run "lt" build-cuda/retnet 2,3,4,8,16 RETNET_CUDA_OUT_GEMV=0
  decode_run "gemv" build-cuda/retnet 2,3,4,8,16
done
decode_table
mv "$OUT/decode.jsonl" "$OUT/decode-fla.jsonl"
export DECODE_MODEL="--preset 1.3b"
for i in 1 2 3; do
  decode_run "p-lt" build-cuda/retnet 2,4,8,16 RETNET_CUDA_OUT_GEMV=0
  decode_run "p-gemv" build-cuda/retnet 2,4,8,16
done
decode_table
echo "total $((SECONDS - t0)) s"
