#!/usr/bin/env bash
# (reverted with next205: the carveout changed nothing for it and cost the FMA kernels 9%, 1.035 -> 1.128 ms)
# next205's gemv_smem_kernel lost 19% at B = 1 (its blocks, 180 KB of shared memory each,
# seemingly not starting beside the kernels before): with RETNET_CUDA_CARVEOUT=100 every
# gemv kernel and the step's head-norm kernel prefer all of L1 as shared memory, so an SM need
# not drain to change its split first. The step at B = 1 (fla shape), three runs alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2 3; do
  decode_run "off" build-cuda/retnet 1 RETNET_CUDA_GEMV_SMEM=0
  decode_run "off-c100" build-cuda/retnet 1 RETNET_CUDA_GEMV_SMEM=0 RETNET_CUDA_CARVEOUT=100
  decode_run "glu" build-cuda/retnet 1
  decode_run "glu-c100" build-cuda/retnet 1 RETNET_CUDA_CARVEOUT=100
done
decode_table
echo "total $((SECONDS - t0)) s"
