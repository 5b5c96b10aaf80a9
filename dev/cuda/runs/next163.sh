#!/usr/bin/env bash
# The q k v g split past 16 rows with a block a row (rope.cu's qkvg_split_rows_kernel: a row's
# angles formed once into shared memory, one sincos a pair, instead of once per pair group of
# every head and tensor) against the grid-stride kernel (RETNET_CUDA_SPLIT_ROWS=0). The
# decoding tests (test_cuda_ops' test_joined_products now has the 1.3B heads), then the fla
# shape at B = 24, 64, 256, alternated three times; then ncu of one B = 64 step's split.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
for i in 1 2 3; do
  decode_run "rows" build-cuda/retnet 24,64,256
  decode_run "stride" build-cuda/retnet 24,64,256 RETNET_CUDA_SPLIT_ROWS=0
done
decode_table
for v in 1 0; do
  RETNET_CUDA_SPLIT_ROWS=$v timeout 120 ncu --kernel-name regex:qkvg_split --launch-skip 24 --launch-count 3 \
    --metrics gpu__time_duration.sum build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json \
    --device cuda --batch 64 --context 64 --steps 2 --warmup 0 >"$OUT/ncu-$v.log" 2>&1
  echo "ncu SPLIT_ROWS=$v: exit $?"; grep -E "qkvg_split|gpu__time_duration" "$OUT/ncu-$v.log" | head -6
done
echo "total $((SECONDS - t0)) s"
