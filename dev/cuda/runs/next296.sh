#!/usr/bin/env bash
# Thirty-ninth session: the library's persistent step's ceilings (timing only, wrong results),
# as the lab's LAB switches measured its own: PSTEP_SKIP 1 the meetings' waits, 2 the head
# waits (q and k's tags), 4 the group waits (u's tags), 8 x's adds; alone and together.
# Alternated three times against the chain and the default persistent step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for k in 1 2 4 8 7 15; do
  nvcc $NVF -DPSTEP_SKIP=$k -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-s$k
  echo "variant s$k built: $?"
done
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  for n in e0 s1 s2 s4 s8 s7 s15; do
    decode_run $n build/retnet-$n 1 RETNET_CUDA_PERSISTENT=1
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
