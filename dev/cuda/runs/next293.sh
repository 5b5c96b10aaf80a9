#!/usr/bin/env bash
# Thirty-ninth session: next292 found x as int32 only ~8 us faster than int64 (1.003-1.008 ms
# against 1.010-1.022), not next289's ~60 us of x as floats. So what did the floats save?
# Timing builds (the float form re-made: next289's was not committed): fx, x as floats with
# float red.adds and the range checks; fxnc, without the checks; x32 again; x32nc, int32 without
# the checks. Alternated three times against the chain and the default persistent step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in "fx -DPSTEP_FLOATX=1" "fxnc -DPSTEP_FLOATX=1 -DPSTEP_NOCHECK=1" "x32 -DPSTEP_X32=1" \
  "x32nc -DPSTEP_X32=1 -DPSTEP_NOCHECK=1"; do
  set -- $e
  n=$1; shift
  nvcc $NVF "$@" -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1 &&
    cp build-cuda/retnet build/retnet-$n && cp build-cuda/cuda/tests/test_cuda_model build/tcm-$n
  echo "variant $n built: $?"
done
timeout 100 build/tcm-fx test_persistent >"$OUT/test-fx.log" 2>&1
echo "test fx: exit $?"; grep -E "persistent|passed" "$OUT/test-fx.log" | head -6
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  for n in e0 fx fxnc x32 x32nc; do
    decode_run $n build/retnet-$n 1 RETNET_CUDA_PERSISTENT=1
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
