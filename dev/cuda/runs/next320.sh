#!/usr/bin/env bash
# Forty-third session: the decoding step's kernels at B = 64 and 256 as the GPU runs them
# (CUPTI records, next197's injection; the last three of 6 steps after 2, context 64), on the
# current tree, for where B = 64-256's time goes now.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
ROWS=24 decode_trace b64 64
ROWS=24 decode_trace b256 256
echo "total $((SECONDS - t0)) s"
