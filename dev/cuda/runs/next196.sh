#!/usr/bin/env bash
# The paper preset at B = 1, its step's fusions rechecked on today's kernels: default (§3's
# sums in the rows step, the head norm apart), RETNET_CUDA_HN_FUSED=1 (the head norm and gate
# in the rows step too: lost 1-3% in the twenty-first session, next145) and
# RETNET_CUDA_Z_FUSED=0 (§3 apart), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2 3; do
  DECODE_MODEL="--preset 1.3b" decode_run "p-default" build-cuda/retnet 1
  DECODE_MODEL="--preset 1.3b" decode_run "p-hn1" build-cuda/retnet 1 RETNET_CUDA_HN_FUSED=1
  DECODE_MODEL="--preset 1.3b" decode_run "p-z0" build-cuda/retnet 1 RETNET_CUDA_Z_FUSED=0
done
decode_table
echo "total $((SECONDS - t0)) s"
