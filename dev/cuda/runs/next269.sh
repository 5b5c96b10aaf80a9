#!/usr/bin/env bash
# Thirty-sixth session: mega_lab.cu traced with the meetings split (arrival, the last arrival
# seen, the drain), the norms' and z's reloads stamped; the arrivals as a fence and an atomic
# add against one red.release (MEGA_RED_ARRIVE); the ring at 128 KB (2 x 64) and 96 KB (3 x 32)
# against 192 KB. Raw traces to $OUT.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
$NV -o /tmp/mega_a dev/cuda/mega_lab.cu || exit 1
$NV -DMEGA_RED_ARRIVE -o /tmp/mega_r dev/cuda/mega_lab.cu || exit 1
$NV -DMEGA_RING_KB=128 -o /tmp/mega_128 dev/cuda/mega_lab.cu || exit 1
$NV -DMEGA_RING_KB=96 -DMEGA_STAGE_KB=32 -o /tmp/mega_96 dev/cuda/mega_lab.cu || exit 1
for i in 1 2; do
  for v in a r 128 96; do
    echo "== $v ($i)"
    MEGA_TRACE_FILE=$OUT/trace_$v$i.bin timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|drain|in all|busy|meeting"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
