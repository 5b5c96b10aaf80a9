#!/usr/bin/env bash
# Thirty-seventh session: what makes the library's persistent step (1.02 ms of kernel, ~25 us
# gap between steps) slower than the lab's (0.91): timing-only variants of decode_persistent.cu
# (PSTEP_EXP 1: down's 2048 fixed-point red.adds a block dropped; 2: down not read at all) and
# the launch without the cooperative attribute (RETNET_CUDA_PSTEP_PLAIN), alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
cp build-cuda/retnet build/retnet-e0 2>/dev/null || { mkdir -p build; cp build-cuda/retnet build/retnet-e0; }
for e in 1 2; do
  nvcc $NVF -DPSTEP_EXP=$e -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-e$e
  echo "variant $e built: $?"
done
for i in 1 2; do
  decode_run e0 build/retnet-e0 1
  decode_run plain build/retnet-e0 1 RETNET_CUDA_PSTEP_PLAIN=1
  decode_run e1 build/retnet-e1 1
  decode_run e2 build/retnet-e2 1
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
done
decode_table
echo "total $((SECONDS - t0)) s"
