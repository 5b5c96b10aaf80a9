#!/usr/bin/env bash
# Thirty-second session, call 1: the forward's blocks traced from inside (fwd_trace.py: clock64
# stamps at each phase, a library built with -DRET_WG_TRACE), to find what the ~7 us a block
# at T = 2k is (next227). Then, in the plain library, wg_kernel launched without the cluster
# attribute (now the default) against with it (lab flag 512), a b a b (fwd_ab.py, no fla).
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1 &
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
wait; echo "trace build: done in $((SECONDS - t0)) s"; grep "wg_kernelILi256ELi64ELi2ELi0" "$OUT/trace-build.log" "$OUT/lib-build.log"
RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 200 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
L=build/ret-cuda/libretention_cuda.so
timeout 200 python3 dev/cuda/fwd_ab.py plain=$L:64:0 attr=$L:64:512 plain2=$L:64:0 attr2=$L:64:512 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
