#!/usr/bin/env bash
# Tenth session: the decoding record on HEAD (c4c4f53: the tree of cbced92, every CUDA test
# passed in next37.sh), bench/gpu/e2e.sh --only decode,peers with fla's decoding peer off, as
# in the records it replaces (next33.sh).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
grep -A16 "^| context" "$OUT/e2e-h200.md" | head -16
echo "total $((SECONDS - t0)) s"
