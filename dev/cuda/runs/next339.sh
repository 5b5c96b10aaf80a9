#!/usr/bin/env bash
# Forty-fifth session: the persistent step's flag for x past its fixed point's range by
# sequence (a bit each: the sequence's logits NaN, the other's left), test_persistent2's new
# check of it (sequence 0's token's embedding at 2^24). test_cuda_model, memcheck of
# test_persistent2; B = 1 and 2 against the chain, two runs alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -hE "FAIL|persistent B=2|skipped" "$OUT/tests.log" | head -12
pstep_memcheck test_persistent2
for i in 1 2; do
  decode_run p2 build-cuda/retnet 1,2
  decode_run chain build-cuda/retnet 1,2 RETNET_CUDA_PERSISTENT=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
