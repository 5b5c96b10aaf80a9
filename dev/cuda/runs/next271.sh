#!/usr/bin/env bash
# Thirty-sixth session: after next270 (x in 4 copies and FIX 7 the best, 2%), two more of the
# trace's stalls removed: down's rows added to x by each row's thread as it is made (FIX 8:
# the arrival after down waited 3.9 us for its red.adds), and the state slice streamed through
# the ring as a segment (FIX 16: the 32 loads a thread from global memory held the consumers
# 3 us). Each variant checked against float64 and timed; three traced (raw traces to $OUT).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([base]="" [x4f7]="-DMEGA_XREP=4 -DMEGA_FIX=7" [x4f15]="-DMEGA_XREP=4 -DMEGA_FIX=15"
  [x4f23]="-DMEGA_XREP=4 -DMEGA_FIX=23" [x4f31]="-DMEGA_XREP=4 -DMEGA_FIX=31" [f31]="-DMEGA_FIX=31")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in base x4f7 x4f15 x4f23 x4f31 f31; do
    echo "== $v ($i)"
    tf=/tmp/trace.bin; [ $i = 1 ] && case $v in x4f15|x4f23|x4f31) tf=$OUT/trace_$v.bin;; esac
    MEGA_TRACE_FILE=$tf timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|lab  1 |lab 15|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
