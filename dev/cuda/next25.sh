#!/usr/bin/env bash
# Eighth session: warpgroup 0 of the TMA kernel stores chunk ci's O in chunk ci + 1, under that
# chunk's Q K^T (where O has a staging buffer of its own: KC <= 128), against the previous
# commit (build/ret-base-src) and lab flag 1024 (not deferred); float64 checks; forward and
# backward against chunk_retention; test_cuda_retention.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
G="-gencode arch=compute_90a,code=sm_90a"
(GENCODE="$G" SRC=build/ret-base-src/retention.cu dev/cuda/build.sh build/ret-base >"$OUT/retlib-base.log" 2>&1) &
P1=$!
GENCODE="$G" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
P2=$!
cuda_build build-cuda/cuda/tests/test_cuda_retention
wait $P1 $P2
N=build/ret-cuda/libretention_cuda.so B=build/ret-base/libretention_cuda.so
RETNET_CUDA_LIB=$N timeout 200 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab checks: exit $? at $((SECONDS - t0)) s: $(grep -c '^  ok' $OUT/lab.log) ok, $(grep -c BAD $OUT/lab.log) BAD"
grep BAD "$OUT/lab.log" | head
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_retention
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 240 python3 dev/cuda/fwd_ab.py prev=$B new=$N \
  new_nodefer=$N:0:1024 2>&1 | grep -v Warn | tee "$OUT/fwd-ab.txt"
echo "total $((SECONDS - t0)) s"
