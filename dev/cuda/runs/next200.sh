#!/usr/bin/env bash
# (runs on the branch wip-rms-partials, not merged: slower; see README, twenty-eighth session)
# (branch wip-rms-partials: written after the GPU time was spent, compiled for sm_90a, not run)
# next199 with the producer's partial sums instead: wo's and fc2's blocks at 3-8 rows write each
# row's sum of y^2 over their 16 columns (cuda_gemv_rms_out's ps), and each consumer block
# reads its share of them right after its wait and meets them after its products (no second
# read of the rows). Tests: test_cuda_gemv (test_rms_chain at M 3-8), test_cuda_model
# (test_rms_chain at B 1, 2, 3, 8), test_cuda_train's argmax, batch, graphs; then the step on /
# RETNET_CUDA_RMS_CHAIN=0, three runs alternated, the fla shape at B = $BATCHES (4 and 8).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
train_decode_tests
grep -h "rms chain" "$OUT/tests.log" | grep -E " M [38] |B=[38]" | head -6
for i in 1 2 3; do
  decode_run "on" build-cuda/retnet "${BATCHES:-4,8}"
  decode_run "off" build-cuda/retnet "${BATCHES:-4,8}" RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
