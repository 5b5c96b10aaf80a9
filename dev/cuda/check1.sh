#!/usr/bin/env bash
# Session 3, first device call: build; every CUDA test (the mends since the last GPU run);
# generate on the GPU against the CPU; our Transformer's decoding benchmark; a per-kernel
# profile (ncu, durations only) of decoding steps at B = 1 and B = 8 without graphs.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
cuda_tests
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
$R init --config dev/cuda/cfg-small-fla.json --out /tmp/s.safetensors >/dev/null 2>&1
for dev in cpu cuda; do
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --prompt "To be or not" -n 24 --temperature 0 --save-state /tmp/st-$dev.safetensors --json >"$OUT/gen.txt.$dev" 2>&1; echo "generate $dev: exit $?"
  timeout 60 $R generate --model /tmp/s.safetensors --device $dev --load-state /tmp/st-$dev.safetensors -n 8 --temperature 0 --json >>"$OUT/gen.txt.$dev" 2>&1; echo "continue $dev: exit $?"
done
cut -c1-330 "$OUT"/gen.txt.*; cat "$OUT"/gen.txt.* > "$OUT/gen.txt"; rm -f "$OUT"/gen.txt.*
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
for B in 1 8; do
  RETNET_CUDA_GRAPHS=0 timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
    $R bench decode --config $CFG --device cuda --batch $B --context 64 --steps 8 --warmup 0 >"$OUT/ncu-decode-b$B.txt" 2>&1
  echo "ncu B=$B: exit $?"
done
python3 - "$OUT" <<'PY'
import re, sys
for B in (1, 8):
    txt = open(f"{sys.argv[1]}/ncu-decode-b{B}.txt").read()
    # per-kernel summary blocks: name line, then 'gpu__time_duration.sum' with min/max/avg
    rows = []
    for m in re.finditer(r"\n  (\S[^\n]*?) \(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)[^\n]*\n(?:[^\n]*\n){0,6}?\s*Section: Command line profiler metrics\n(?:[^\n]*\n)*?\s*gpu__time_duration.sum\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", txt):
        rows.append((m.group(1)[:90], m.group(2), m.group(3), m.group(4), m.group(5)))
    print(f"B={B}: {len(rows)} kernel kinds")
    for r in rows[:60]: print("  ", *r)
PY
echo "total $((SECONDS - t0)) s"
