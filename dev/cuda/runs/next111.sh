#!/usr/bin/env bash
# Eighteenth session's review: §3's f is seg_shape's xs in both directions (rows_args keeps r
# and dr8), the model decides rows_fused once; the scripts share lib.sh's train_run,
# preset_ab, train_table, train_step_phases, ncu_train. Not meant to change a bit: the
# norm-using CUDA tests, then the preset's step against f698a51 (build/base.tar): the
# losses must be equal.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
wait $BPID
preset_ab base new rows0
train_table
echo "total $((SECONDS - t0)) s"
