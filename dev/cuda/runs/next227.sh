#!/usr/bin/env bash
# Thirty-first session, call 5: where the H8 forward's extra 7% a chunk at T = 2k comes from
# (dev/cuda/fwd_waves.py: tile 64, B x T from 16 x 2k to 2 x 16k and below 2k, with and
# without the loads after the first chunk).
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so python3 dev/cuda/fwd_waves.py 2>&1 | tee "$OUT/fwd_waves.log"
echo "total $((SECONDS - t0)) s"
