#!/usr/bin/env bash
# Forty-fourth session: compute-sanitizer's initcheck (reads of device memory never written) over whole CUDA test binaries (as next329 did with memcheck; earlier
# sessions ran it over single tests: the persistent step, the cluster and wgmma kernels), so
# that every CUDA test's kernels are checked for out-of-bounds and misaligned accesses,
# as the CPU suite runs under ASan/UBSan. Usage: next329.sh [binary names...] (default
# every test_cuda_*); each at most MC_TIMEOUT seconds (default 110), its log in $OUT.
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
  timeout "${MC_TIMEOUT:-110}" "$cs" --tool initcheck --report-api-errors no --print-limit 10 \
    build-cuda/cuda/tests/test_cuda_$b >"$OUT/ic-$b.log" 2>&1
  rc=$?
  echo "initcheck test_cuda_$b: exit $rc in $((SECONDS - s)) s: $(grep -h "ERROR SUMMARY" "$OUT/ic-$b.log" | tail -1) | $(grep -E "passed, [0-9]+ failed" "$OUT/ic-$b.log" | tail -1)"
  grep -m5 -E "Invalid|FAIL|leak" "$OUT/ic-$b.log"
done
echo "total $((SECONDS - t0)) s"
