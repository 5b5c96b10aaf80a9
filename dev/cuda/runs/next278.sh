#!/usr/bin/env bash
# Thirty-sixth session, the final record: mega_lab.cu at its final defaults (x in 2 copies, FIX 95,
# 48 KB stages, no drain at the meetings)
# and the library's decoding step (`retnet bench decode`, the same fla-shaped 1.3B, B = 1,
# context 64: the kernel chain) alternated twice in one call; then the lab's two mutants (the
# rotation's sign, the decay left out) must fail its check, and the thirty-fifth session's form
# (MEGA_XREP=1 MEGA_FIX=0 MEGA_STAGE_KB=64 MEGA_DRAIN=1) runs once beside it.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet &
mega_build || exit 1
$NV -DMEGA_XREP=1 -DMEGA_FIX=0 -DMEGA_STAGE_KB=64 -DMEGA_DRAIN=1 -o /tmp/mega_old dev/cuda/mega_lab.cu || exit 1
wait
for i in 1 2; do
  decode_run chain build-cuda/retnet 1
  timeout 150 /tmp/mega_lab 24 30 | grep -E "check|step \(|drain" | tee -a "$OUT/mega_lab.txt"
done
decode_table
echo "== the thirty-fifth session's form"
timeout 150 /tmp/mega_old 24 30 | grep -E "check|step \(|drain" | tee -a "$OUT/mega_lab.txt"
for i in 1 2; do echo "== mutant $i"; timeout 120 /tmp/mega_lab_mut$i 2 1 | grep check; done
echo "total $((SECONDS - t0)) s"
