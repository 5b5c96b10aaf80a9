#!/usr/bin/env bash
# Thirty-eighth session: the persistent step with its weights' loads moved before the waits
# (the norms' weights before the sum's barriers, the rotation and the head norm's weight before
# the head wait: each had been one more trip to L2 on the step's path, five a layer). Tests,
# then against the chain, with timing-only builds beside (e1: down's adds dropped; x4: x in 4
# copies), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=300 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|FAIL|passed" "$OUT/tests.log" | head -12
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in "e1 -DPSTEP_EXP=1" "x4 -DPSTEP_XREP=4"; do
  set -- $e
  nvcc $NVF $2 -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-$1
  echo "variant $1 built: $?"
done
for i in 1 2 3; do
  decode_run pstep build/retnet-e0 1
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run e1 build/retnet-e1 1
  decode_run x4 build/retnet-x4 1
done
decode_table
echo "total $((SECONDS - t0)) s"
