#!/usr/bin/env bash
# Forty-second session: with the cap on stages in flight, smaller stages (36 KB, five of them:
# less in flight at a time for the same depth) against the default (48 KB, four, cap 2): cap 2
# and 3; each passing test_persistent in its own build first; alternated four times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_ab 4 s48c2 "s36c2=-DPSTEP_STAGE=36864 -DPSTEP_NS=5 -DPSTEP_INFLIGHT=2" \
  "s36c3=-DPSTEP_STAGE=36864 -DPSTEP_NS=5 -DPSTEP_INFLIGHT=3"
echo "total $((SECONDS - t0)) s"
