#!/usr/bin/env bash
# Seventh session: the gemv's split of K over S warps a column pair (gemv_split; RETNET_CUDA_
# GEMV_SPLIT=1 is the unsplit kernel), and the norms' rewrite of next15-17 with 3 blocks an SM
# for the rms head norm only. Build; every CUDA test (test_cuda_gemv covers S = 1, 2, 4 by its
# shapes); the gemv benchmark unsplit and split; the 1.3B decoding step unsplit / split
# alternated twice, B = 1, 8, 64.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=200 cuda_tests
for S in 1 0; do
  echo "== gemv bench, RETNET_CUDA_GEMV_SPLIT=$S"
  RETNET_CUDA_GEMV_SPLIT=$S build-cuda/cuda/tests/test_cuda_gemv --bench 2>&1 | grep -E "^(q k|wo|fc|logits)"
done
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for i in 1 2; do
  for S in 1 0; do
    RETNET_CUDA_GEMV_SPLIT=$S timeout 90 $R bench decode --config $CFG --device cuda --batch 1,8,64 \
      --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"split\": $S, /" >>"$OUT/decode-ab.jsonl"
  done
done
python3 - "$OUT/decode-ab.jsonl" <<'PY'
import json, sys
rows = {}
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") != "decode": continue
    rows.setdefault((r["batch"], r["split"]), []).append(r["ms_per_step"])
print("batch  unsplit ms (runs)      split ms (runs)      unsplit/split")
for b in sorted({k[0] for k in rows}):
    a, c = rows.get((b, 1), []), rows.get((b, 0), [])
    if a and c: print(f"{b:5d}  {a}  {c}  {min(a)/min(c):.3f}")
PY
echo "total $((SECONDS - t0)) s"
