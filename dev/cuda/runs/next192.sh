#!/usr/bin/env bash
# (reverted with next191) best of two: B 32 off 2.267, auto (11 slices) 2.279, 4 2.238, 2 2.384; B 64 3.172 / 3.170 / 3.119 / 3.265 (second runs 2.274 / 2.314 / 2.283 / 2.410, 3.199 / 3.178 / 3.197 / 3.275)
# next191's products with fewer slices (RETNET_CUDA_SKINNY_S: 11 automatic at the 1.3B's wo
# and fc2, 4, 2) and the norm's slice loads three in flight (it took them one round trip a
# slice): test_cuda_ops and test_cuda_model, then the step, fla shape at B = 32 and 64, each
# setting against cuBLASLt (RETNET_CUDA_SKINNY=0), alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
for i in 1 2; do
  decode_run "off" build-cuda/retnet 32,64 RETNET_CUDA_SKINNY=0
  decode_run "auto" build-cuda/retnet 32,64
  decode_run "s4" build-cuda/retnet 32,64 RETNET_CUDA_SKINNY_S=4
  decode_run "s2" build-cuda/retnet 32,64 RETNET_CUDA_SKINNY_S=2
done
decode_table
echo "total $((SECONDS - t0)) s"
