#!/usr/bin/env bash
# Thirty-eighth session: with down packed (next284: the persistent step 1.010-1.013 ms against
# the chain's 1.010-1.031), what its fixed-point adds cost now (timing-only builds: PSTEP_EXP 1
# down's adds dropped, 3 down's adds as float red.adds), and the tokens and positions of a
# decoding graph copied from pinned memory on the graph's stream instead of by two cudaMemcpy
# a step (RETNET_CUDA_SYNC_UPLOAD=1: the old copies), for the step and the chain, at B = 1 and
# 64; alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in 1 3; do
  nvcc $NVF -DPSTEP_EXP=$e -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-e$e
  echo "variant $e built: $?"
done
for i in 1 2 3; do
  decode_run pstep build/retnet-e0 1
  decode_run p-sync build/retnet-e0 1 RETNET_CUDA_SYNC_UPLOAD=1
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run c-sync build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0 RETNET_CUDA_SYNC_UPLOAD=1
  decode_run e1 build/retnet-e1 1
  decode_run e3 build/retnet-e3 1
  decode_run chain build/retnet-e0 64
  decode_run c-sync build/retnet-e0 64 RETNET_CUDA_SYNC_UPLOAD=1
done
decode_table
echo "total $((SECONDS - t0)) s"
