#!/usr/bin/env bash
# The decoding window at small batches, now that the step without it carries the head norm
# and gate (and the preset's §3 sums) in one cluster launch (step_hn, step_rows; the window's
# step does not): the step with the window (default from B = 2 at the 1.3B shape) against
# RETNET_CUDA_WINDOW=0, alternated twice, the fla shape and the paper preset at B = 2, 4, 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
for i in 1 2; do
  decode_run "win" build-cuda/retnet 2,4,8
  decode_run "nowin" build-cuda/retnet 2,4,8 RETNET_CUDA_WINDOW=0
  DECODE_MODEL="--preset 1.3b" decode_run "p-win" build-cuda/retnet 2,4,8
  DECODE_MODEL="--preset 1.3b" decode_run "p-nowin" build-cuda/retnet 2,4,8 RETNET_CUDA_WINDOW=0
done
decode_table
echo "total $((SECONDS - t0)) s"
