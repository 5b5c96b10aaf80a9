#!/usr/bin/env bash
# Where a decoding step's time goes in the chain as it runs (not each kernel alone, as ncu
# measures): CUPTI's kernel records (dev/cuda/trace_inject.c, injected into the unmodified
# `retnet bench decode`) of the last steps, read by dev/cuda/trace_steps.py: each kernel's
# start, duration and the gap from the kernel before, the step's span against the time some
# kernel was running. The fla shape at B = 1 and 8, the paper preset at B = 1, context 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
ROWS=40 decode_trace b1 1
ROWS=40 decode_trace b8 8
DECODE_MODEL="--preset 1.3b" ROWS=30 decode_trace p1 1
echo "total $((SECONDS - t0)) s"
