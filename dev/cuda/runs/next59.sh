#!/usr/bin/env bash
# Thirteenth session (ran on a working tree not committed: RETNET_CUDA_FMA_KS never was; at
# HEAD only RETNET_CUDA_FMA=4,1 against the default is measured): next58's best (K shared by 2 warps everywhere) against KS by class of
# product (RETNET_CUDA_FMA_KS="p,g,l": plain K <= 2048, the GLU, plain K > 2048), and the old
# shape (RETNET_CUDA_FMA=4,1): the 1.3B step at B = 1 and 2, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
gemv_tests_under RETNET_CUDA_FMA 4,1 4,2 8,2
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
for r in 1 2; do
  decode_run 4,1 build-cuda/retnet 1,2 RETNET_CUDA_FMA=4,1
  for c in 2,2,2 1,2,2 2,1,2 2,2,1 4,2,2 2,4,2; do decode_run "$c" build-cuda/retnet 1,2 RETNET_CUDA_FMA_KS=$c; done
done
decode_table
for f in 4,1 4,2; do
  RETNET_CUDA_FMA=$f timeout 100 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-bench-${f/,/-}.txt" 2>&1
done
grep -E " [12] +[0-9.]+ +[0-9]+$" "$OUT/gemv-bench-4-1.txt"
echo "-- 4,2"
grep -E " [12] +[0-9.]+ +[0-9]+$" "$OUT/gemv-bench-4-2.txt"
echo "total $((SECONDS - t0)) s"
