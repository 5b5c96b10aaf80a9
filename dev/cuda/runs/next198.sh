#!/usr/bin/env bash
# The decoding graph's own argmax (model_cuda.cu's argmax_ids inside the capture: the kernel,
# then a copy of the ids into pinned host memory, which retnet_batch_argmax then only reads;
# RETNET_CUDA_GRAPH_ARGMAX=0: the separate launch and wait as before). next197's trace put
# ~30-40 us between a B = 1 graph's end and the separate argmax's start (under CUPTI). Tests:
# test_cuda_train's argmax, batch and graphs (the graph's ids against the op-by-op step's, bit
# for bit), test_cuda_model; then the step on / off, three runs alternated: the fla shape at B
# = 1, 8, 64 and the paper preset at B = 1, 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
train_decode_tests
for i in 1 2 3; do
  decode_run "on" build-cuda/retnet 1,8,64
  decode_run "off" build-cuda/retnet 1,8,64 RETNET_CUDA_GRAPH_ARGMAX=0
  DECODE_MODEL="--preset 1.3b" decode_run "p-on" build-cuda/retnet 1,8
  DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 1,8 RETNET_CUDA_GRAPH_ARGMAX=0
done
decode_table
echo "total $((SECONDS - t0)) s"
