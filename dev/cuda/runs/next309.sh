#!/usr/bin/env bash
# Forty-second session: next308's prefetch kernel spread over every SM (16 KB chunks dealt in
# turn, 32 threads a block) and letting the next kernel start at once (next308's: 8 blocks, 40-74
# us a launch, the next kernel after its issue). Same variants, then CUPTI at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2; do
  decode_run off build-cuda/retnet 2,4,8
  decode_run w1n build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=1,0,0
  decode_run w1l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=1,40,1
  decode_run w2l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=2,40,1
  decode_run w3l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=3,40,1
  decode_run w3n build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=3,0,0
done
decode_table ms_per_step_mean
trace_build
ROWS=14 decode_trace off 8
ROWS=14 decode_trace w1l40 8 RETNET_CUDA_STATE_PF=1,40,1
ROWS=14 decode_trace w3l40 8 RETNET_CUDA_STATE_PF=3,40,1
echo "total $((SECONDS - t0)) s"
