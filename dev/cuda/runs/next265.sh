#!/usr/bin/env bash
# Thirty-fifth session, after the review (lab.cuh: CK and the plain read shared by ring_lab.cu
# and mega_lab.cu; tc_rows.cuh's mma loop shared by tc 2 and tc 3; ring_lab's two producer loops
# one): the ring lab's tensor-core settings (RING_TCD, checked) and the whole step at 24 layers,
# both wo forms (checked), once each.
cd "$(dirname "$0")/../../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a"
$NV -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
$NV -Xcompiler -fopenmp -lgomp -o /tmp/mega_lab dev/cuda/mega_lab.cu || exit 1
{
  RING_ONLY6=1 RING_TCD=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| 6|check:|plain"
  RING_ONLY6=1 RING_B8=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| 6.*8 seq|check:"
  timeout 200 /tmp/mega_lab 24 20 | grep -E "check|step|drain"
  MEGA_WOS=1 timeout 200 /tmp/mega_lab 24 20 | grep -E "check|step|drain"
} 2>&1 | tee "$OUT/review.txt"
echo "total $((SECONDS - t0)) s"
