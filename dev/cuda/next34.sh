#!/usr/bin/env bash
# Ninth session, last call: the decoding step with the head norm and gate in its launch
# (retention_cuda_step_norm: a head's 8 blocks a cluster, their sums through distributed
# shared memory; RETNET_CUDA_STEP_NORM=0 turns it off). The CUDA tests of the decoding path
# (test_step_norm new), the 1.3B step off / on alternated twice at B = 1, 8, 64, then, if the
# tests passed, the decoding record (bench/gpu/e2e.sh --only decode,peers, as next33.sh).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
grep -h "step_norm\|FAIL" "$OUT/tests.log" | head -20
decode_ab RETNET_CUDA_STEP_NORM "0 1" 1,8,64
echo "A/B done at $((SECONDS - t0)) s"
if ! grep -q FAIL "$OUT/tests.log"; then
  E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
  echo "e2e: exit $? at $((SECONDS - t0)) s"
  grep -A14 "^| context" "$OUT/e2e-h200.md" | head -14
fi
echo "total $((SECONDS - t0)) s"
