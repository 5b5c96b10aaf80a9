#!/usr/bin/env bash
# Eighteenth session, after next105.sh (test_head_norm_rows: the §3 variant's d o differed from
# f bf16(dx) by an ulp at 512-wide groupnorm heads: the compiler contracted dx's formula into
# fmas differently in the two variants; now rounded as written, __fmul_rn / __fsub_rn). Also
# new: the training forward no longer scales o in place (scale_rows_kernel, 135 us a layer):
# row_factors_kernel keeps f and r, and the head norm forms f o in registers, forward
# (cuda_op_head_norm_gate_scaled_bf16) and backward (SEC3). test_cuda_ops, test_cuda_train,
# test_cuda_model; bench_cuda_ops' head-norm lines; the preset's step against 064ff91 and with
# §3 apart (RETNET_CUDA_ROWS=0), alternated; the step by phase.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=240 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
preset_ab base new rows0 base new rows0 base new
train_table
train_step_phases "--preset 1.3b"
echo "total $((SECONDS - t0)) s"
