#!/usr/bin/env bash
# Fortieth session, last call: a timing switch in the persistent step (off by default).
# PSTEP_XA2: down's adds onto two copies of xa by turns (block parity; wo's owner stores x into
# the first and zero into the second; the readers after meeting A add both), so that each
# line of xa takes half the atomics (the lab gained 10-15 us from two copies, next276-277).
# The variant passes test_persistent in its own build first; then alternated three times.
# (The switch is gone since: commit e4a0a50 has it.)
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
pstep_variant xa2 src/cuda/decode_persistent.cu -DPSTEP_XA2=1
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run pstep build/retnet-e0 1
  decode_run xa2 build/retnet-xa2 1
done
decode_table
echo "total $((SECONDS - t0)) s"
