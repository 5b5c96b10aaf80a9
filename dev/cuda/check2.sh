#!/usr/bin/env bash
# Session 3, second device call: build; every CUDA test; the decoding products (gemv.cu)
# against cuBLASLt; the ops' bandwidth; the training step by phase and its speed; decoding,
# RetNet and our Transformer, with the new kernels and (same run) without them.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
# the previous commit (build/base.tar, git archive of HEAD, carried) for same-run before/after
cuda_build_base
JOBS=12 cuda_build
cuda_tests
wait $BPID; echo "base ready at $((SECONDS - t0)) s"
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json RB=$BASE/build-cuda/retnet
{ build-cuda/cuda/tests/test_cuda_gemv --bench; RETNET_CUDA_GEMV=0 build-cuda/cuda/tests/test_cuda_gemv --bench; } >"$OUT/gemv.txt" 2>&1
cat "$OUT/gemv.txt"
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/ops.txt" 2>&1; echo "bench_cuda_ops: exit $?"
cat "$OUT/ops.txt" | tail -30
RETNET_CUDA_TIMING=1 timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train.txt" 2>&1
grep -A40 "CUDA step timing" "$OUT/train.txt" | tail -28
echo "== base (previous commit) step timing" >>"$OUT/train.txt"
RETNET_CUDA_TIMING=1 timeout 60 $RB bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >>"$OUT/train.txt" 2>&1
timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 10 --warmup 3 --json >"$OUT/train.jsonl" 2>>"$OUT/train.txt"
timeout 60 $R bench train --config $CFG --device cuda --batch 2 --seq 8192 --steps 10 --warmup 3 --json >>"$OUT/train.jsonl" 2>>"$OUT/train.txt"
timeout 60 $RB bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 10 --warmup 3 --json | sed 's/"bench": "train"/"bench": "train", "variant": "base"/' >>"$OUT/train.jsonl" 2>>"$OUT/train.txt"
cut -c1-420 "$OUT/train.jsonl"
cat > /tmp/tf.json <<'J'
{"arch": "transformer", "vocab": 32000, "d_model": 2048, "n_layer": 24, "n_head": 32, "d_key": 2048, "d_value": 2048, "d_ffn": 5546, "norm": "rmsnorm", "head_norm": "rmsnorm", "head_norm_affine": true, "ffn": "glu", "ffn_act": "swish", "rope": "half", "rope_base": 10000, "decay": "pow2", "normalize": false, "eps": 1e-6, "tie_embeddings": false, "embed_scale": false, "chunk": 64, "gate": true, "context": 2048}
J
D=$OUT/decode.jsonl; : >"$D"
timeout 100 $R bench decode --config $CFG --device cuda --batch 1,8,64,256 --context 2048,8192,32768 --steps 32 --warmup 4 --json >>"$D" 2>>"$OUT/train.txt"
RETNET_CUDA_GEMV=0 timeout 60 $R bench decode --config $CFG --device cuda --batch 1,8 --context 2048 --steps 32 --warmup 4 --json | sed 's/"bench": "decode"/"bench": "decode", "variant": "gemv off"/' >>"$D" 2>>"$OUT/train.txt"
timeout 60 $RB bench decode --config $CFG --device cuda --batch 1,8,64,256 --context 2048 --steps 32 --warmup 4 --json | sed 's/"bench": "decode"/"bench": "decode", "variant": "base"/' >>"$D" 2>>"$OUT/train.txt"
timeout 60 $RB bench decode --config /tmp/tf.json --device cuda --batch 1,8,64 --context 2048 --steps 16 --warmup 2 --json | sed 's/"bench": "decode"/"bench": "decode", "variant": "base"/' >>"$D" 2>>"$OUT/train.txt"
timeout 150 $R bench decode --config /tmp/tf.json --device cuda --batch 1,8,64,256 --context 2048,8192,32768 --steps 16 --warmup 2 --json >>"$D" 2>>"$OUT/train.txt"
RETNET_CUDA_GRAPHS=0 RETNET_CUDA_GEMV=0 timeout 60 $R bench decode --config /tmp/tf.json --device cuda --batch 1,8 --context 2048 --steps 16 --warmup 2 --json | sed 's/"bench": "decode"/"bench": "decode", "variant": "graphs and gemv off"/' >>"$D" 2>>"$OUT/train.txt"
python3 - "$D" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") == "decode":
        print(r.get("arch"), r.get("variant", ""), r.get("context"), r.get("batch"), r.get("ms_per_step"), r.get("tokens_per_s"), r.get("of_bound"), str(r.get("refused", ""))[:60])
PY
echo "total $((SECONDS - t0)) s"
