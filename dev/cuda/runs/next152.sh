#!/usr/bin/env bash
# The q k v g split (past 16 rows: cuBLASLt's joined product, then the rotation and the bf16
# copies) under programmatic launch, triggering at its start, so that the state's update after
# it starts and streams its state while the split runs (it was launched plainly: a full stop
# before the step). test_cuda_ops (test_joined_products) and test_cuda_model, test_graphs and
# test_batch; then B = 24, 64, 256, on / off (RETNET_CUDA_SPLIT_PDL=0), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >"$OUT/train.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/train.log")"
for i in 1 2 3; do
  decode_run "pdl" build-cuda/retnet 24,64,256
  decode_run "plain" build-cuda/retnet 24,64,256 RETNET_CUDA_SPLIT_PDL=0
done
decode_table
echo "total $((SECONDS - t0)) s"
