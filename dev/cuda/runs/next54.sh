#!/usr/bin/env bash
# Twelfth session: each decoding gemv asks L2 for the next product's weights
# (RETNET_CUDA_L2_NEXT=1; cp.async.bulk.prefetch, its blocks a share each, before they wait),
# so that the weights stream while the chain's short kernels (step, head norm, norms) run.
# The decoding tests with it on; the 1.3B step off / on at B = 1, 2, 8, 16; the cap on the
# bytes asked (RETNET_CUDA_L2_CAP_MB 8, 16, 24, 40) at B = 1 and 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
export RETNET_CUDA_L2_NEXT=1
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
timeout 200 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (graphs, batch): exit $?: $(tail -n 1 "$OUT/tests.log")"
unset RETNET_CUDA_L2_NEXT
decode_ab RETNET_CUDA_L2_NEXT "0 1" 1,2,8,16
for r in 1 2; do
  for cap in 8 16 24 40; do decode_run cap$cap build-cuda/retnet 1,8 RETNET_CUDA_L2_NEXT=1 RETNET_CUDA_L2_CAP_MB=$cap; done
done
decode_table
echo "total $((SECONDS - t0)) s"
