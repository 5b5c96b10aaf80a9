#!/usr/bin/env bash
# (Ran once in the twenty-fifth session on 90772d4; reverted in f7267af: slower at every depth.)
# The decoding step's next weights asked of the L2 ahead of their product
# (RETNET_CUDA_L2_AHEAD=MB[,mask]: each gemv launch (mask 1) and the state's step (mask 2)
# bulk-prefetches the MB of the weights' arena after its own product's weights, a block's
# share each, before its wait), so that the memory keeps streaming through the chain's
# latency-bound kernels (the step, 7 us at B = 1 reading 4 MB) and the products' tails.
# The decoding tests (the default: off), test_cuda_model with it on (a hint: the same
# results), then B = 1 and 8 at several depths, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
RETNET_CUDA_L2_AHEAD=32 timeout 150 build-cuda/cuda/tests/test_cuda_model >"$OUT/model-l2.log" 2>&1
echo "test_cuda_model, L2_AHEAD=32: exit $?: $(tail -n 1 "$OUT/model-l2.log")"
for i in 1 2; do
  decode_run "off" build-cuda/retnet 1,8
  decode_run "8MB" build-cuda/retnet 1,8 RETNET_CUDA_L2_AHEAD=8
  decode_run "16MB" build-cuda/retnet 1,8 RETNET_CUDA_L2_AHEAD=16
  decode_run "32MB" build-cuda/retnet 1,8 RETNET_CUDA_L2_AHEAD=32
  decode_run "16MB-gemv" build-cuda/retnet 1,8 RETNET_CUDA_L2_AHEAD=16,1
  decode_run "16MB-step" build-cuda/retnet 1,8 RETNET_CUDA_L2_AHEAD=16,2
done
decode_table
echo "total $((SECONDS - t0)) s"
