#!/usr/bin/env bash
# Session 4, second retention call: next2.sh's checks again after the fix (no TMA store for a
# short chunk backward in time: a negative box start stopped the kernel), then the timings.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_lab
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -12
echo "DIFF lines: $(grep -c "^DIFF" "$OUT/store.txt")"; grep "^DIFF" "$OUT/store.txt" | head -8
timeout 120 python3 dev/cuda/retention_ab.py 16 0 | tee "$OUT/ab16.txt" # the timings (in the run of record they came from retention_store.py itself)
timeout 120 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1; echo "lab: exit $? $(grep -c BAD "$OUT/lab.log") BAD; $(grep CORRECTNESS "$OUT/lab.log")"
echo "at $((SECONDS - t0)) s"
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
