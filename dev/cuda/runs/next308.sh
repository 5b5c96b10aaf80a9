#!/usr/bin/env bash
# Forty-second session, first call: the next layer's states asked of the L2 ahead of its window
# step (a timing switch, RETNET_CUDA_STATE_PF=where,MB,policy: where 1 after the window step,
# 2 after wo, 3 before fc2; MB the persisting L2 set aside; policy 1 evict_last, 0 normal).
# B = 2, 4, 8 (the window on, 8-33 MB of a layer's states), alternated twice; then CUPTI's
# view of B = 8 with and without.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
RETNET_CUDA_STATE_PF=1,40,1 timeout 60 build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json \
  --device cuda --batch 8 --context 64 --steps 8 --warmup 2 2>&1 | grep -E "state_pf|ms" | head -5
RETNET_CUDA_STATE_PF=1,40,1 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model-pf.log" 2>&1
echo "test_cuda_model under 1,40,1: exit $? $(tail -1 "$OUT/model-pf.log")"
for i in 1 2; do
  decode_run off build-cuda/retnet 2,4,8
  decode_run w1n build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=1,0,0
  decode_run w1l0 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=1,0,1
  decode_run w1l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=1,40,1
  decode_run w2l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=2,40,1
  decode_run w3l40 build-cuda/retnet 2,4,8 RETNET_CUDA_STATE_PF=3,40,1
done
decode_table ms_per_step_mean
trace_build
ROWS=14 decode_trace off 8
ROWS=14 decode_trace w1l40 8 RETNET_CUDA_STATE_PF=1,40,1
echo "total $((SECONDS - t0)) s"
