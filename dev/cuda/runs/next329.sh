#!/usr/bin/env bash
# Forty-fourth session: compute-sanitizer's memcheck over whole CUDA test binaries (earlier
# sessions ran it over single tests: the persistent step, the cluster and wgmma kernels), so
# that every CUDA test's kernels are checked for out-of-bounds and misaligned accesses,
# as the CPU suite runs under ASan/UBSan. Usage: next329.sh [binary names...] (default
# every test_cuda_*); each at most MC_TIMEOUT seconds (default 110), its log in $OUT.
# TOOL=initcheck TOOL_FLAGS="--report-api-errors no --print-limit 10" is next331.sh (the two
# were one copy each when they ran, their logs then mc-*.log and ic-*.log).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_attention build-cuda/cuda/tests/test_cuda_dist \
  build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_retention \
  build-cuda/cuda/tests/test_cuda_train
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
bins=("$@"); [ ${#bins[@]} -eq 0 ] && bins=(attention dist gemv model ops retention train)
for b in "${bins[@]}"; do
  s=$SECONDS
  log=$OUT/${TOOL:-memcheck}-$b.log
  # shellcheck disable=SC2086 # TOOL_FLAGS: several flags
  timeout "${MC_TIMEOUT:-110}" "$cs" --tool "${TOOL:-memcheck}" ${TOOL_FLAGS:---print-limit 20} \
    build-cuda/cuda/tests/test_cuda_$b >"$log" 2>&1
  rc=$?
  echo "${TOOL:-memcheck} test_cuda_$b: exit $rc in $((SECONDS - s)) s: $(grep -h "ERROR SUMMARY" "$log" | tail -1) | $(grep -E "passed, [0-9]+ failed" "$log" | tail -1)"
  grep -m5 -E "Invalid|FAIL|leak" "$log"
done
echo "total $((SECONDS - t0)) s"
