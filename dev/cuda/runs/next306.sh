#!/usr/bin/env bash
# Forty-first session, the final tree: every CUDA test (sm_90a); then one more look at B = 64's
# queued steps (next304-305: 1.5-2.5% slower than one at a time): the same two with programmatic
# dependent launch off (RETNET_CUDA_PDL=0), alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet cuda-tests
TEST_TIMEOUT=200 cuda_tests
echo "at $((SECONDS - t0)) s"
for i in 1 2; do
  for q in 1 8; do
    DECODE_ARGS="--queue $q" decode_run q$q build-cuda/retnet 64
    DECODE_ARGS="--queue $q" decode_run q$q-nopdl build-cuda/retnet 64 RETNET_CUDA_PDL=0
  done
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
