#!/usr/bin/env bash
# Second device call: our Transformer's decoding on the GPU (KV cache), and generate on the GPU
# (device-resident state, saved and continued) against the CPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/gpu/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$SECONDS
make CUDA=1 -j16 build-cuda/retnet >"$OUT/build.log" 2>&1; echo "build: exit $? in $((SECONDS - t0)) s"
R=build-cuda/retnet
$R init --config dev/cuda/cfg-small-fla.json --out /tmp/s.safetensors >/dev/null 2>&1
for dev in cpu cuda; do
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --prompt "To be or not" -n 24 --temperature 0 --save-state /tmp/st-$dev.safetensors --json >"$OUT/gen-$dev.json" 2>&1; echo "generate $dev: exit $?"
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --load-state /tmp/st-$dev.safetensors -n 8 --temperature 0 --json >>"$OUT/gen-$dev.json" 2>&1; echo "continue $dev: exit $?"
done
cut -c1-330 "$OUT"/gen-*.json
cat > /tmp/tf.json <<'J'
{"arch": "transformer", "vocab": 32000, "d_model": 2048, "n_layer": 24, "n_head": 32, "d_key": 2048, "d_value": 2048, "d_ffn": 5546, "norm": "rmsnorm", "head_norm": "rmsnorm", "head_norm_affine": true, "ffn": "glu", "ffn_act": "swish", "rope": "half", "rope_base": 10000, "decay": "pow2", "normalize": false, "eps": 1e-6, "tie_embeddings": false, "embed_scale": false, "chunk": 64, "gate": true, "context": 2048}
J
timeout 150 $R bench decode --config /tmp/tf.json --device cuda --batch 1,8,64,256 --context 2048,8192,32768 --steps 16 --warmup 2 --json >"$OUT/decode-tf.jsonl" 2>"$OUT/decode-tf.err"; echo "tf decode: exit $?"
tail -n 2 "$OUT/decode-tf.err"
python3 - "$OUT" <<'PY'
import json, sys
for l in open(sys.argv[1] + "/decode-tf.jsonl"):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") == "decode":
        print(r.get("arch"), r.get("context"), r.get("batch"), r.get("ms_per_step"), r.get("tokens_per_s"), r.get("state_bytes_per_seq"), str(r.get("refused", ""))[:80])
PY
echo "total $((SECONDS - t0)) s"
