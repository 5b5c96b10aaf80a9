#!/usr/bin/env bash
# Fourteenth session: the paper's `1.3b` preset (LayerNorm, gelu FFN of 4096, GroupNorm head
# norm, §3 normalisation on, vocabulary 50257) decoding on HEAD, beside the fla-shape model
# of the record; the preset was last measured in the second session (708849f: B = 1 1.84 ms).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet
for i in 1 2; do
  timeout 200 build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1,2,8,64,256 --context 64 \
    --steps 48 --warmup 4 --json 2>/dev/null | sed 's/^{/{"v": "preset", /' >>"$OUT/decode.jsonl"
  decode_run fla build-cuda/retnet 1,2,8,64,256
done
decode_table
echo "total $((SECONDS - t0)) s"
