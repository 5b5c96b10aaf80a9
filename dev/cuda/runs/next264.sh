#!/usr/bin/env bash
# Thirty-fifth session: mega_lab.cu's ring (192 KB) in stages of 32 KB (6), 48 KB (4) and 64 KB
# (3), wo by rows and by o's columns (MEGA_WOS), 24 layers, each checked layer by layer first.
cd "$(dirname "$0")/../../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
for kb in 32 48 64; do
  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp \
    -DMEGA_STAGE_KB=$kb -o /tmp/mega_$kb dev/cuda/mega_lab.cu || exit 1
done
for rep in 1 2; do
  for kb in 32 48 64; do
    echo "== $kb KB stages"
    timeout 200 /tmp/mega_$kb 24 30 | grep -E "check|step|drain"
    MEGA_WOS=1 timeout 200 /tmp/mega_$kb 24 30 | grep -E "check|step|drain"
  done
done 2>&1 | tee "$OUT/mega_stages.txt"
echo "total $((SECONDS - t0)) s"
