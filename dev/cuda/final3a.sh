#!/usr/bin/env bash
# Session 3, third device call: build; every CUDA test; the decoding products against
# cuBLASLt at M = 1, 2, 4, 8; the training benchmark against fla (bench/gpu/e2e.sh --only
# train). The decoding part follows in a second call (final3b: e2e.sh --only decode,peers).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/gpu/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$SECONDS
make -k CUDA=1 -j16 >"$OUT/build.log" 2>&1; echo "build: exit $? in $((SECONDS - t0)) s"
grep -E "error|warning" -A3 "$OUT/build.log" | head -20
: >"$OUT/tests.log"
for t in build-cuda/cuda/tests/test_cuda_*; do
  n=$(basename "$t"); s=$SECONDS
  timeout 200 "$t" >>"$OUT/tests.log" 2>&1
  echo "$n: exit $? in $((SECONDS - s)) s: $(tail -n 1 "$OUT/tests.log")"
done
grep -h "FAIL" "$OUT/tests.log" | head -20
{ build-cuda/cuda/tests/test_cuda_gemv --bench; RETNET_CUDA_GEMV=0 build-cuda/cuda/tests/test_cuda_gemv --bench; } >"$OUT/gemv.txt" 2>&1
cat "$OUT/gemv.txt"
echo "before e2e: $((SECONDS - t0)) s"
FLA_TIMEOUT=330 E2E_FLA_DECODE=0 bash bench/gpu/e2e.sh --no-build --only train >/dev/null 2>&1
grep -A8 "^| T" "$OUT/e2e-h200.md"; grep "ours/fla" "$OUT/e2e-h200.md"
tail -3 "$OUT/e2e.log"
echo "total $((SECONDS - t0)) s"
