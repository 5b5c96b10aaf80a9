#!/usr/bin/env bash
# Thirty-second session, call 2: next229 found a block's first chunk arriving ~7 us after its
# loads were asked for (H8; ~3.7 us at H16), where a chunk's loads take ~2.5 us in the loop.
# The trace again with the issue's own time, the barrier before the wait and warpgroup 1's
# start apart, and with the tensor maps prefetched at the start (lab flag 1024); then that
# flag a b a b in the plain library.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1 &
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
wait; echo "trace build: done in $((SECONDS - t0)) s"; grep "wg_kernelILi256ELi64ELi2ELi0" "$OUT/trace-build.log" "$OUT/lib-build.log"
TRACE_FLAGS=1024 RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 200 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
L=build/ret-cuda/libretention_cuda.so
timeout 200 python3 dev/cuda/fwd_ab.py plain=$L:64:0 pf=$L:64:1024 plain2=$L:64:0 pf2=$L:64:1024 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
