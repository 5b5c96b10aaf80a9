#!/usr/bin/env bash
# Seventeenth session: next96.sh found the paper preset's output layer (vocabulary 50257, an
# odd row length for the logits) in a cutlass "align1" kernel: 213 us a step at B = 8 and 505
# at B = 256, against 41 / 52 us for the fla shape's 32000. The preset (cfg-1.3b-paper.json,
# the same model as --preset 1.3b) against the same with vocabulary 50264 (a multiple of 8):
# decoding at B = 1-256 and a training step (B 8, T 2048).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
for v in paper paper-v50264; do
  timeout 150 build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-$v.json --device cuda \
    --batch 1,8,64,256 --context 64 --steps 48 --warmup 4 --json 2>/dev/null |
    sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/decode.jsonl"
  timeout 150 build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-$v.json --device cuda \
    --batch 8 --seq 2048 --steps 4 --warmup 2 --json 2>"$OUT/train-$v.err" | tee -a "$OUT/train.jsonl"
done
decode_runs
echo "total $((SECONDS - t0)) s"
