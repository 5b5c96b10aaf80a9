#!/usr/bin/env bash
# Thirty-eighth session: x in one copy by default (next288: 0.994-1.007 ms against 1.022-1.026
# with two); tests on it, and timing builds of x as floats added by float red.adds (the lab's
# form, not deterministic: fx1 one copy, fx2 two) to see how much of the gap to the lab's 0.91
# the fixed point is; alternated three times against the chain.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=300 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|FAIL|passed" "$OUT/tests.log" | head -12
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in "fx1 -DPSTEP_FLOATX=1" "fx2 -DPSTEP_FLOATX=1 -DPSTEP_XREP=2"; do
  set -- $e
  n=$1; shift
  nvcc $NVF "$@" -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-$n
  echo "variant $n built: $?"
done
for i in 1 2 3; do
  decode_run pstep build/retnet-e0 1
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run fx1 build/retnet-fx1 1
  decode_run fx2 build/retnet-fx2 1
done
decode_table
echo "total $((SECONDS - t0)) s"
