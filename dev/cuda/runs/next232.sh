#!/usr/bin/env bash
# Thirty-second session, call 4: next231 put warpgroup 1's ~5.5 us at the start (H8; 2.7 at
# H16) before its first state store, in the state's initialisation, not its fence. That
# initialisation now zeroes the registers and reads s_init only when there is one. The trace
# again (st should fall), the retention lab's float64 checks on the new library, and main's
# kernel (build/src-main, carried) against it, a b a b, with fla in the process.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-main/retention.cu src/cuda/retention_main.cu
NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1 &
SRC=src/cuda/retention_main.cu dev/cuda/build.sh build/ret-main > "$OUT/main-build.log" 2>&1 &
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
wait; echo "builds done in $((SECONDS - t0)) s"; grep "wg_kernelILi" "$OUT/lib-build.log" "$OUT/main-build.log" | grep "ELi0EEv"
RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 120 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab.log" 2>&1; echo "lab exit $? after $((SECONDS - t0)) s"; tail -3 "$OUT/lab.log"
M=build/ret-main/libretention_cuda.so N=build/ret-cuda/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 300 python3 dev/cuda/fwd_ab.py main=$M new=$N main2=$M new2=$N 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
