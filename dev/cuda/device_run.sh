#!/bin/bash
# One device-machine call: the lab's checks and timings for each library in LIBS (built here
# and carried; built there when none loads), the ablation probe, then (BENCH=1) the benchmark
# against fla and SDPA with the first library whose checks all passed.
# Outputs under $OUT: lab*.log, lab.json, probe.log, bench.log, results.json, retention-h200.md.
#   LIBS="build/ret-cuda build/ret-cuda-v1"  BENCH_HARD=seconds (300)  FLA=fla checkout
set -o pipefail
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/tcache}
OUT=${OUT:-.}
cd "$(dirname "$0")/../.."
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader
if [ -f build/tcache.tgz ]; then tar xzf build/tcache.tgz -C "$(dirname "$TRITON_CACHE_DIR")"; fi
LIBS=${LIBS:-build/ret-cuda}
first=${LIBS%% *}
if ! python3 -c "import ctypes; ctypes.CDLL('$first/libretention_cuda.so')" 2>/dev/null; then
    echo "building on the device"; dev/cuda/build.sh "$first" || exit 1
fi
good=""
i=0
for d in $LIBS; do
    i=$((i + 1))
    RETNET_CUDA_LIB=$d/libretention_cuda.so python3 dev/cuda/retention_lab.py ${LAB_ARGS} 2>&1 | tee "$OUT/lab$i.log"
    rc=$?
    echo "lab $d exit $rc after $(( $(date +%s) - t0 )) s"
    if [ "$rc" = 0 ]; then good=$d; cp "$OUT/lab.json" "$OUT/lab_ok.json"; break; fi
done
[ -n "$good" ] && [ "${PROBE:-1}" = 1 ] && RETNET_CUDA_LIB=$good/libretention_cuda.so \
    python3 dev/cuda/retention_probe.py 2>&1 | tee "$OUT/probe.log"
if [ -n "$good" ] && [ "${BENCH:-1}" = 1 ]; then
    hard=${BENCH_HARD:-300}
    PYTHONPATH=${FLA:-build/fla-src} timeout $((hard + 40)) python3 bench/gpu/retention_bench.py \
        --lib "$good/libretention_cuda.so" --hard "$hard" --deadline $((hard - 40)) ${BENCH_ARGS} \
        2>&1 | tee "$OUT/bench.log"
    echo "bench ($good) exit $? after $(( $(date +%s) - t0 )) s"
fi
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv,noheader
[ -n "$good" ]
