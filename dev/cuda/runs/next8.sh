#!/usr/bin/env bash
# Version 6's checks and records in one device call (~250 s on an H200; carry
# ["build/fla-src", "build/tcache.tgz"]): build; the retention, model and ops tests; the TMA
# store's bit-identity; the
# benchmark against fla and SDPA (device_run.sh, its retention-h200.md in $OUT); the 1.3B
# training step twice. As run on 2026-11-29 10:27 UTC (tree of 9764b5d), it also timed 4
# load stages for KC = 128 against 2 (0.771 against 0.735 ms; retention-ab-h200.txt) and
# benchmarked with 2, which is now the only form (the 4-stage code is removed).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_lab
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_ops
timeout 100 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
echo "bench at $((SECONDS - t0)) s"
LIBS=build/ret-cuda PROBE=0 LAB_ARGS=--no-time BENCH_HARD=200 bash dev/cuda/device_run.sh 2>&1 | grep -A12 "^SUMMARY"
train_ab 0 0
echo "total $((SECONDS - t0)) s"
