#!/usr/bin/env bash
# Seventeenth session: the device logits' rows padded to 16 bytes (model_cuda.cu's ldv: the
# vocabulary rounded up to 8) for the output layer's products, its gradient's, the loss and
# argmax. Every CUDA test (sm_90a build), then the paper preset (vocabulary 50257) against the
# tree before (build/base.tar, 6536741's): decoding at B = 1-256 and a training step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=10 cuda_build_base
JOBS=10 cuda_build
wait $BPID
TEST_TIMEOUT=200 cuda_tests
for i in 1 2; do
  for v in base new; do
    bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
    timeout 150 $bin bench decode --preset 1.3b --device cuda --batch 1,8,64,256 --context 64 \
      --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/decode.jsonl"
    [ $i = 1 ] && timeout 150 $bin bench train --preset 1.3b --device cuda --batch 8 --seq 2048 \
      --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" | tee -a "$OUT/train.jsonl"
  done
done
decode_runs
echo "total $((SECONDS - t0)) s"
