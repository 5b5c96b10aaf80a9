#!/usr/bin/env bash
# Forty-second session, with the last GPU minutes: the persistent step's state stores after
# meeting M's arrival (a timing switch, -DPSTEP_LATE_STORE: the stores then stand neither
# ahead of the arrival's fence nor ahead of z's stores), against the default (cap 2); the
# variant passing test_persistent first; alternated three times.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
pstep_variant late src/cuda/decode_persistent.cu -DPSTEP_LATE_STORE=1
for i in 1 2 3; do
  decode_run cap2 build/retnet-e0 1
  decode_run late build/retnet-late 1
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
