#!/usr/bin/env bash
# The small states' window step (now up to 256 columns by the waves' rule) forced
# (RETNET_CUDA_WINDOW_SHAPE=1) against the large states' shape, the default from 64 MB of a
# layer's states (B >= 16 at the 1.3B shapes), at B = 16-256: where the threshold should lie.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2; do
  decode_run "large" build-cuda/retnet 16,48,64,128,256
  decode_run "s1" build-cuda/retnet 16,48,64,128,256 RETNET_CUDA_WINDOW_SHAPE=1
done
decode_table
echo "total $((SECONDS - t0)) s"
