#!/usr/bin/env bash
# Forty-second session, last call: every CUDA test on the session's final tree (sm_90a).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
