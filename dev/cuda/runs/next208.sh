#!/usr/bin/env bash
# The session's tree (src as dc0d506: the argmax inside the decoding graph, and its review
# mend, first run on a GPU here): every CUDA target built for sm_90a and every CUDA test; the
# decoding record (bench/gpu/e2e.sh --only decode,peers: ours and the SDPA Transformer at 2k,
# 8k, 32k) and the paper preset's in the time left.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
record_all 470
echo "total $((SECONDS - t0)) s"
