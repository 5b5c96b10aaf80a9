#!/usr/bin/env bash
# Thirty-fourth session, call 2: issue 6 b's training record on 82ff40a's files (the OQ kernel;
# next246 ran every CUDA test on them: 59 passed): bench/gpu/e2e.sh --only train, fla in the
# same call. The Triton cache travels as build/tcache.tgz and comes back for the next call.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" TRITON_CACHE_DIR=/tmp/tcache
[ -f build/tcache.tgz ] && tar xzf build/tcache.tgz -C /tmp
JOBS=16 cuda_build
STEP_TIMEOUT=200 FLA_TIMEOUT=420 bash bench/gpu/e2e.sh --only train --no-build
tar czf "$OUT/tcache.tgz" -C /tmp tcache 2>/dev/null
echo "total $((SECONDS - t0)) s"
