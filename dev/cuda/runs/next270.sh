#!/usr/bin/env bash
# Thirty-sixth session: the round trips that next269's trace found, each removed at compile
# time (mega_lab.cu's MEGA_XREP and MEGA_FIX): x as 4 or 8 copies for the red.adds (the
# arrival after down's red.adds took 4.5 us: 128 blocks adding into 64 L2 lines), wo's rows by
# red.add, z and the sums in one trip, q and k tagged (no head counter). Each variant checked
# against float64 and timed; base and all-fixes traced (raw traces to $OUT).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([base]="" [x4]="-DMEGA_XREP=4" [x8]="-DMEGA_XREP=8" [f7]="-DMEGA_FIX=7"
  [x8f7]="-DMEGA_XREP=8 -DMEGA_FIX=7" [x4f7]="-DMEGA_XREP=4 -DMEGA_FIX=7")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in base x4 x8 f7 x4f7 x8f7; do
    echo "== $v ($i)"
    tf=/tmp/trace.bin; [ $i = 1 ] && case $v in base|x4f7|x8f7) tf=$OUT/trace_$v.bin;; esac
    MEGA_TRACE_FILE=$tf timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|lab 15|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
