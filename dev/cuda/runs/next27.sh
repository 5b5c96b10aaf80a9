#!/usr/bin/env bash
# Eighth session's benchmark of record: the retention kernels (P decays in registers, TMA loads
# for every KC) against fla and SDPA by bench/gpu/retention_bench.py (device_run.sh, float64
# checks first), then the 1.3B training step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
cuda_build_lab
LIBS=build/ret-cuda PROBE=0 LAB_ARGS=--no-time BENCH_HARD=200 OUT=$OUT dev/cuda/device_run.sh >"$OUT/run.log" 2>&1
echo "device_run: exit $? at $((SECONDS - t0)) s"
grep -E "lab build|exit|ok |BAD" "$OUT/run.log" | grep -v "^  ok" | head -8
train_ab 0
echo "total $((SECONDS - t0)) s"
(cd "$OUT" && tar czf logs.tgz *.log lab*.json 2>/dev/null && rm -f build.log retlib.log lab1.log lab.json lab_ok.json)
ls "$OUT"
