#!/usr/bin/env bash
# The mma gemv's shapes (RETNET_CUDA_MMA_SHAPE 0-5: warps a block, loads in flight, double
# buffering, blocks an SM; gemv.cu's mma_shapes): test_cuda_gemv under each, then the 1.3B
# decoding step at B = 4, 8, 16 (the mma kernel's rows) under each, twice, and the products
# alone (--bench) under each.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv
gemv_tests_under RETNET_CUDA_MMA_SHAPE 0 1 2 3 4 5
for i in 1 2; do
  for v in 0 1 2 3 4 5; do
    decode_run "shape$v" build-cuda/retnet 3,4,8,16 RETNET_CUDA_MMA_SHAPE=$v
  done
done
decode_table
for v in 0 1 2 3 4 5; do
  RETNET_CUDA_MMA_SHAPE=$v timeout 60 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/bench-shape$v.log" 2>&1
  echo "== shape $v"; grep -E "^(q k v g|wo|fc1|fc2|logits).* (4|8|16) " "$OUT/bench-shape$v.log"
done
echo "total $((SECONDS - t0)) s"
