#!/usr/bin/env bash
# Sixth session: programmatic dependent launch in the decoding step (written 2026-11-29; the
# call that first runs it). Build; every CUDA test but test_cuda_train, whose test_graphs
# (graph + PDL against op by op without PDL, bit for bit) runs alone; then the 1.3B decoding
# step with RETNET_CUDA_PDL=0 and =1 alternated twice, B = 1, 8, 64, 256.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=150 cuda_tests $(ls build-cuda/cuda/tests/test_cuda_* | grep -v test_cuda_train)
timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs 2>&1 | tail -3
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for i in 1 2; do
  for P in 0 1; do
    RETNET_CUDA_PDL=$P timeout 90 $R bench decode --config $CFG --device cuda --batch 1,8,64,256 \
      --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"pdl\": $P, /" >>"$OUT/decode-ab.jsonl"
    echo "pdl $P run $i done at $((SECONDS - t0)) s"
  done
done
python3 - "$OUT/decode-ab.jsonl" <<'PY'
import json, sys, statistics as st
rows = {}
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") != "decode": continue
    rows.setdefault((r["batch"], r["pdl"]), []).append(r["ms_per_step"])
print("batch  pdl0 ms (runs)        pdl1 ms (runs)        pdl0/pdl1")
for b in sorted({k[0] for k in rows}):
    a, c = rows.get((b, 0), []), rows.get((b, 1), [])
    if a and c: print(f"{b:5d}  {a}  {c}  {min(a)/min(c):.3f}")
PY
echo "total $((SECONDS - t0)) s"
