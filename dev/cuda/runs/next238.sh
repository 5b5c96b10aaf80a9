#!/usr/bin/env bash
# Thirty-third session, call 2: next237's trace put ~1.2 us of each 2.7 us chunk (H8; 0.64 of
# 1.8 at H16) between the top barrier and warpgroup 0's start: thread 0 sending the next
# chunk's TMA boxes (9 at H8, 5 at H16) while warpgroup 1 waited ~1.7 us at the barrier.
# Variants (RET_ISS): 1 thread 128 sends them at the top (H8's bf16 O staged in its own
# buffer, which fits, so the Q buffer's reload need not wait for the O store); 2 the boxes
# shared over warpgroup 1's four warps; 3 sent by warpgroup 1's four warps as soon as both
# warpgroups are done with chunk ci's buffers (chunk ci + 2's, a named barrier); 4 the same by
# one thread. HEAD's kernel (build/src-head, carried) against them, a b a b, fla in the process.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-head/retention.cu src/cuda/retention_head.cu
SRC=src/cuda/retention_head.cu dev/cuda/build.sh build/ret-head > "$OUT/head-build.log" 2>&1 &
for v in 1 2 3 4; do NVCC_EXTRA=-DRET_ISS=$v dev/cuda/build.sh build/ret-i$v > "$OUT/i$v-build.log" 2>&1 & done
NVCC_EXTRA="-DRET_ISS=3 -DRET_WG_TRACE" dev/cuda/build.sh build/ret-trace3 > "$OUT/trace-build.log" 2>&1 &
wait; echo "builds done in $((SECONDS - t0)) s"; grep -h "wg_kernelILi256ELi64ELi2ELi0\|wg_kernelILi128ELi64ELi2ELi0" "$OUT"/head-build.log "$OUT"/i*-build.log
ls build/ret-*/libretention_cuda.so
RETNET_CUDA_LIB=build/ret-i3/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab3.log" 2>&1; echo "lab i3 exit $? after $((SECONDS - t0)) s"; tail -3 "$OUT/lab3.log"
RETNET_CUDA_LIB=build/ret-trace3/libretention_cuda.so timeout 100 python3 dev/cuda/fwd_trace.py 2>&1 | tee "$OUT/fwd_trace3.log"
H=build/ret-head/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 330 python3 dev/cuda/fwd_ab.py head=$H i1=build/ret-i1/libretention_cuda.so i2=build/ret-i2/libretention_cuda.so i3=build/ret-i3/libretention_cuda.so i4=build/ret-i4/libretention_cuda.so head2=$H i3b=build/ret-i3/libretention_cuda.so 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
