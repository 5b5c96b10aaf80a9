#!/usr/bin/env bash
# Eighteenth session, after next104.sh (test_head_norm_rows failed for groupnorm at widths
# below the group's 4 T K: the sums of xhat took the padding's -mu r; the rows' kernels were
# held back by s's double log and expm1 on one lane a row): the padding left out, and the
# forward keeps r as 0 where |s r| <= 1 so that the backward needs no s. test_cuda_ops,
# test_cuda_train (all: its 50-step curves include §3), test_cuda_model; bench_cuda_ops'
# head-norm lines; the paper preset's step against 064ff91 (build/base.tar) and with the rows
# apart, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=240 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize|layernorm" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
preset_ab base new rows0 base new rows0 base new
train_table
train_step_phases "--preset 1.3b"
echo "total $((SECONDS - t0)) s"
