#!/usr/bin/env bash
# The norms' backward with each round's inputs staged through shared memory (cp.async, 2 or
# 3 rounds ahead): the tests that cover it (test_cuda_ops: every norm against the CPU and the
# bit-for-bit cross checks; test_cuda_train: gradients and 50-step loss curves), the norm
# kernels against HEAD's (bench_cuda_ops), and the preset's and the fla shape's training
# steps against HEAD's: the losses must be equal (the same operations in the same order).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=12 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
wait $BPID
ops_ab "norm"
echo "== new, RETNET_CUDA_NORM_STAGES=2"
RETNET_CUDA_NORM_STAGES=2 timeout 100 build-cuda/cuda/bench_cuda_ops 2>&1 | grep norm
preset_ab base new
train_run "new st2 preset" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_NORM_STAGES=2
train_run "base fla" "$BASE/build-cuda/retnet" "--config dev/cuda/cfg-1.3b-fla.json"
train_run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "total $((SECONDS - t0)) s"
