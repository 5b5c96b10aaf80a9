#!/usr/bin/env bash
# Thirty-first session, call 3: the TMA kernel with Q and K multicast over clusters of 2 and 4
# blocks (the output tiles of one head), against none, forward and backward at the
# benchmark's shapes, with chunk_retention in the same process (dev/cuda/fwd_ab.py). Only
# clusters of 8 had been measured (slower: the eighth session). Why now: a block of the H8
# forward loads 72 KB a chunk (Q and K 64 KB, shared by the head's 8 blocks) every ~2.5 us,
# ~3.8 TB/s from L2 over 132 SMs.
cd "$(dirname "$0")/../../.."
export TRITON_CACHE_DIR=/tmp/tcache PYTHONUNBUFFERED=1
t0=$SECONDS
[ -f build/ret-cuda/libretention_cuda.so ] || dev/cuda/build.sh build/ret-cuda > "$OUT/build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
L=build/ret-cuda/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 420 python3 dev/cuda/fwd_ab.py \
  none=$L::::1 c2=$L::::2 c4=$L::::4 none2=$L::::1 c2b=$L::::2 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
