#!/usr/bin/env bash
# Fortieth session's first call (written in the thirty-ninth, not yet run): the persistent
# step with x in two copies (xb for meeting B's readers, xa for down's adds), which closes a
# race of the one-copy form: a block still reading x after meeting B could see another group's
# down adds. test_persistent's new check delays the last block's read by 50 us
# (RETNET_CUDA_PSTEP_DELAY) and wants the same bits. Then the mutant (meeting B's readers read
# xa: the one-copy form's race) must fail that check; memcheck; timing against the chain.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -hE "persistent|FAIL" "$OUT/tests.log" | head -10
pstep_memcheck
mkdir -p build && cp build-cuda/retnet build/retnet-e0
sed 's/norm_in(a\.xb,/norm_in(a.xa,/' src/cuda/decode_persistent.cu >build/pstep_mutant.cu
grep -c "norm_in(a.xa," build/pstep_mutant.cu
pstep_variant mutant build/pstep_mutant.cu # its test_persistent must fail (exit 1)
pstep_restore
for i in 1 2 3; do
  decode_run chain build/retnet-e0 1
  decode_run pstep build/retnet-e0 1 RETNET_CUDA_PERSISTENT=1
done
decode_table
echo "total $((SECONDS - t0)) s"
