#!/usr/bin/env bash
# The session's tree (5f37eb1: one round of loads a warp in both decoding products): every
# CUDA target built for sm_90a and every CUDA test; the decoding record (bench/gpu/e2e.sh
# --only decode,peers: ours and the SDPA Transformer at 2k, 8k, 32k) and the paper preset's in
# the time left.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build
TEST_TIMEOUT=150 cuda_tests
decode_record
left=$((570 - SECONDS))
echo "preset with ${left} s left"
[ "$left" -gt 30 ] && preset_record "$left"
echo "total $((SECONDS - t0)) s"
