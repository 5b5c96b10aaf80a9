#!/usr/bin/env bash
# Thirty-first session, call 4: main's files with the helper's train guards and the wgmma
# kernels' end waiting only for their O stores' reads: every CUDA target for sm_90a and
# every CUDA test, then that change against the old end (lab flag 2048) in one process,
# forward and backward at the benchmark's shapes (dev/cuda/fwd_ab.py, a b a b).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" TRITON_CACHE_DIR=/tmp/tcache PYTHONUNBUFFERED=1
JOBS=16 cuda_build
(dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $?") &
TEST_TIMEOUT=150 cuda_tests
wait
L=build/ret-cuda/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 200 python3 dev/cuda/fwd_ab.py \
  read=$L::0 all=$L::2048 read2=$L::0 all2=$L::2048 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
