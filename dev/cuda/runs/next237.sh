#!/usr/bin/env bash
# Thirty-second session, call 9: a middle chunk (chunk 2) of the forward traced phase by phase
# in both warpgroups (fwd_trace.py's "chunk 2" line), to see what the 2.3 us chunk waits on.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
GENCODE="-gencode arch=compute_90a,code=sm_90a" NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1; echo "trace build: exit $? in $((SECONDS - t0)) s"
RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 100 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
echo "total $((SECONDS - t0)) s"
