#!/usr/bin/env bash
# Thirteenth session: the rotation's double pow and sincos computed before the gemv kernels'
# programmatic-launch wait (they read only the positions and the segment), and the step
# kernel's decay load before its wait and v's load before q and k are staged: the same bits.
# This tree against HEAD before it (build/base.tar, built beside it): the decoding tests, then
# the 1.3B step at B = 1, 2, 8, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
wait $BPID
for r in 1 2 3; do
  decode_run base /tmp/base/build-cuda/retnet 1,2,8
  decode_run head build-cuda/retnet 1,2,8
done
decode_table
echo "total $((SECONDS - t0)) s"
