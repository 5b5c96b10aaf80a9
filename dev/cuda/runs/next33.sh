#!/usr/bin/env bash
# Ninth session, the decoding record: the tree after next32.sh (the step kernel back at 64
# columns everywhere: 32 was 2% faster in next31, 2% slower in next32 at B = 1; argmax's test
# fixed: its second pass kept the first pass's planted values). The CUDA tests that cover the
# decoding path, then bench/gpu/e2e.sh --only decode,peers (fla's decoding peer off, as in
# the record it replaces).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
decode_tests
E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
grep -A16 "^| context" "$OUT/e2e-h200.md" | head -16
echo "total $((SECONDS - t0)) s"
