#!/usr/bin/env bash
# Thirty-ninth session: next293 put x's form out of the question (floats 0.985-1.012 ms, int32
# 1.004-1.007, int64 1.009-1.015, the chain 1.008-1.014). The lab (0.91) keeps each block's
# state slice contiguous (32 KB, one bulk copy; stores 128 bytes a row of 32 floats); the
# library's layout needs a tensor map of 256 rows of 128 bytes at a 2 KB stride, and stores
# at that stride. sblk: the contiguous layout (timing only: the values are wrong). Alternated
# three times against the chain and the default persistent step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in "sblk -DPSTEP_SBLK=1" "sblkfx -DPSTEP_SBLK=1 -DPSTEP_FLOATX=1 -DPSTEP_NOCHECK=1"; do
  set -- $e
  n=$1; shift
  nvcc $NVF "$@" -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-$n
  echo "variant $n built: $?"
done
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  for n in e0 sblk sblkfx; do
    decode_run $n build/retnet-$n 1 RETNET_CUDA_PERSISTENT=1
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
