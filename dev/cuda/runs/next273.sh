#!/usr/bin/env bash
# Thirty-sixth session: FIX 64 (the state's segment after g, next to its use, instead of after
# k) and x in 2 copies, against next271's best (x in 4 copies, FIX 31); checked and timed,
# x4f95 traced (raw trace to $OUT).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([x4f31]="-DMEGA_XREP=4 -DMEGA_FIX=31" [x4f95]="-DMEGA_XREP=4 -DMEGA_FIX=95"
  [x2f31]="-DMEGA_XREP=2 -DMEGA_FIX=31" [x2f95]="-DMEGA_XREP=2 -DMEGA_FIX=95")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in x4f31 x4f95 x2f31 x2f95; do
    echo "== $v ($i)"
    tf=/tmp/trace.bin; [ $i = 1 ] && [ $v = x4f95 ] && tf=$OUT/trace_$v.bin
    MEGA_TRACE_FILE=$tf timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|lab  1 |lab 15|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
