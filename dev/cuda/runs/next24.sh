#!/usr/bin/env bash
# Eighth session: the branch-free P build (both wgmma kernels), TMA loads for KC <= 128 too (the
# dispatcher no longer picks the cp.async kernel), the decay tables by repeated squaring, and
# the first chunk's TMA issued before them; against the session's start (build/ret-base-src).
# Float64 checks (retention_lab.py --no-time), forward and backward against the base and
# chunk_retention in one process, every CUDA test, the 1.3B step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
lab_libs_ab
cuda_build
lab_ab_checks
fwd_ab base=$B new=$N new_cpasync=$N:0:0:3
train_ab 0
TEST_TIMEOUT=200 cuda_tests
echo "total $((SECONDS - t0)) s"
(cd "$OUT" && tar czf logs.tgz build.log retlib*.log lab.json 2>/dev/null && rm -f build.log retlib*.log lab.json)
