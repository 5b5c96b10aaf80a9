#!/usr/bin/env bash
# Thirty-ninth session: what the persistent step's fixed point costs (next289: x as floats
# ~60 us faster). Timing builds: x32, x as int32 (2^16 to the unit: half the bytes read after
# each meeting and 4-byte adds, still exact and deterministic); rel, the meeting's arrival one
# release add instead of a fence and an add; both. Test of x32's logits, then alternated three
# times against the chain and the default persistent step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in "x32 -DPSTEP_X32=1" "rel -DPSTEP_RELEASE=1" "x32rel -DPSTEP_X32=1 -DPSTEP_RELEASE=1"; do
  set -- $e
  n=$1; shift
  nvcc $NVF "$@" -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1 &&
    cp build-cuda/retnet build/retnet-$n && cp build-cuda/cuda/tests/test_cuda_model build/tcm-$n
  echo "variant $n built: $?"
done
for n in x32 x32rel; do
  timeout 100 build/tcm-$n test_persistent >"$OUT/test-$n.log" 2>&1
  echo "test $n: exit $?"; grep -E "persistent|passed" "$OUT/test-$n.log" | head -6
done
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  decode_run pstep build/retnet-e0 1 RETNET_CUDA_PERSISTENT=1
  decode_run x32 build/retnet-x32 1 RETNET_CUDA_PERSISTENT=1
  decode_run rel build/retnet-rel 1 RETNET_CUDA_PERSISTENT=1
  decode_run x32rel build/retnet-x32rel 1 RETNET_CUDA_PERSISTENT=1
done
decode_table
echo "total $((SECONDS - t0)) s"
