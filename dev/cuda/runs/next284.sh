#!/usr/bin/env bash
# Thirty-eighth session: down read from a packed copy (each block's 22 columns padded to 24,
# contiguous: bulk copies and 48-byte rows, as the lab read it) in place of 64-byte TMA rows of
# the library's down. test_cuda_model (test_persistent now also uploads new weights: the copy
# must follow), memcheck of test_persistent, then the step against the chain alternated three
# times (`retnet bench decode`, the fla-shaped 1.3B, B = 1, context 64).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=300 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|chain|FAIL|passed" "$OUT/tests.log" | head -30
for i in 1 2 3; do
  decode_run pstep build-cuda/retnet 1
  decode_run chain build-cuda/retnet 1 RETNET_CUDA_PERSISTENT=0
done
decode_table
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 200 "$CS" --tool memcheck --print-limit 20 build-cuda/cuda/tests/test_cuda_model test_persistent \
  >"$OUT/cs-memcheck.log" 2>&1
echo "memcheck: exit $?"; grep -E "ERROR SUMMARY|passed|Invalid" "$OUT/cs-memcheck.log" | head -10
echo "total $((SECONDS - t0)) s"
