#!/usr/bin/env bash
# The pre-norm in the FMA gemv's prologue (cuda_gemv_norm: decoding at 1-2 sequences, each
# block forms bf16(Norm(x)) from the fp32 rows into shared memory; RETNET_CUDA_NORM_FUSED=0
# the separate launches): test_cuda_gemv (its new test_prenorm against float64 and the
# separate launches), the decoding tests, then the step at B = 1 and 2 of both shapes with
# it on and off, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
grep -h "pre-norm" "$OUT/tests.log" | head -24
RETNET_CUDA_NORM_FUSED=0 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model-nf0.log" 2>&1
echo "test_cuda_model, NORM_FUSED=0: exit $?: $(tail -n 1 "$OUT/model-nf0.log")"
pre() { env "$2" timeout 60 build-cuda/retnet bench decode $3 --device cuda --batch 1,2 \
  --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2 3; do
  pre "fla nf1" X=1 "--config dev/cuda/cfg-1.3b-fla.json"
  pre "fla nf0" RETNET_CUDA_NORM_FUSED=0 "--config dev/cuda/cfg-1.3b-fla.json"
  pre "pre nf1" X=1 "--preset 1.3b"
  pre "pre nf0" RETNET_CUDA_NORM_FUSED=0 "--preset 1.3b"
done
decode_table
echo "total $((SECONDS - t0)) s"
