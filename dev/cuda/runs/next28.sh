#!/usr/bin/env bash
# Eighth session's benchmark of record, second try: next27.sh's bench ran out of its hard limit
# before fla's prefill (fla's autotuning, no Triton cache carried). Only our prefill and fla's
# (--only ours,prefill), a longer limit, and the Triton cache saved for later calls.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
GENCODE="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a" \
  dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1
echo "lib: exit $? at $((SECONDS - t0)) s"
LIBS=build/ret-cuda PROBE=0 LAB_ARGS=--no-time BENCH_HARD=${HARD:-270} BENCH_ARGS="--only ours,prefill" \
  OUT=$OUT dev/cuda/device_run.sh >"$OUT/run.log" 2>&1
echo "device_run: exit $? at $((SECONDS - t0)) s"
grep -E "lab build|exit" "$OUT/run.log" | head -4
tar czf "$OUT/tcache.tgz" -C /tmp tcache 2>/dev/null; ls -la "$OUT/tcache.tgz"
(cd "$OUT" && tar czf logs.tgz retlib.log lab1.log lab.json 2>/dev/null && rm -f retlib.log lab1.log lab.json lab_ok.json)
