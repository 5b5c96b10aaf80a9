#!/usr/bin/env bash
# Fortieth session, last call: a timing switch in the persistent step (off by default).
# PSTEP_XA2: down's adds onto two copies of xa by turns (block parity; wo's owner stores x into
# the first and zero into the second; the readers after meeting A add both), so that each
# line of xa takes half the atomics (the lab gained 10-15 us from two copies, next276-277).
# The variant passes test_persistent in its own build first; then alternated three times.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
nvcc $NVF -DPSTEP_XA2=1 -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
  make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1
echo "xa2 build: exit $?"
timeout 100 build-cuda/cuda/tests/test_cuda_model test_persistent >"$OUT/test-xa2.log" 2>&1
echo "xa2 test_persistent: exit $?: $(tail -n 1 "$OUT/test-xa2.log")"
grep -E "FAIL|persistent: 20 steps, logits" "$OUT/test-xa2.log" | head -3
cp build-cuda/retnet build/retnet-xa2
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run pstep build/retnet-e0 1
  decode_run xa2 build/retnet-xa2 1
done
decode_table
echo "total $((SECONDS - t0)) s"
