#!/usr/bin/env bash
# The session's main (the pushed head-norm sums; the train --force fix, CPU only): every CUDA
# target for sm_90a and every CUDA test, then the decoding records (the fla shape with the
# SDPA Transformer at 2k, 8k, 32k; the paper preset in the time left).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
record_all 540
echo "total $((SECONDS - t0)) s"
