#!/usr/bin/env bash
# Thirty-third session, call 3: next238's two winners, the next chunk's boxes sent at the top
# by thread 128 (RET_ISS 1) or by warpgroup 1's four warps (2): the float64 lab on both,
# their traces, and a b a b against HEAD's kernel with fla in the process.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-head/retention.cu src/cuda/retention_head.cu
SRC=src/cuda/retention_head.cu dev/cuda/build.sh build/ret-head > "$OUT/head-build.log" 2>&1 &
for v in 1 2; do
    NVCC_EXTRA=-DRET_ISS=$v dev/cuda/build.sh build/ret-i$v > "$OUT/i$v-build.log" 2>&1 &
    NVCC_EXTRA="-DRET_ISS=$v -DRET_WG_TRACE" dev/cuda/build.sh build/ret-trace$v > "$OUT/trace$v-build.log" 2>&1 &
done
wait; echo "builds done in $((SECONDS - t0)) s"
for v in 1 2; do
    RETNET_CUDA_LIB=build/ret-i$v/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab$v.log" 2>&1; echo "lab i$v exit $? after $((SECONDS - t0)) s"; grep -i "passed\|failed" "$OUT/lab$v.log" | tail -2
    RETNET_CUDA_LIB=build/ret-trace$v/libretention_cuda.so timeout 100 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace$v.log"
done
H=build/ret-head/libretention_cuda.so I1=build/ret-i1/libretention_cuda.so I2=build/ret-i2/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 300 python3 dev/cuda/fwd_ab.py head=$H i1=$I1 i2=$I2 i1b=$I1 i2b=$I2 head2=$H 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
