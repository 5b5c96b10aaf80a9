#!/usr/bin/env bash
# Thirty-first session, call 1: main's files built for sm_90a, then issue 6 b's training record
# on them (ours against fla's RetNetForCausalLM, the same run; bench/gpu/e2e.sh --only train).
# The Triton cache comes back as tcache.tgz for the next call.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" TRITON_CACHE_DIR=/tmp/tcache
JOBS=16 cuda_build
bash bench/gpu/e2e.sh --only train --no-build
tar czf "$OUT/tcache.tgz" -C /tmp tcache 2>/dev/null
echo "total $((SECONDS - t0)) s"
