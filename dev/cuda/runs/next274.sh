#!/usr/bin/env bash
# Thirty-sixth session: FIX 128, every wait on another block as tagged values (no counters,
# fences or red.adds; x owned by rows, down's partials summed by each row's owner in block
# order, so the step's bits repeat), against next273's best (x in 2 copies, FIX 95). Checked
# against float64 and timed; LL run twice more to see its bits repeat (the x check line);
# traced (raw trace to $OUT).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([x2f95]="-DMEGA_XREP=2 -DMEGA_FIX=95" [ll]="-DMEGA_FIX=212")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in x2f95 ll; do
    echo "== $v ($i)"
    tf=/tmp/trace.bin; [ $i = 1 ] && [ $v = ll ] && tf=$OUT/trace_$v.bin
    MEGA_TRACE_FILE=$tf timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|lab  1 |lab 15|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
for i in 1 2; do timeout 60 /tmp/mega_ll 24 1 | grep check; done
echo "total $((SECONDS - t0)) s"
