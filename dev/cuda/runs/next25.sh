#!/usr/bin/env bash
# Eighth session: warpgroup 0 of the TMA kernel stores chunk ci's O in chunk ci + 1, under that
# chunk's Q K^T (where O has a staging buffer of its own: KC <= 128), against the previous
# commit (build/ret-base-src) and lab flag 1024 (not deferred); float64 checks; forward and
# backward against chunk_retention; test_cuda_retention.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
lab_libs_ab
cuda_build build-cuda/cuda/tests/test_cuda_retention
lab_ab_checks
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_retention
fwd_ab prev=$B new=$N new_nodefer=$N:0:1024
echo "total $((SECONDS - t0)) s"
