#!/usr/bin/env bash
# (runs on the branch wip-rms-partials, not merged: slower; see README, twenty-eighth session)
# (branch wip-rms-partials) Why next200's producer-partials RMS chain at 3-8 rows lost 4-5%:
# the step traced as it runs (next197's CUPTI injection) at B = 8 and 4, the chain on and off
# (RETNET_CUDA_RMS_CHAIN=0), per kernel name: count, mean duration, mean gap.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
decode_trace b8-on 8
decode_trace b8-off 8 RETNET_CUDA_RMS_CHAIN=0
decode_trace b4-on 4
decode_trace b4-off 4 RETNET_CUDA_RMS_CHAIN=0
echo "total $((SECONDS - t0)) s"
