#!/usr/bin/env bash
# Forty-first session: test_greedy again (the Transformer's run no longer asked to vary its
# ids: tf-tiny's random weights repeat a token), then why B = 64's steps queued by
# retnet_batch_greedy came out ~2% slower than one at a time in next304 (means 3.205-3.225 ms
# against 3.141-3.162): CUPTI traces of both (each kernel's duration, the span against the
# time some kernel ran), and the two alternated again at B 8 and 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_train
trace_build
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_train
ROWS=0 DECODE_ARGS="--queue 1" decode_trace q1 64
ROWS=0 DECODE_ARGS="--queue 8" decode_trace q8 64
echo "at $((SECONDS - t0)) s"
for i in 1 2; do
  for q in 1 8; do DECODE_ARGS="--queue $q" decode_run q$q build-cuda/retnet 8,64; done
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
