#!/usr/bin/env bash
# Eighteenth session: the centred norms' statistics (layernorm, groupnorm) from one group sum of
# x and x^2 instead of two (mean, then the variance about it): a barrier less a segment for the
# T > 32 groups, forward and backward. test_cuda_ops (every norm against the CPU), test_cuda_model,
# test_cuda_train's gradients; bench_cuda_ops' norm lines; the preset's step and the fla
# shape's against the tree before (build/base.tar = the eighteenth session's 993fe57 code),
# alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
wait $BPID
ops_ab "norm"
echo "at $((SECONDS - t0)) s"
preset_ab base new base new base new
train_run "base fla" $BASE/build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "total $((SECONDS - t0)) s"
