#!/usr/bin/env bash
# The paper preset at B = 1 with the head norm's epilogue in the state update as well
# (RETNET_CUDA_HN_FUSED=1: step_hn_kernel with §3's sums) against the default (step_rows_kernel,
# then the GroupNorm's launch). next134 had it slower (1.151 -> 1.157 ms), but the rows step is
# now a cluster a head itself (next142's race fix), which was the fused kernel's extra cost.
# Four runs each, alternated; the model test and graphs under the setting.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
RETNET_CUDA_HN_FUSED=1 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model-hn1.log" 2>&1
echo "test_cuda_model, HN_FUSED=1: exit $?: $(tail -n 1 "$OUT/model-hn1.log")"
RETNET_CUDA_HN_FUSED=1 timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/graphs-hn1.log" 2>&1
echo "test_cuda_train graphs batch, HN_FUSED=1: exit $?: $(tail -n 1 "$OUT/graphs-hn1.log")"
pre() { env "$2" timeout 60 build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1 \
  --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2 3 4; do
  pre "pre default" X=1
  pre "pre hn1" RETNET_CUDA_HN_FUSED=1
done
decode_table
echo "total $((SECONDS - t0)) s"
