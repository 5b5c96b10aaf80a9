#!/usr/bin/env bash
# Fortieth session: timing switches in the persistent step (off by default). PSTEP_OWN: down by
# the block's own 22 columns for all 2048 rows (as before next290: 2048 adds a block, no group
# wait). PSTEP_Y32: down's adds as 32-bit integers into y (2^20 to the unit; the readers after
# meeting A add it to xa, wo's owners zero it) instead of 64-bit adds onto xa. next289's floats
# by own columns (0.947-0.952) against next293's floats by tiles (0.985-1.011) suggest that
# 4-byte adds by own columns are what the lab had and the library lost. Each variant passes
# test_persistent first (its own build of the test), then the step, alternated three times.
# (The switches are gone since next300: commit a5b16dd has them.)
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
pstep_variant own src/cuda/decode_persistent.cu -DPSTEP_OWN=1
pstep_variant y32 src/cuda/decode_persistent.cu -DPSTEP_Y32=1
pstep_variant oy src/cuda/decode_persistent.cu -DPSTEP_OWN=1 -DPSTEP_Y32=1
pstep_restore
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  decode_run pstep build/retnet-e0 1 RETNET_CUDA_PERSISTENT=1
  for v in own y32 oy; do decode_run "$v" "build/retnet-$v" 1 RETNET_CUDA_PERSISTENT=1; done
done
decode_table
echo "total $((SECONDS - t0)) s"
