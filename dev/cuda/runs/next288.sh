#!/usr/bin/env bash
# Thirty-eighth session: next287 put the library's persistent kernel at 998 us (CUPTI) against
# the lab's 911 (its events) in one call; the chain's kernels 1001. Here the rotation's double
# sines move to the producer warp's idle lanes (off the consumers' start), tests, and a
# timing build with x in one copy (x1); where the kernel's 36 bytes of spills sit (nvdisasm
# line info); alternated three times against the chain.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=300 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|FAIL|passed" "$OUT/tests.log" | head -12
NVF="-O3 -lineinfo -std=c++17 $CUDA_GENCODE -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc"
mkdir -p build && cp build-cuda/retnet build/retnet-e0
nvcc $NVF -cubin -o build/pstep.cubin src/cuda/decode_persistent.cu &&
  nvdisasm -gi -c build/pstep.cubin > "$OUT/pstep.sass" 2>/dev/null
echo "spill instructions: $(grep -cE 'STL|LDL' "$OUT/pstep.sass")"
awk '/\/\/## File/ { w = $0; sub(/.*\//, "", w) } /STL|LDL/ { print w }' "$OUT/pstep.sass" | sort | uniq -c | sort -rn | head -20
for e in "x1 -DPSTEP_XREP=1"; do
  set -- $e
  nvcc $NVF $2 -c src/cuda/decode_persistent.cu -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet >>"$OUT/build.log" 2>&1 && cp build-cuda/retnet build/retnet-$1
  echo "variant $1 built: $?"
done
for i in 1 2 3; do
  decode_run pstep build/retnet-e0 1
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run x1 build/retnet-x1 1
done
decode_table
echo "total $((SECONDS - t0)) s"
