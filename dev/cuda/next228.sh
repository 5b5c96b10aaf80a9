#!/usr/bin/env bash
# Thirty-first session, call 6: the TMA kernel's persistent grid (a block walks several
# (b, h, tile) items, the next item's first chunk loaded under the last one's). The library
# and every CUDA target for sm_90a built side by side; dev/cuda/persist_check.py (persistent
# against the plain grid, bit for bit, forward with and without states and the backward);
# fwd_ab.py persistent against plain (lab flag 4096), a b a b; then every CUDA test.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
(GENCODE="$CUDA_GENCODE" dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s") &
JOBS=12 cuda_build
wait
export RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so
timeout 120 python3 dev/cuda/persist_check.py 2>&1 | tee "$OUT/persist_check.log"
L=$RETNET_CUDA_LIB
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 150 python3 dev/cuda/fwd_ab.py \
  per=$L::0 plain=$L::4096 per2=$L::0 plain2=$L::4096 2>&1 | tee "$OUT/fwd_ab.log"
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
