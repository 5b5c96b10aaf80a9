#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6's tensor-core consumer read straight from the
# stage as one bulk copy left it (tc 2: ld.shared.v4 a lane, the mma's k order permuted to
# match, no padding, one copy a stage) against tc 1 (padded rows, a copy a row, ldmatrix), each
# with its floor (the same ring, no products). RING_PATTERN: every row checked against float64;
# two mutants (rows 8-15 dropped; x's words swapped in tc 2's first mma) must fail the check.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
sed 's/if (KK == 2048 \&\& g + 8 < n) prow\[g + 8\]/if (KK == 2048 \&\& g + 8 < n - 1) prow[g + 8]/' dev/cuda/ring_lab.cu >/tmp/ring_mut1.cu
sed 's/A.y, B.y, X.x, X.y/A.y, B.y, X.y, X.x/' dev/cuda/ring_lab.cu >/tmp/ring_mut2.cu
for i in 1 2; do
  cmp -s dev/cuda/ring_lab.cu /tmp/ring_mut$i.cu && { echo "mutant $i is the same file"; exit 1; }
  (cd dev/cuda && nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_mut$i /tmp/ring_mut$i.cu -I.) || exit 1
done
for i in 1 2; do
  echo "== run $i"
  RING_ONLY6=1 RING_TCD=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain|drain [-0-9]+:"
done | tee "$OUT/ring_lab.txt"
for i in 1 2; do
  echo "== mutant $i (tc rows: the check must fail there)"
  RING_ONLY6=1 RING_TCD=1 RING_PATTERN=1 timeout 150 /tmp/ring_mut$i | grep -E "^\| 6.*direct|check:" | tail -6
done
echo "total $((SECONDS - t0)) s"
