#!/usr/bin/env bash
# Session 3, last device call: the section-3 normalisations on the GPU (src/cuda/
# retention_norm.cu): the model's tests (CPU against GPU, states with z, the paper preset),
# training's (gradients against the CPU with normalize on, graphs), generate with the small
# preset on both devices; then the 1.3b preset (normalize on) decoding and training briefly.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_retention
timeout 60 build-cuda/cuda/tests/test_cuda_retention >"$OUT/tests.log" 2>&1; echo "test_cuda_retention: exit $? at $((SECONDS - t0)) s: $(tail -n 1 "$OUT/tests.log")"
timeout 100 build-cuda/cuda/tests/test_cuda_model >>"$OUT/tests.log" 2>&1; echo "test_cuda_model: exit $? at $((SECONDS - t0)) s: $(tail -n 1 "$OUT/tests.log")"
timeout 120 build-cuda/cuda/tests/test_cuda_train test_gradients test_refused test_batch test_graphs >>"$OUT/tests.log" 2>&1; echo "test_cuda_train (all but the loss curve): exit $? at $((SECONDS - t0)) s: $(tail -n 1 "$OUT/tests.log")"
grep -h "FAIL\|normalize\|tiny" "$OUT/tests.log" | head -30
R=build-cuda/retnet
$R init --preset small --out /tmp/s.safetensors >/dev/null 2>&1
for dev in cpu cuda; do
  timeout 30 $R generate --model /tmp/s.safetensors --device $dev --prompt "To be or not" -n 24 --temperature 0 --json >"$OUT/gen.txt.$dev" 2>&1; echo "generate small preset $dev: exit $?"
done
cut -c1-300 "$OUT"/gen.txt.*
timeout 40 $R bench decode --preset 1.3b --device cuda --batch 1,8,64 --context 2048 --steps 16 --warmup 2 --json >"$OUT/bench.jsonl" 2>"$OUT/bench.err"; echo "decode 1.3b preset: exit $?"
timeout 45 $R bench train --preset 1.3b --device cuda --batch 8 --seq 2048 --steps 4 --warmup 2 --json >>"$OUT/bench.jsonl" 2>>"$OUT/bench.err"; echo "train 1.3b preset: exit $?"
cut -c1-300 "$OUT/bench.jsonl"; tail -3 "$OUT/bench.err"
echo "total $((SECONDS - t0)) s"
