#!/usr/bin/env bash
# Thirty-eighth session: down by tiles (next289: x as floats, the lab's form, is ~60 us faster
# than the fixed point, as its adds touch half the L2 lines: the adds' traffic is the cost).
# A group of 8 blocks shares its 176 values of u (tagged stores, as q and k); each block takes
# 256 rows of down for them: 256 adds a block and layer instead of 2048. Tests (and memcheck
# of test_persistent), then against the chain, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|FAIL|passed" "$OUT/tests.log" | head -12
for i in 1 2 3; do
  decode_run pstep build-cuda/retnet 1
  decode_run chain build-cuda/retnet 1 RETNET_CUDA_PERSISTENT=0
done
decode_table
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 100 "$CS" --tool memcheck --print-limit 20 build-cuda/cuda/tests/test_cuda_model test_persistent \
  >"$OUT/cs-memcheck.log" 2>&1
echo "memcheck: exit $?"; grep -E "ERROR SUMMARY|passed|Invalid" "$OUT/cs-memcheck.log" | head -10
echo "total $((SECONDS - t0)) s"
