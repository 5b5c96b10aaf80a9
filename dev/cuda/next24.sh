#!/usr/bin/env bash
# Eighth session: the branch-free P build (both wgmma kernels), TMA loads for KC <= 128 too (the
# dispatcher no longer picks the cp.async kernel), the decay tables by repeated squaring, and
# the first chunk's TMA issued before them; against the session's start (build/ret-base-src).
# Float64 checks (retention_lab.py --no-time), forward and backward against the base and
# chunk_retention in one process, every CUDA test, the 1.3B step.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
G="-gencode arch=compute_90a,code=sm_90a"
(GENCODE="$G" SRC=build/ret-base-src/retention.cu dev/cuda/build.sh build/ret-base >"$OUT/retlib-base.log" 2>&1) &
P1=$!
GENCODE="$G" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
P2=$!
cuda_build
wait $P1 $P2
N=build/ret-cuda/libretention_cuda.so B=build/ret-base/libretention_cuda.so
RETNET_CUDA_LIB=$N timeout 200 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab checks: exit $? at $((SECONDS - t0)) s: $(grep -c '^  ok' $OUT/lab.log) ok, $(grep -c BAD $OUT/lab.log) BAD"
grep BAD "$OUT/lab.log" | head
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 240 python3 dev/cuda/fwd_ab.py base=$B new=$N \
  new_cpasync=$N:0:0:3 2>&1 | grep -v Warn | tee "$OUT/fwd-ab.txt"
train_ab 0
TEST_TIMEOUT=200 cuda_tests
echo "total $((SECONDS - t0)) s"
(cd "$OUT" && tar czf logs.tgz build.log retlib*.log lab.json 2>/dev/null && rm -f build.log retlib*.log lab.json)
