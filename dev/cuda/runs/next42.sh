#!/usr/bin/env bash
# Eleventh session, fourth call: the gemv's block size at M <= 2 (FMA_WARPS 4, 8, 16: blocks
# of 2 FMA_WARPS rows, 1536 / 768 / 384 blocks for q k v g), each in a copy of the tree with
# next41.sh's timing-only probe (GEMV_PROBE_K8: the gemv reads 8 16-byte columns a row), at
# B = 1 and 2, full and probed, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
for w in 4 8 16; do
  probe_copy /tmp/w$w $w
  ( cd /tmp/w$w && make CUDA=1 -j6 build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv >"$OUT/build-w$w.log" 2>&1; echo "w$w build: exit $? at $((SECONDS - t0)) s" ) &
done
wait
for w in 8 16; do /tmp/w$w/build-cuda/cuda/tests/test_cuda_gemv >"$OUT/test-w$w.log" 2>&1; echo "w$w test_cuda_gemv: exit $?: $(tail -1 "$OUT/test-w$w.log")"; done
for w in 4 8 16; do /tmp/w$w/build-cuda/cuda/tests/test_cuda_gemv --bench 2>&1 | head -13 | tail -10 >"$OUT/gemv-w$w.txt"; done
paste <(cut -c1-50 "$OUT/gemv-w4.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-w8.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-w16.txt")
for r in 1 2; do
  for w in 4 8 16; do
    decode_run w$w /tmp/w$w/build-cuda/retnet 1,2
    decode_run w$w-k8 /tmp/w$w/build-cuda/retnet 1,2 GEMV_PROBE_K8=8
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
