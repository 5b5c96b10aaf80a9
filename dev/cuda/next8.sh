#!/usr/bin/env bash
# The forward regressions undone (wg_kernel: no barrier before staging O in the Q buffer, as at
# cd76d1b; wgc_kernel: NB = 2 written as before, its PTX now that of 4428d54 but for the
# parameter offsets), written 2026-11-29 after dev/cuda/bisect_fwd.sh. Build; tests; the store
# identity; 2 against 4 load stages (flag 64) now that 2 stages is fast again (the faster goes
# into the benchmark); the benchmark against fla (device_run.sh); the training step.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_ops
timeout 100 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
timeout 60 python3 dev/cuda/retention_ab.py 64 0 >"$OUT/ab64.txt" 2>&1; echo "ab 64 0: exit $?"; cat "$OUT/ab64.txt"
# the mean of the H16 forward ratios (2 stages / 4 stages time): above 1 keeps 4 stages
keep4=$(awk '/^H16/ {s += $9; n++} END {print (n && s / n >= 1.0) ? 1 : 0}' "$OUT/ab64.txt")
flags=0; [ "$keep4" = 1 ] || flags=64
echo "bench with RETNET_CUDA_LAB_FLAGS=$flags at $((SECONDS - t0)) s"
RETNET_CUDA_LAB_FLAGS=$flags LIBS=build/ret-cuda PROBE=0 LAB_ARGS=--no-time BENCH_HARD=200 \
  bash dev/cuda/device_run.sh 2>&1 | grep -A12 "^SUMMARY"
train_ab $flags $flags
echo "total $((SECONDS - t0)) s"
