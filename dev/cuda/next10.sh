#!/usr/bin/env bash
# Sixth session, second device call (carry ["build/fla-src"]): build; a per-kernel profile of
# decoding steps at B = 1 (ncu, durations only, graphs off) to see where the 1.33 ms go against
# the 0.56 ms bound; our decoding at B = 1 and 8 with graphs; then issue 6 b's training against
# fla in the same run (bench/gpu/e2e.sh --only train, ~300 s).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
timeout 60 $R bench decode --config $CFG --device cuda --batch 1,8 --context 64 --steps 32 --warmup 4 --json 2>/dev/null | cut -c1-300
RETNET_CUDA_GRAPHS=0 timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --print-summary per-kernel \
  $R bench decode --config $CFG --device cuda --batch 1 --context 64 --steps 4 --warmup 0 >"$OUT/ncu-decode-b1.txt" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
python3 - "$OUT/ncu-decode-b1.txt" <<'PY'
import re, sys
txt = open(sys.argv[1]).read()
blocks = re.split(r"\n  (?=\S[^\n]*\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\))", txt)
for b in blocks[1:]:
    name = b.split("\n", 1)[0][:100]
    inv = re.search(r"Invocations\s*:?\s*(\d+)", b) or re.search(r"(\d+)\s+invocations", b)
    t = re.search(r"gpu__time_duration.sum\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)", b)
    d = re.search(r"dram__bytes_read.sum\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", b)
    print(name, "|", inv.group(1) if inv else "?", "|", t.groups() if t else "", "|", d.groups() if d else "")
PY
grep -m3 -i "invocation\|error" "$OUT/ncu-decode-b1.txt"
FLA_TIMEOUT=330 E2E_FLA_DECODE=0 bash bench/gpu/e2e.sh --only train --no-build >"$OUT/e2e-stdout.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
sed -n '/## Training/,/^## Decoding/p' "$OUT/e2e-h200.md" | head -24
