#!/usr/bin/env bash
# Thirty-ninth session, the decoding record on the final tree (next291: every CUDA test passed,
# 60): bench/gpu/e2e.sh --only decode,peers (ours, our Transformer and PyTorch SDPA at 2k, 8k,
# 32k; fla's decoding peer off, as every record since next38).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build
decode_record
echo "total $((SECONDS - t0)) s"
