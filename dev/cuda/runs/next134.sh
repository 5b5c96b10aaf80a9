#!/usr/bin/env bash
# The head norm and gate in the step's state update (retention_cuda_step_hn: a thread block
# cluster a head, the statistics exchanged through distributed shared memory;
# RETNET_CUDA_HN_FUSED=1, lab): test_cuda_retention (its new test_step_hn: every head-norm
# mode, gate and §3 on and off, against the launches it replaces), test_cuda_model and train's
# graphs and batch with it on; then the 1.3B step at B = 1, fla shape and the paper preset,
# on / off alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_retention
grep -h "step hn" "$OUT/tests.log" | head -6
RETNET_CUDA_HN_FUSED=1 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model-hn.log" 2>&1
echo "test_cuda_model, HN_FUSED=1: exit $?: $(tail -n 1 "$OUT/model-hn.log")"
grep -h "FAIL" "$OUT/model-hn.log" | head -5
RETNET_CUDA_HN_FUSED=1 timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/graphs-hn.log" 2>&1
echo "test_cuda_train graphs batch, HN_FUSED=1: exit $?: $(tail -n 1 "$OUT/graphs-hn.log")"
pre() { env "$2" timeout 60 build-cuda/retnet bench decode $3 --device cuda --batch 1 \
  --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2 3; do
  pre "fla hn1" RETNET_CUDA_HN_FUSED=1 "--config dev/cuda/cfg-1.3b-fla.json"
  pre "fla hn0" RETNET_CUDA_HN_FUSED=0 "--config dev/cuda/cfg-1.3b-fla.json"
  pre "pre hn1" RETNET_CUDA_HN_FUSED=1 "--preset 1.3b"
  pre "pre hn0" RETNET_CUDA_HN_FUSED=0 "--preset 1.3b"
done
decode_table
echo "total $((SECONDS - t0)) s"
