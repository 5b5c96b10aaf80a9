#!/usr/bin/env bash
# Eighteenth session, after next103.sh: §3's d f from the segment's sums (no second read of x,
# no extra group sum: group_sum4). test_cuda_ops (test_head_norm_rows at eps 1e-5 and 1),
# test_cuda_train's gradients; bench_cuda_ops' head-norm lines; the paper preset's training
# step against the tree before (build/base.tar = 064ff91) and with the rows apart, alternated;
# then next102.sh's ncu by kernel of the preset's step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize|layernorm" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
preset_ab base new rows0 base new rows0
train_table
echo "at $((SECONDS - t0)) s"
ncu_train "--preset 1.3b"
echo "total $((SECONDS - t0)) s"
