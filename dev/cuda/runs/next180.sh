#!/usr/bin/env bash
# The session's tree (5f37eb1: one round of loads a warp in both decoding products): every
# CUDA target built for sm_90a and every CUDA test; the decoding record (bench/gpu/e2e.sh
# --only decode,peers: ours and the SDPA Transformer at 2k, 8k, 32k) and the paper preset's in
# the time left.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
record_all 570
echo "total $((SECONDS - t0)) s"
