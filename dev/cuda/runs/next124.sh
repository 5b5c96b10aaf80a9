#!/usr/bin/env bash
# The staged norm backward with fewer instructions a round (ncu, next123: the preset's head
# norm issued ~1100 instructions a round of 8 values a thread, 60% of issue slots busy, DRAM
# at 36%): means by a multiply with 1/n instead of double divisions, the async copies' source
# chosen by one 64-bit offset. Tests that cover it (ops, train: gradients, 50-step loss
# curves), the norm kernels, and the training steps against f7eab58 (before the staging),
# alternated; the losses must be equal (the models' widths are powers of two: the same bits).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=12 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
wait $BPID
ops_ab "norm"
preset_ab base new base new
train_run "base fla" "$BASE/build-cuda/retnet" "--config dev/cuda/cfg-1.3b-fla.json"
train_run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "total $((SECONDS - t0)) s"
