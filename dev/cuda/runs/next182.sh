#!/usr/bin/env bash
# (reverted: 55107fd -> the next commit; the walk was level or slower in the step: B = 4 1.350-1.383 / off 1.342-1.352 ms, B = 8 1.518-1.550 / 1.529-1.543, the preset B = 8 1.618-1.646 / 1.599-1.630)
# The mma gemv's 16 x 4 shape walking its units (gemv_mma_kernel's WALK: two blocks an SM,
# each walking units blk, blk + grid, ..., the next unit's loads issued before this one's
# tiles meet and are stored), where the units outnumber the blocks that fit (q k v g, fc1 |
# gate, the output layer at B = 3-8); RETNET_CUDA_MMA_WALK=0 turns it off. The decoding tests
# (test_cuda_gemv now with 563- and 320-unit products, GLU, rotation and gelu), test_cuda_gemv
# with the walk off, then the step walk / off alternated three times: the fla shape at B = 4
# and 8, the paper preset at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
gemv_tests_under RETNET_CUDA_MMA_WALK 0
for i in 1 2 3; do
  decode_run "walk" build-cuda/retnet 4,8
  decode_run "off" build-cuda/retnet 4,8 RETNET_CUDA_MMA_WALK=0
  DECODE_MODEL="--preset 1.3b" decode_run "p-walk" build-cuda/retnet 8
  DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 8 RETNET_CUDA_MMA_WALK=0
done
decode_table
echo "total $((SECONDS - t0)) s"
