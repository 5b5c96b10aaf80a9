#!/usr/bin/env bash
# Eighteenth session: the groupnorm head norm's per-head parameter sums fused into the segment
# kernel (no second pass over dy, x, g), and §3's rows backward in the head norm's pass
# (cuda_rows_grad; RETNET_CUDA_ROWS=0 keeps it apart). test_cuda_ops (test_head_norm_rows:
# the fused rows against the host from the head norm's own d(f o)), test_cuda_train's
# gradients (the paper preset tiny with §3 against the CPU); bench_cuda_ops' head-norm lines;
# the paper preset's training step against the tree before (build/base.tar), with the rows
# apart, and the fla shape's (rms head norm: the same kernels but for the rows code).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
preset_ab base new rows0 new base
train_run "base fla" $BASE/build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "at $((SECONDS - t0)) s"
train_step_phases "--preset 1.3b"
echo "total $((SECONDS - t0)) s"
