#!/usr/bin/env bash
# Twelfth session, third call: lt_splitk.cu again with each variant timed as 50 calls in one
# CUDA graph (next47 timed back-to-back launches: the small products measured cublasLtMatmul's
# host cost, ~14 us); an ncu per-kernel profile (durations, DRAM bytes) of the 1.3B decoding
# step at B = 64 with the joined products, graphs off, to see where its 4.86 ms go.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
nvcc -O2 $CUDA_GENCODE dev/cuda/lt_splitk.cu -lcublasLt -o /tmp/lt_splitk &
cuda_build build-cuda/retnet
wait
/tmp/lt_splitk | tee "$OUT/lt-splitk.txt"
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
RETNET_CUDA_GRAPHS=0 timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --print-summary per-kernel \
  $R bench decode --config $CFG --device cuda --batch 64 --context 64 --steps 2 --warmup 0 >"$OUT/ncu-decode-b64.txt" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
ncu_summary "$OUT/ncu-decode-b64.txt"
grep -m3 -i "error" "$OUT/ncu-decode-b64.txt"
echo "total $((SECONDS - t0)) s"
