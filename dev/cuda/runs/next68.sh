#!/usr/bin/env bash
# Fourteenth session: the fused mixer step (src/cuda/mixer_step.cu: B = 1's state update, head
# norm, gate and wo + residual in one kernel, wo split along its contraction by state
# columns): its op test against double, the decoding tests, then the 1.3B step with
# RETNET_CUDA_MIXER 0 / 1.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
timeout 100 build-cuda/cuda/tests/test_cuda_retention >"$OUT/ret.log" 2>&1; echo "test_cuda_retention: exit $?"
grep -E "mixer|FAIL|passed" "$OUT/ret.log" | head -20
decode_tests
decode_ab RETNET_CUDA_MIXER "0 1" 1
echo "total $((SECONDS - t0)) s"
