#!/usr/bin/env bash
# Forty-second session: with the cap on stages in flight, smaller stages (36 KB, five of them:
# less in flight at a time for the same depth) against the default (48 KB, four, cap 2): cap 2
# and 3; each passing test_persistent in its own build first; alternated four times.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
pstep_variant s36c2 src/cuda/decode_persistent.cu -DPSTEP_STAGE=36864 -DPSTEP_NS=5 -DPSTEP_INFLIGHT=2
pstep_variant s36c3 src/cuda/decode_persistent.cu -DPSTEP_STAGE=36864 -DPSTEP_NS=5 -DPSTEP_INFLIGHT=3
pstep_restore
for i in 1 2 3 4; do
  decode_run s48c2 build/retnet-e0 1
  decode_run s36c2 build/retnet-s36c2 1
  decode_run s36c3 build/retnet-s36c3 1
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
