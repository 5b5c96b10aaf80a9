#!/usr/bin/env bash
# (branch wip-ready: reverted, not on main)
# (thirtieth session, lab) What slowed next220's heads product: its order or its counts.
# RETNET_CUDA_HEAD_READY 3 (the step on the launch's wait) with RETNET_CUDA_HEADS_RED 0 (no
# counts: the order alone) and 1 (a release add a storing lane); the counts waited on (=1,
# relaxed polls) with 1, 2 (relaxed adds: not ordered after the stores, timing only) and 3 (one
# fenced add a block); off. B = 1, two runs alternated. test_head_ready under 3 first.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
RETNET_CUDA_HEADS_RED=3 timeout 100 build-cuda/cuda/tests/test_cuda_model test_head_ready 2>&1 | tail -3
for i in 1 2; do
  decode_run "off" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=0
  decode_run "order" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=3 RETNET_CUDA_HEADS_RED=0
  decode_run "order+adds" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=3 RETNET_CUDA_HEADS_RED=1
  decode_run "wait-rel" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=1 RETNET_CUDA_HEADS_RED=1
  decode_run "wait-relaxed" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=1 RETNET_CUDA_HEADS_RED=2
  decode_run "wait-block" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=1 RETNET_CUDA_HEADS_RED=3
done
decode_table
echo "total $((SECONDS - t0)) s"
