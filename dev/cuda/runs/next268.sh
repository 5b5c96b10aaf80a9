#!/usr/bin/env bash
# Thirty-sixth session: mega_lab.cu traced from inside (TRACE: each stage's issue by the
# producer, its landing seen by a watcher lane, the consumers' waits, meetings, head waits and
# segment barriers, by %globaltimer): how long each block's stream stood idle (no stage in
# flight) and what the consumers were doing meanwhile. wo by rows twice, then WOS.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp \
  -o /tmp/mega_lab dev/cuda/mega_lab.cu || exit 1
for i in 1 2; do
  MEGA_TRACE_FILE=$OUT/trace_rows$i.bin timeout 150 /tmp/mega_lab 24 20 | tee -a "$OUT/mega_lab.txt"
done
MEGA_WOS=1 MEGA_TRACE_FILE=$OUT/trace_wos.bin timeout 150 /tmp/mega_lab 24 20 | tee -a "$OUT/mega_lab.txt"
echo "total $((SECONDS - t0)) s"
