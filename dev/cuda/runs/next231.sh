#!/usr/bin/env bash
# Thirty-second session, call 3: next230 found the first chunk's wait to be warpgroup 1's start
# (the barrier before it: 5.9 us of the 7 at H8), not the load. Warpgroup 1's start split at
# its first state store's proxy fence (fence.proxy.async: does it wait for the TMA loads in
# flight?), and runs without that fence (lab 2048) and without any of warpgroup 1's fences
# (4096; both timing only); then 4096 a b a b in the plain library.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1 &
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
wait; echo "trace build: done in $((SECONDS - t0)) s"; grep "wg_kernelILi256ELi64ELi2ELi0" "$OUT/trace-build.log" "$OUT/lib-build.log"
TRACE_FLAGS=2048,4096 RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 200 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
L=build/ret-cuda/libretention_cuda.so
timeout 200 python3 dev/cuda/fwd_ab.py plain=$L:64:0 nf1=$L:64:2048 nf=$L:64:4096 plain2=$L:64:0 nf2=$L:64:4096 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
