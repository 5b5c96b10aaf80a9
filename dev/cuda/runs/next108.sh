#!/usr/bin/env bash
# Eighteenth session: where the paper preset's training step goes after next106's changes,
# by kernel (ncu's own time of each, one warm-up step and one timed, B 8 x T 2048), beside
# the fla shape's: what separates the preset (44.0-44.3% MFU) from 45%.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
[ -x build-cuda/retnet ] || JOBS=16 cuda_build build-cuda/retnet
ncu_train "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"
echo "total $((SECONDS - t0)) s"
