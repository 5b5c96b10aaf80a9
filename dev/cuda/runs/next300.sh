#!/usr/bin/env bash
# Fortieth session: the persistent step with down by the block's own columns (next299's `own`,
# 2-4% faster than the chain) and on by default for B = 1 where it fits (RETNET_CUDA_PERSISTENT=0:
# the chain; down's packed copy made at the first step). Every CUDA test; memcheck of
# test_persistent; the one-copy mutant (meeting B's readers reading xa) must fail its late-reader
# check; the step against the chain, alternated; then the decoding record.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet cuda-tests
TEST_TIMEOUT=200 cuda_tests
grep -hE "persistent" "$OUT/tests.log" | head -8
pstep_memcheck
mkdir -p build && cp build-cuda/retnet build/retnet-e0
sed 's/norm_in(a\.xb,/norm_in(a.xa,/' src/cuda/decode_persistent.cu >build/pstep_mutant.cu
grep -c "norm_in(a.xa," build/pstep_mutant.cu
pstep_variant mutant build/pstep_mutant.cu # its test_persistent must fail (exit 1)
pstep_restore
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
  decode_run pstep build/retnet-e0 1
done
decode_table
echo "at $((SECONDS - t0)) s"
if [ $((SECONDS - t0)) -lt 380 ]; then
  decode_record
fi
echo "total $((SECONDS - t0)) s"
