#!/usr/bin/env bash
# Thirty-second session, call 5: next232's initialisation change (build/src-init, carried)
# took warpgroup 1's start from 6.8 to 1.5 us (H8) and the forward 3-10% faster. Now the
# second chunk's loads go out at the start with the first's (a block waited 1.2 us for them
# at chunk 1). The trace, the lab's float64 checks, and main / init / init + both loads,
# a b c a b c, forward and backward, with fla in the process.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-main/retention.cu src/cuda/retention_main.cu
cp build/src-init/retention.cu src/cuda/retention_init.cu
NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1 &
SRC=src/cuda/retention_main.cu dev/cuda/build.sh build/ret-main > "$OUT/main-build.log" 2>&1 &
SRC=src/cuda/retention_init.cu dev/cuda/build.sh build/ret-init > "$OUT/init-build.log" 2>&1 &
dev/cuda/build.sh build/ret-cuda > "$OUT/lib-build.log" 2>&1; echo "lib build: exit $? in $((SECONDS - t0)) s"
wait; echo "builds done in $((SECONDS - t0)) s"; grep "wg_kernelILi" "$OUT"/*-build.log | grep "ELi0EEv" | grep "Li256ELi64\|Li128ELi64"
RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 120 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab.log" 2>&1; echo "lab exit $? after $((SECONDS - t0)) s"; grep CORRECTNESS "$OUT/lab.log"
M=build/ret-main/libretention_cuda.so I=build/ret-init/libretention_cuda.so N=build/ret-cuda/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 300 python3 dev/cuda/fwd_ab.py main=$M init=$I both=$N main2=$M init2=$I both2=$N 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
