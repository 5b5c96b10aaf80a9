#!/usr/bin/env bash
# Thirty-third session, call 7: two changes against 3beaf2c (build/src-head, build/base.tar).
# a: where fp32 O is staged in the Q buffer (KC 256: training's forward, the backward's fp32
#    passes), only the Q slabs wait for thread 0 (its store's read); K and V go from
#    warpgroup 1 as elsewhere. b (RET_OST1, lab): warpgroup 0 only stages O; thread 128 sends it
#    after the next top barrier and warp 4 frees the buffer by a named barrier (next242's trace:
#    0.5 us of wg0's 2.1 us chunk staging and sending O). The float64 lab on a and b, a b a b
#    against 3beaf2c with fla in the process, and the 1.3B training step (fp32 O at H8) a b a b.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-head/retention.cu src/cuda/retention_head.lab # not in make's src/cuda/*.cu
NVCC_EXTRA="-x cu" SRC=src/cuda/retention_head.lab dev/cuda/build.sh build/ret-head > "$OUT/head-build.log" 2>&1 &
NVCC_EXTRA=-DRET_OST1=0 dev/cuda/build.sh build/ret-a > "$OUT/a-build.log" 2>&1 &
NVCC_EXTRA=-DRET_OST1=1 dev/cuda/build.sh build/ret-b > "$OUT/b-build.log" 2>&1 &
cuda_build_base
JOBS=8 cuda_build
wait; echo "builds done in $((SECONDS - t0)) s"; ls build/ret-head build/ret-a build/ret-b | grep -c so
for v in a b; do
    RETNET_CUDA_LIB=build/ret-$v/libretention_cuda.so timeout 200 python3 dev/cuda/retention_lab.py > "$OUT/lab$v.log" 2>&1; echo "lab $v exit $? after $((SECONDS - t0)) s"; grep "CORRECTNESS" "$OUT/lab$v.log"
done
H=build/ret-head/libretention_cuda.so A=build/ret-a/libretention_cuda.so B=build/ret-b/libretention_cuda.so
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 200 python3 dev/cuda/fwd_ab.py head=$H a=$A b=$B a2=$A b2=$B 2>&1 | tee "$OUT/fwd_ab.log"
for r in new base new2 base2; do
  bin=build-cuda/retnet; case $r in base*) bin=$BASE/build-cuda/retnet ;; esac
  printf '%s B 8 T 2048: ' "$r"
  timeout 60 $bin bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 8 --seq 2048 \
    --steps 6 --warmup 2 --json 2>/dev/null | tail -1 | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(r.get('ms_per_step'), 'ms MFU', r.get('mfu'))"
done
echo "total $((SECONDS - t0)) s"
