#!/usr/bin/env bash
# Ready for the next session's first device call (written 2026-11-29 09:20 UTC, not yet run):
# lab flag 32, the contraction of the KC = 512 passes (the backward's dq and dk when dv = 512)
# split into two KC = 256 passes whose outputs add (src/cuda/retention.cu run_chunk).
# Build; flag 32's float64 lab checks and the CUDA tests under RETNET_CUDA_LAB_FLAGS=32;
# dev/cuda/retention_ab.py 0 32 (timings and distance); the 1.3B training step with and
# without, alternated. If all pass and it is faster, make it the default (drop the flag test
# in run_chunk) and re-run bench/gpu/e2e.sh --only train and dev/cuda/device_run.sh.
# Prediction (before any run): H8 backward at T = 16k 3.1 -> ~2.0 ms (each half pass like half
# of the forward, 0.63 ms); the training step ~10 ms shorter (0.44 ms per layer).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
cuda_build
wait
tail -1 "$OUT/retlib.log"
# every CUDA test as committed (the dv gradient written as bf16 by the retention backward,
# 4428d54's store mends: neither has run on a GPU yet)
TEST_TIMEOUT=150 cuda_tests
mv "$OUT/tests.log" "$OUT/tests-default.log"
export RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so
# the review's mends to the TMA store (not run yet): a barrier before every staging, no box
# wholly past the last column, none under clusters; the check now also forces 64-column tiles
timeout 150 python3 dev/cuda/retention_store.py --check 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -3
echo "DIFF lines: $(grep -c "^DIFF" "$OUT/store.txt")"; grep "^DIFF" "$OUT/store.txt" | head -5
timeout 120 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab: exit $? $(grep CORRECTNESS "$OUT/lab.log")"
RETNET_CUDA_LAB_FLAGS=32 timeout 120 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab32.log" 2>&1
echo "lab, flags 32: exit $? $(grep CORRECTNESS "$OUT/lab32.log")"
timeout 200 python3 dev/cuda/retention_ab.py 0 32 2>&1 | tee "$OUT/ab.txt"
echo "at $((SECONDS - t0)) s"
export RETNET_CUDA_LAB_FLAGS=32
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
unset RETNET_CUDA_LAB_FLAGS
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for f in 0 32 0 32; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"lab_flags\": $f, /" >>"$OUT/train.jsonl"
done
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    print('lab_flags', r.get('lab_flags'), r.get('ms_per_step'), 'ms', r.get('tokens_per_s'), 'tok/s, MFU', r.get('mfu'))
PY
RETNET_CUDA_LAB_FLAGS=32 RETNET_CUDA_TIMING=1 timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
grep -A40 "CUDA step timing" "$OUT/train-timing.log" | grep "retention\|step\|MFU"
echo "total $((SECONDS - t0)) s"
