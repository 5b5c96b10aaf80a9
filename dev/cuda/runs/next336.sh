#!/usr/bin/env bash
# Forty-fifth session: every CUDA test on the tree with the two-sequence persistent step
# (next335's kernel, its comments since), sm_90a.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build
TEST_TIMEOUT=200 cuda_tests
echo "total $((SECONDS - t0)) s"
