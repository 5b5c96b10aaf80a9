#!/usr/bin/env bash
# Thirty-third session, call 6: the new kernel traced (3beaf2c plus two stamps in chunk 2's O
# path: the staging buffer free, O staged and its store sent), to split the 0.8 us that
# next239's trace put between P V and the chunk's end at H8.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
GENCODE="-gencode arch=compute_90a,code=sm_90a" NVCC_EXTRA=-DRET_WG_TRACE dev/cuda/build.sh build/ret-trace > "$OUT/trace-build.log" 2>&1; echo "trace build: exit $? in $((SECONDS - t0)) s"
RETNET_CUDA_LIB=build/ret-trace/libretention_cuda.so timeout 100 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace.log"
echo "total $((SECONDS - t0)) s"
