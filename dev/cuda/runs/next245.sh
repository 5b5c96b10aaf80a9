#!/usr/bin/env bash
# Thirty-third session, call 9: fp32 O at KC 256 (training's forward and its gradients' passes,
# still the old path after 3beaf2c: thread 0 sends all 9 boxes after its O store's read) as a
# kernel of its own (wg_kernel<..., OQ = true>; every other instantiation's PTX unchanged):
# warpgroup 0 only stages O; thread 128 sends it after the next top barrier, waits for its read,
# then sends the Q slabs into that buffer; warps 5-7 send K and V. The float64 lab (its fp32
# cases at dk 256 run it), then a b a b against HEAD's kernel with fp32 o and gradients.
cd "$(dirname "$0")/../../.."
export PYTHONUNBUFFERED=1
t0=$SECONDS
export GENCODE="-gencode arch=compute_90a,code=sm_90a"
cp build/src-head/retention.cu src/cuda/retention_head.lab # not in make's src/cuda/*.cu
NVCC_EXTRA="-x cu" SRC=src/cuda/retention_head.lab dev/cuda/build.sh build/ret-head > "$OUT/head-build.log" 2>&1 &
dev/cuda/build.sh build/ret-oq > "$OUT/oq-build.log" 2>&1 &
wait; echo "builds done in $((SECONDS - t0)) s"; grep "ILi256ELi64ELi2ELi0" "$OUT"/*-build.log
RETNET_CUDA_LIB=build/ret-oq/libretention_cuda.so timeout 120 python3 dev/cuda/retention_lab.py > "$OUT/lab.log" 2>&1; echo "lab exit $? after $((SECONDS - t0)) s"; grep "CORRECTNESS" "$OUT/lab.log"
H=build/ret-head/libretention_cuda.so N=build/ret-oq/libretention_cuda.so
FWD_AB_F32=1 FWD_AB_BWD=1 timeout 90 python3 dev/cuda/fwd_ab.py head=$H oq=$N head2=$H oq2=$N 2>&1 | tee "$OUT/fwd_ab.log"
echo "total $((SECONDS - t0)) s"
