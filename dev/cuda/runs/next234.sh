#!/usr/bin/env bash
# Thirty-second session, call 6: fbbdd9b's files (the retention kernel's state zeroed apart):
# every CUDA test, then issue 6 b's training record (bench/gpu/e2e.sh --only train).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" TRITON_CACHE_DIR=/tmp/tcache
JOBS=16 cuda_build
cuda_tests
echo "tests done at $((SECONDS - t0)) s"
[ "${TRAIN:-1}" = 1 ] && STEP_TIMEOUT=200 FLA_TIMEOUT=240 bash bench/gpu/e2e.sh --only train --no-build
tar czf "$OUT/tcache.tgz" -C /tmp tcache 2>/dev/null
echo "total $((SECONDS - t0)) s"
