#!/usr/bin/env bash
# Forty-third session: B = 8 traced on the current tree (as next320 did B = 64 and 256), for
# docs/CUDA.md's account of where each batch's decoding step goes.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
ROWS=24 decode_trace b8 8
echo "total $((SECONDS - t0)) s"
