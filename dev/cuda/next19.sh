#!/usr/bin/env bash
# Seventh session, last call: the decoding step's kernel with 32 or 16 columns a block where 64
# leaves SMs without a block (B = 1: 64 blocks on 132 SMs). Build; test_cuda_retention (the
# step at 64, 32, 16 and automatic columns, o and the new state against float64),
# test_cuda_model, test_cuda_gemv; the 1.3B decoding step with RETNET_CUDA_STEP_COLS=64 and
# automatic (16 at B = 1, 64 at B >= 3), alternated twice, B = 1, 8.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for i in 1 2; do
  for C in 64 0; do
    RETNET_CUDA_STEP_COLS=$C timeout 60 $R bench decode --config $CFG --device cuda --batch 1,8 \
      --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"cols\": $C, /" >>"$OUT/decode-ab.jsonl"
  done
done
python3 - "$OUT/decode-ab.jsonl" <<'PY'
import json, sys
rows = {}
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") != "decode": continue
    rows.setdefault((r["batch"], r["cols"]), []).append(r["ms_per_step"])
print("batch  cols 64 ms (runs)      auto ms (runs)      64/auto")
for b in sorted({k[0] for k in rows}):
    a, c = rows.get((b, 64), []), rows.get((b, 0), [])
    if a and c: print(f"{b:5d}  {a}  {c}  {min(a)/min(c):.3f}")
PY
echo "total $((SECONDS - t0)) s"
