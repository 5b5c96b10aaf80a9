#!/usr/bin/env bash
# Thirty-second session, call 8: a second sample of next235's record (the same files; the lab's
# checks not repeated), to see how far the T = 2k forward ratio moves between runs.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
GENCODE="-gencode arch=compute_90a,code=sm_90a" dev/cuda/build.sh build/ret-cuda > "$OUT/build.log" 2>&1; echo "build: exit $? in $((SECONDS - t0)) s"
PYTHONPATH=build/fla-src timeout 260 python3 bench/gpu/retention_bench.py --lib build/ret-cuda/libretention_cuda.so \
    --hard 220 --deadline 180 --only ours,prefill 2>&1 | tee "$OUT/bench.log" | tail -25
echo "total $((SECONDS - t0)) s"
