#!/usr/bin/env bash
# Where the preset's step goes after next115 (§3's row sums in retention's passes): one step
# by phase (RETNET_CUDA_TIMING=1), the preset and the fla shape.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
echo "== preset"; train_step_phases "--preset 1.3b"
echo "== fla"; train_step_phases "--config dev/cuda/cfg-1.3b-fla.json"
echo "total $((SECONDS - t0)) s"
