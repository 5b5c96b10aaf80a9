#!/usr/bin/env bash
# Thirty-sixth session: next271's best (x in 4 copies, FIX 31) with two more stamps (after a
# segment's sums, after the next segment's pointers), to find the 3.5 us between v and g that
# appeared in every layer but the first once the state came through the ring; and FIX 32 (the
# layers' weight pointers from shared memory, not the kernel's parameters). Raw traces to $OUT.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([base]="" [x4f31]="-DMEGA_XREP=4 -DMEGA_FIX=31" [x4f63]="-DMEGA_XREP=4 -DMEGA_FIX=63"
  [f63]="-DMEGA_FIX=63")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in base x4f31 x4f63 f63; do
    echo "== $v ($i)"
    tf=/tmp/trace.bin; [ $i = 1 ] && case $v in x4f31|x4f63) tf=$OUT/trace_$v.bin;; esac
    MEGA_TRACE_FILE=$tf timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|lab  1 |lab 15|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
