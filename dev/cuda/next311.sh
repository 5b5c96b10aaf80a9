#!/usr/bin/env bash
# Forty-second session: the persistent B = 1 step with a cap on the stages in flight (asked for
# and not landed; a timing switch, -DPSTEP_INFLIGHT=K; the tenth session's first persistent
# form saw nothing from it, this kernel never tried it): K = 1, 2, 3 against the default (up
# to all 4), each passing test_persistent in its own build first; alternated three times.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for k in 1 2 3; do pstep_variant if$k src/cuda/decode_persistent.cu -DPSTEP_INFLIGHT=$k; done
pstep_restore
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run pstep build/retnet-e0 1
  for k in 1 2 3; do decode_run if$k build/retnet-if$k 1; done
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
