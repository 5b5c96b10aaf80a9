#!/usr/bin/env bash
# Thirty-ninth session: the thirty-eighth's final tree (528444a: the persistent step opt-in,
# its timing switches removed; a decoding graph's tokens through pinned memory) had not run on a
# GPU. Every CUDA test, memcheck of the persistent step's test, then the decoding records at
# B = 1 (chain and persistent, alternated), 8 and 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet cuda-tests
TEST_TIMEOUT=200 cuda_tests
grep -hE "persistent" "$OUT/tests.log" | head -8
pstep_memcheck
for i in 1 2 3; do
  decode_run chain build-cuda/retnet 1
  decode_run pstep build-cuda/retnet 1 RETNET_CUDA_PERSISTENT=1
done
for i in 1 2; do
  decode_run chain build-cuda/retnet 8
  decode_run chain build-cuda/retnet 64
done
decode_table
echo "total $((SECONDS - t0)) s"
