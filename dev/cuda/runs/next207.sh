#!/usr/bin/env bash
# (the kernel it traces is reverted; the record is in the README)
# Where next205's gemv_smem_kernel loses: the B = 1 step traced as it runs (next197's CUPTI
# injection), RETNET_CUDA_GEMV_SMEM=1 (fc1 | gate in it) against 0.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
decode_trace b1-smem 1
decode_trace b1-off 1 RETNET_CUDA_GEMV_SMEM=0
echo "total $((SECONDS - t0)) s"
