#!/usr/bin/env bash
# Forty-fifth session: the decoding record (bench/gpu/e2e.sh --only decode,peers) on the tree
# with the two-sequence persistent step and the B = 1 step's state update out of the products'
# loop; then B = 2 and 4 by `retnet bench decode` (not among the record's batches).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
decode_record
for i in 1 2; do
  decode_run p2 build-cuda/retnet 1,2,3,4
  decode_run chain build-cuda/retnet 1,2,3,4 RETNET_CUDA_PERSISTENT=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
