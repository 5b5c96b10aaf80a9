#!/usr/bin/env bash
# Sixteenth session, the record: HEAD (next86's kernel, the window from B = 2 at the 1.3B
# shape), sm_90a build; the decoding record (bench/gpu/e2e.sh --only decode,peers), then the
# paper's `1.3b` preset at the issue's contexts and batches in what time is left.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
decode_record
left=$((570 - SECONDS))
echo "preset with ${left} s left"
timeout "$left" build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1,8,64,256 \
  --context 2048,8192,32768 --json 2>"$OUT/preset.err" >"$OUT/preset-1.3b-h200.jsonl"
echo "preset decode: exit $?"
python3 - "$OUT/preset-1.3b-h200.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("bench") == "decode":
        print(r["context"], r["batch"], r.get("ms_per_step"), r.get("ms_per_step_mean"), r.get("of_bound"), r.get("refused", ""))
PY
echo "total $((SECONDS - t0)) s"
