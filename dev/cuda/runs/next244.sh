#!/usr/bin/env bash
# Thirty-third session, call 8: (lab RET_O2) two O staging buffers where they fit (H16: KC 128),
# so that warpgroup 0 need not wait for the last store's read (and a barrier) before staging:
# thread 0 waits for the store before last after sending each one, before the top barrier
# (next242: 0.17 us of H16's 1.5 us chunk). H8 does not fit two (its code is unchanged: a
# control). The lab's float64 checks on it, a b a b against the default build.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
NVCC_EXTRA=-DRET_O2=0 dev/cuda/build.sh build/ret-o0 > "$OUT/o0-build.log" 2>&1 &
NVCC_EXTRA=-DRET_O2=1 dev/cuda/build.sh build/ret-o1 > "$OUT/o1-build.log" 2>&1 &
wait; echo "builds done in $((SECONDS - t0)) s"
RETNET_CUDA_LIB=build/ret-o1/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab.log" 2>&1; echo "lab exit $? after $((SECONDS - t0)) s"; grep "CORRECTNESS" "$OUT/lab.log"
A=build/ret-o0/libretention_cuda.so B=build/ret-o1/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 200 python3 dev/cuda/fwd_ab.py base=$A o2=$B base2=$A o2b=$B 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
