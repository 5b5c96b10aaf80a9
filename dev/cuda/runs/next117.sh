#!/usr/bin/env bash
# The cross-entropy's rows walked by one block an SM (loss.cu: the row stays in L2 between
# the two passes; float4 reads). test_cuda_ops; bench_cuda_ops' cross-entropy lines against
# f41e8e8 (build/base.tar; the training line is new: the base's binary lacks it); the preset
# and the fla shape against f41e8e8, alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_ops
grep -E "cross_entropy" "$OUT/tests.log" | head -5
wait $BPID
ops_ab "cross_entropy|adamw|sumsq"
preset_ab base new base new
train_run "base fla" $BASE/build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "total $((SECONDS - t0)) s"
