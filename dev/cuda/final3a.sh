#!/usr/bin/env bash
# Session 3, third device call: build; every CUDA test; the decoding products against
# cuBLASLt at M = 1, 2, 4, 8; the training benchmark against fla (bench/gpu/e2e.sh --only
# train). The decoding part follows in a second call (final3b: e2e.sh --only decode,peers).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
cuda_tests
{ build-cuda/cuda/tests/test_cuda_gemv --bench; RETNET_CUDA_GEMV=0 build-cuda/cuda/tests/test_cuda_gemv --bench; } >"$OUT/gemv.txt" 2>&1
cat "$OUT/gemv.txt"
echo "before e2e: $((SECONDS - t0)) s"
FLA_TIMEOUT=330 E2E_FLA_DECODE=0 bash bench/gpu/e2e.sh --no-build --only train >/dev/null 2>&1
grep -A8 "^| T" "$OUT/e2e-h200.md"; grep "ours/fla" "$OUT/e2e-h200.md"
tail -3 "$OUT/e2e.log"
echo "total $((SECONDS - t0)) s"
