#!/usr/bin/env bash
# Forty-second session, the decoding record on this tree (the persistent step with at most 2
# stages in flight): bench/gpu/e2e.sh --only decode,peers (decode_record).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
decode_record
echo "total $((SECONDS - t0)) s"
