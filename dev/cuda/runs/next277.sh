#!/usr/bin/env bash
# Thirty-sixth session: next276's best (48 KB stages, no drain at the meetings) with x in 1 and
# 2 copies, against the 64 KB defaults; three runs each, alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
declare -A V=([def]="" [s48x1]="-DMEGA_STAGE_KB=48 -DMEGA_XREP=1" [s48x2]="-DMEGA_STAGE_KB=48")
for v in "${!V[@]}"; do $NV ${V[$v]} -o /tmp/mega_$v dev/cuda/mega_lab.cu & done
wait
echo "built in $((SECONDS - t0)) s"
for i in 1 2 3; do
  for v in def s48x1 s48x2; do
    echo "== $v ($i)"
    timeout 150 /tmp/mega_$v 24 30 | grep -E "check|step \(|drain"
  done
done 2>&1 | tee "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
