#!/usr/bin/env bash
# Fourteenth session, last call: HEAD (the paper variant's decoding path of next73), a clean
# build for every target, every CUDA test, then the paper's `1.3b` preset decoding at the
# issue's contexts and batches (bench/gpu/preset-1.3b-h200.jsonl; the second session's run of
# it is kept as preset-1.3b-h200-s2.jsonl).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
clean_tests 150
timeout 240 build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1,8,64,256 \
  --context 2048,8192,32768 --json 2>"$OUT/preset.err" >"$OUT/preset-1.3b-h200.jsonl"
echo "preset decode: exit $?"
python3 - "$OUT/preset-1.3b-h200.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("bench") == "decode":
        print(r["context"], r["batch"], r.get("ms_per_step"), r.get("of_bound"), r.get("refused", ""))
PY
echo "total $((SECONDS - t0)) s"
