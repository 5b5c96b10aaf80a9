#!/usr/bin/env bash
# Fortieth session: timing switches in the persistent step (off by default). PSTEP_OWN: down by
# the block's own 22 columns for all 2048 rows (as before next290: 2048 adds a block, no group
# wait). PSTEP_Y32: down's adds as 32-bit integers into y (2^20 to the unit; the readers after
# meeting A add it to xa, wo's owners zero it) instead of 64-bit adds onto xa. next289's floats
# by own columns (0.947-0.952) against next293's floats by tiles (0.985-1.011) suggest that
# 4-byte adds by own columns are what the lab had and the library lost. Each variant passes
# test_persistent first (its own build of the test), then the step, alternated three times.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
variant() { # NAME FLAGS...
  local name=$1; shift
  nvcc $NVF "$@" -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1
  echo "$name build: exit $?"
  timeout 100 build-cuda/cuda/tests/test_cuda_model test_persistent >"$OUT/test-$name.log" 2>&1
  echo "$name test_persistent: exit $?: $(tail -n 1 "$OUT/test-$name.log")"
  grep -E "FAIL|persistent: 20 steps, logits|against the chain, logits" "$OUT/test-$name.log" | head -4
  cp build-cuda/retnet "build/retnet-$name"
}
variant own -DPSTEP_OWN=1
variant y32 -DPSTEP_Y32=1
variant oy -DPSTEP_OWN=1 -DPSTEP_Y32=1
touch src/cuda/decode_persistent.cu && make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  decode_run pstep build/retnet-e0 1 RETNET_CUDA_PERSISTENT=1
  for v in own y32 oy; do decode_run "$v" "build/retnet-$v" 1 RETNET_CUDA_PERSISTENT=1; done
done
decode_table
echo "total $((SECONDS - t0)) s"
