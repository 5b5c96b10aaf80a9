#!/usr/bin/env bash
# Thirteenth session (ran on a working tree not committed, with U 4 / 8, KS 1 / 2 / 4 and the
# auto rule; HEAD keeps only RETNET_CUDA_FMA=4,1 against its default, 4,2): the FMA gemv
# (M <= 2) with K shared by KS warps of a block and U loads in flight (RETNET_CUDA_FMA="U,KS", default auto: KS so that a warp's whole share of a row
# pair is loaded before the programmatic-launch wait). test_cuda_gemv under every shape, the
# decoding tests once, then the 1.3B step at B = 1 and 2 for each shape, alternated twice,
# and test_cuda_gemv --bench for the old shape (4,1) and auto.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
gemv_tests_under RETNET_CUDA_FMA 4,1 4,2 4,4 8,1 8,2 8,4 auto
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
for r in 1 2; do
  for f in 4,1 auto 4,2 4,4 8,1 8,2; do decode_run "$f" build-cuda/retnet 1,2 RETNET_CUDA_FMA=$f; done
done
decode_table
for f in 4,1 auto; do
  RETNET_CUDA_FMA=$f timeout 100 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-bench-$f.txt" 2>&1
done
grep -E "^ *M|^ +1 |^ +2 " "$OUT/gemv-bench-4,1.txt" | head -30
echo "-- auto"
grep -E "^ *M|^ +1 |^ +2 " "$OUT/gemv-bench-auto.txt" | head -30
echo "total $((SECONDS - t0)) s"
