#!/usr/bin/env bash
# (ran on e56c628, reverted after: the shared sums gave nothing at B = 1 and B = 2 still lost 13%)
# The RMSNorm chain's sums of squares shared by a block's pair units (unit pu reads x's fp32
# values of run i / 32 of row m only where (i / 32 + m) % 2 == pu; the block's four warps'
# sums added in order after its barrier): half the fp32 loads at M = 1, and at M = 2 one row's
# a unit instead of both (next165: 2 rows lost 12% with every lane reading both). The chain
# at B = 1 and 2 again. Against build/base.tar (56aa353, the chain at one row with every lane
# reading: next166's 1.045-1.049 ms). The decoding tests, then the fla shape at B = 1, 2:
# shared / base / apart (RETNET_CUDA_RMS_CHAIN=0), alternated four times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
grep -h "rms chain" "$OUT/tests.log" | head -14
wait $BPID
for i in 1 2 3 4; do
  decode_run "shared" build-cuda/retnet 1,2
  decode_run "base" $BASE/build-cuda/retnet 1,2
  decode_run "apart" build-cuda/retnet 1,2 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
