#!/usr/bin/env bash
# Thirty-fifth session: mega_lab.cu with wo split by each block's 32 columns of o (MEGA_WOS: wo
# stored as [128][2048][32] slices, y added to x by red.add, the head norm's sums met on a
# counter a head: two meetings a layer) against wo by rows (three), in one call; each checked
# layer by layer against float64 (2 and 24 layers), the WOS form's mutants (the rotation's
# sign; the decay left out) must fail.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
$NV -o /tmp/mega_lab dev/cuda/mega_lab.cu || exit 1
sed 's/qr\[tid\] = q0 \* c - q1 \* sn/qr[tid] = q0 * c + q1 * sn/' dev/cuda/mega_lab.cu >/tmp/mega_mut1.cu
sed 's/const float sv = gamma \* sreg\[j\]/const float sv = sreg[j]/' dev/cuda/mega_lab.cu >/tmp/mega_mut2.cu
for i in 1 2; do
  cmp -s dev/cuda/mega_lab.cu /tmp/mega_mut$i.cu && { echo "mutant $i is the same file"; exit 1; }
  (cd dev/cuda && $NV -I. -o /tmp/mega_mut$i /tmp/mega_mut$i.cu) || exit 1
done
{
  MEGA_WOS=1 timeout 120 /tmp/mega_lab 2 5
  for i in 1 2; do
    MEGA_WOS=1 timeout 200 /tmp/mega_lab 24 30
    timeout 200 /tmp/mega_lab 24 30
  done
} 2>&1 | tee "$OUT/mega_lab.txt"
for i in 1 2; do echo "== mutant $i (WOS)"; MEGA_WOS=1 timeout 120 /tmp/mega_mut$i 2 1 | grep check; done
echo "total $((SECONDS - t0)) s"
