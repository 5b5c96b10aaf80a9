#!/usr/bin/env bash
# One device call: build, every CUDA test, the training step's timing by phase, the 1.3B-shape
# training and decoding benchmarks (ours), a generate smoke test. Logs and JSON lines in $OUT.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
cuda_tests
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
RETNET_CUDA_TIMING=1 timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -28
timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 10 --warmup 3 --json >"$OUT/train.jsonl" 2>"$OUT/train.err"
timeout 60 $R bench train --config $CFG --device cuda --batch 2 --seq 8192 --steps 10 --warmup 3 --json >>"$OUT/train.jsonl" 2>>"$OUT/train.err"
cut -c1-400 "$OUT/train.jsonl"
timeout 90 $R bench decode --config $CFG --device cuda --batch 1,8,64,256 --context 2048,8192,32768 --steps 32 --warmup 4 --json >"$OUT/decode.jsonl" 2>"$OUT/decode.err"
RETNET_CUDA_GRAPHS=0 timeout 60 $R bench decode --config $CFG --device cuda --batch 1,64 --context 2048 --steps 32 --warmup 4 --json >"$OUT/decode-nographs.jsonl" 2>>"$OUT/decode.err"
cat > /tmp/tf.json <<'J'
{"arch": "transformer", "vocab": 32000, "d_model": 2048, "n_layer": 24, "n_head": 32, "d_key": 2048, "d_value": 2048, "d_ffn": 5546, "norm": "rmsnorm", "head_norm": "rmsnorm", "head_norm_affine": true, "ffn": "glu", "ffn_act": "swish", "rope": "half", "rope_base": 10000, "decay": "pow2", "normalize": false, "eps": 1e-6, "tie_embeddings": false, "embed_scale": false, "chunk": 64, "gate": true, "context": 2048}
J
timeout 120 $R bench decode --config /tmp/tf.json --device cuda --batch 1,8,64,256 --context 2048,8192,32768 --steps 16 --warmup 2 --json >"$OUT/decode-tf.jsonl" 2>"$OUT/decode-tf.err"
python3 - "$OUT" <<'PY'
import json, sys
for f in ("decode.jsonl", "decode-nographs.jsonl", "decode-tf.jsonl"):
    for l in open(sys.argv[1] + "/" + f):
        try: r = json.loads(l)
        except Exception: continue
        if r.get("bench") == "decode":
            print(f, r.get("arch"), r.get("context"), r.get("batch"), r.get("ms_per_step"), r.get("tokens_per_s"), r.get("refused", ""), r.get("error", ""))
PY
tail -3 "$OUT/decode-tf.err"
# generate on the GPU: greedy, saved state continued
$R init --preset small --out /tmp/s.safetensors >/dev/null 2>&1
for dev in cpu cuda; do
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --prompt "To be or not" -n 24 --temperature 0 --save-state /tmp/st-$dev.safetensors --json >"$OUT/gen-$dev.json" 2>"$OUT/gen-$dev.err"; echo "generate $dev: exit $?"
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --load-state /tmp/st-$dev.safetensors -n 8 --temperature 0 --json >"$OUT/gen2-$dev.json" 2>>"$OUT/gen-$dev.err"; echo "continue $dev: exit $?"
done
cut -c1-300 "$OUT"/gen*-*.json; tail -2 "$OUT"/gen-*.err
echo "total $((SECONDS - t0)) s"
