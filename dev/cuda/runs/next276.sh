#!/usr/bin/env bash
# Thirty-sixth session: the new defaults (x in 2 copies, FIX 95) against x in 1 and 3 copies,
# and the ring's 192 KB in stages of 48 KB (4) and 32 KB (6) instead of 64 KB (3); two runs each.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([def]="" [x1]="-DMEGA_XREP=1" [x3]="-DMEGA_XREP=3" [s48]="-DMEGA_STAGE_KB=48"
  [s32]="-DMEGA_STAGE_KB=32")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2; do
  for v in def x1 x3 s48 s32; do
    echo "== $v ($i)"
    timeout 150 /tmp/mega_$v 24 20 | grep -E "check|step \(|drain"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
