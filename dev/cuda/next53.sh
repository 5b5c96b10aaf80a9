#!/usr/bin/env bash
# Twelfth session, last call: HEAD (the joined products, the wider state update), a clean build
# for every target (all gencodes, as CI and users build), every CUDA test, then the decoding
# record: bench/gpu/e2e.sh --only decode,peers with fla's decoding peer off, as next38.sh.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
rm -rf build-cuda
cuda_build
TEST_TIMEOUT=200 cuda_tests
E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
grep -A16 "^| context" "$OUT/e2e-h200.md" | head -16
echo "total $((SECONDS - t0)) s"
