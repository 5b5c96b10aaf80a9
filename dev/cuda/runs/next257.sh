#!/usr/bin/env bash
# Thirty-fifth session: does the consumers' speed set what a meeting costs? ring_lab.cu mode 6
# (two meetings a layer) three ways: the products' arithmetic left out (timing only: the
# consumers only wait for stages and hand them back); x held as bf16 in shared memory (half the
# shared-memory reads of x a weight); the products on tensor cores (tc: rows padded in the
# ring, ldmatrix + mma.m16n8k16, the warps' sums added in warp order). RING_PATTERN: weights and
# x that differ along rows and columns, every row checked against float64 within K 2^-24
# sum|terms|; two mutants of the tc consumer (rows 8-15 dropped; x's two halves of a k-step
# swapped) must fail that check.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a"
# (the mutants' expressions as the code reads since next258: two chains of mma)
lab_mutants dev/cuda/ring_lab.cu dev/cuda/ring_lab.cu "$NV" \
  's/if (KK == 2048 \&\& g + 8 < n) prow\[g + 8\]/if (KK == 2048 \&\& g + 8 < n - 1) prow[g + 8]/' \
  's/x32\[k2 + t\] : 0u, b1 = g == 0 ? x32\[k2 + 4 + t\]/x32[k2 + 4 + t] : 0u, b1 = g == 0 ? x32[k2 + t]/' || exit 1
ring_lab_runs RING_CONS=1 || exit 1
for i in 1 2; do
  echo "== mutant $i (tc rows only: the check must fail there)"
  RING_ONLY6=1 RING_CONS=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab_mut$i | grep -E "^\| 6|check:" | tail -6
done
echo "total $((SECONDS - t0)) s"
