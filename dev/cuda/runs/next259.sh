#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6's tensor-core consumer read straight from the
# stage as one bulk copy left it (tc 2: ld.shared.v4 a lane, the mma's k order permuted to
# match, no padding, one copy a stage) against tc 1 (padded rows, a copy a row, ldmatrix), each
# with its floor (the same ring, no products). RING_PATTERN: every row checked against float64;
# two mutants (rows 8-15 dropped; x's words swapped in tc 2's first mma) must fail the check.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a"
# (tc 2's code lives in tc_rows.cuh since the commit after this call)
lab_mutants dev/cuda/tc_rows.cuh dev/cuda/ring_lab.cu "$NV" \
  's/if (KK == 2048 \&\& g + 8 < n) prow\[g + 8\]/if (KK == 2048 \&\& g + 8 < n - 1) prow[g + 8]/' \
  's/A.y, B.y, X.x, X.y/A.y, B.y, X.y, X.x/' || exit 1
ring_lab_runs RING_TCD=1 || exit 1
for i in 1 2; do
  echo "== mutant $i (tc rows: the check must fail there)"
  RING_ONLY6=1 RING_TCD=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab_mut$i | grep -E "^\| 6.*direct|check:" | tail -6
done
echo "total $((SECONDS - t0)) s"
