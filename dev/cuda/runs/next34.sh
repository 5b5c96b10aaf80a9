#!/usr/bin/env bash
# (Of a change reverted in bc3437a: run now, it checks and times nothing of it.)
# Ninth session, last call: the decoding step with the head norm and gate in its launch
# (retention_cuda_step_norm: a head's 8 blocks a cluster, their sums through distributed
# shared memory; RETNET_CUDA_STEP_NORM=0 turns it off). The CUDA tests of the decoding path
# (test_step_norm new), the 1.3B step off / on alternated twice at B = 1, 8, 64, then, if the
# tests passed, the decoding record (bench/gpu/e2e.sh --only decode,peers, as next33.sh).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
decode_tests
grep -h "step_norm" "$OUT/tests.log" | head
decode_ab RETNET_CUDA_STEP_NORM "0 1" 1,8,64
echo "A/B done at $((SECONDS - t0)) s"
if ! grep -q FAIL "$OUT/tests.log"; then
  E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
  echo "e2e: exit $? at $((SECONDS - t0)) s"
  grep -A14 "^| context" "$OUT/e2e-h200.md" | head -14
fi
echo "total $((SECONDS - t0)) s"
