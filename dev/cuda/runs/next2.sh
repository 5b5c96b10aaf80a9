#!/usr/bin/env bash
# Session 4, first retention call (written 2026-11-29): the O tile staged in shared memory and
# written by TMA (src/cuda/retention.cu, lab flag 16 = the previous register stores).
# Build (make CUDA=1 and the lab library); dev/cuda/retention_store.py: TMA store against
# register store bit for bit on every kernel, then both timed at the benchmark's shapes; the
# float64 lab checks; every CUDA test (test_cuda_gemv's segfault fixed, the rope epilogue now
# on by default); the 1.3B training step with and without (RETNET_CUDA_LAB_FLAGS=16), timed.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_lab
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -12
grep -c "^DIFF" "$OUT/store.txt"; grep "^DIFF" "$OUT/store.txt" | head -8
timeout 120 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1; echo "lab: exit $? $(grep -ci fail "$OUT/lab.log") lines with fail; $(tail -n 2 "$OUT/lab.log" | head -c 300)"
echo "at $((SECONDS - t0)) s"
cuda_tests
train_ab 16 0 16 0
train_phases
echo "total $((SECONDS - t0)) s"
