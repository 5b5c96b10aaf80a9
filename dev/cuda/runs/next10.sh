#!/usr/bin/env bash
# Sixth session, second device call (carry ["build/fla-src"]): build; a per-kernel profile of
# decoding steps at B = 1 (ncu, durations only, graphs off) to see where the 1.33 ms go against
# the 0.56 ms bound; our decoding at B = 1 and 8 with graphs; then issue 6 b's training against
# fla in the same run (bench/gpu/e2e.sh --only train, ~300 s).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
timeout 60 $R bench decode --config $CFG --device cuda --batch 1,8 --context 64 --steps 32 --warmup 4 --json 2>/dev/null | cut -c1-300
RETNET_CUDA_GRAPHS=0 timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --print-summary per-kernel \
  $R bench decode --config $CFG --device cuda --batch 1 --context 64 --steps 4 --warmup 0 >"$OUT/ncu-decode-b1.txt" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
ncu_summary "$OUT/ncu-decode-b1.txt" # (the same parse, since moved into lib.sh)
grep -m3 -i "invocation\|error" "$OUT/ncu-decode-b1.txt"
FLA_TIMEOUT=330 E2E_FLA_DECODE=0 bash bench/gpu/e2e.sh --only train --no-build >"$OUT/e2e-stdout.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
sed -n '/## Training/,/^## Decoding/p' "$OUT/e2e-h200.md" | head -24
