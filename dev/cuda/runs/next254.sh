#!/usr/bin/env bash
# Thirty-fourth session: next251's racecheck warnings in detail (every hazard: the threads, the
# blocks, the address), test_backward alone (test_forward_and_step alone: 0 hazards).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_retention
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 200 "$CS" --tool racecheck --racecheck-report hazard --print-limit 40 \
  build-cuda/cuda/tests/test_cuda_retention test_backward >"$OUT/rc.log" 2>&1
echo "exit $?"
grep -v "^     " "$OUT/rc.log" | head -60 | cut -c1-200
