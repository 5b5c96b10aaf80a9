#!/usr/bin/env bash
# Forty-fourth session, after next331 (initcheck): test_cuda_ops with its norms' gradient
# accumulators now zeroed (the reads next331 found at norm.cu:707) under initcheck, and
# test_cuda_retention under initcheck with RETNET_CUDA_LAB_FLAGS=16 (outputs stored from
# registers instead of by TMA) against the default: if the reports of never-written memory
# go with the TMA stores, they are the tool not seeing bulk copies' writes, not unset outputs.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_retention
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
ic() { # ic NAME BINARY [VAR=VALUE]: initcheck's summary and where its first reports are
  local name=$1 bin=$2; shift 2
  env "$@" timeout 130 "$cs" --tool initcheck --report-api-errors no --print-limit 200 \
    "build-cuda/cuda/tests/$bin" >"$OUT/ic-$name.log" 2>&1
  echo "$name: exit $? at $((SECONDS - t0)) s: $(grep -h "ERROR SUMMARY" "$OUT/ic-$name.log" | tail -1) | $(grep -E "passed, [0-9]+ failed" "$OUT/ic-$name.log" | tail -1)"
  grep -E "^=========     at |Host API memory access error" "$OUT/ic-$name.log" |
    sed -E 's/0x[0-9a-f]+/X/g; s/\+X//' | sort | uniq -c | sort -rn | head -6
}
ic ops test_cuda_ops
ic ret16 test_cuda_retention RETNET_CUDA_LAB_FLAGS=16
echo "total $((SECONDS - t0)) s"
