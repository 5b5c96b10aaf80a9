#!/usr/bin/env bash
# Thirteenth session (ran on a working tree not committed: the kernel variant is described in
# dev/cuda/README.md, thirteenth session; HEAD has no RETNET_CUDA_FMA_GRID): the FMA gemv (M <= 2) with its grid capped (RETNET_CUDA_FMA_GRID = c
# blocks an SM), each block walking its units gridDim.x apart and each warp issuing the next
# unit's first loads before computing the current one, so that the grid leaves room on the
# SMs for the next kernel under programmatic launch. test_cuda_gemv under caps (-1 and -3:
# one and three blocks in all) and KS 1 / 2 / 4, the decoding tests with a cap, then the 1.3B
# step at B = 1 and 2 for caps 0 (off), 1, 2, 3, 4, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
for cf in -1:4,1 -1:4,2 -1:4,4 -3:4,2 2:4,2 2:4,4; do
  c=${cf%:*} f=${cf#*:}
  for f in $f; do
    RETNET_CUDA_FMA_GRID=$c RETNET_CUDA_FMA=$f timeout 100 build-cuda/cuda/tests/test_cuda_gemv >"$OUT/gemv-$c-${f/,/-}.log" 2>&1
    echo "test_cuda_gemv GRID=$c FMA=$f: exit $?: $(tail -n 1 "$OUT/gemv-$c-${f/,/-}.log")"
  done
done
RETNET_CUDA_FMA_GRID=2 TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
RETNET_CUDA_FMA_GRID=2 timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs) at GRID=2: exit $?: $(tail -n 1 "$OUT/tests.log")"
for r in 1 2; do
  for c in 0 1 2 3 4; do decode_run "grid$c" build-cuda/retnet 1,2 RETNET_CUDA_FMA_GRID=$c; done
done
decode_table
for c in 0 2 3; do
  RETNET_CUDA_FMA_GRID=$c timeout 100 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-bench-$c.txt" 2>&1
  echo "-- GRID=$c"; grep -E " 1 +[0-9.]+ +[0-9]+$" "$OUT/gemv-bench-$c.txt"
done
echo "total $((SECONDS - t0)) s"
