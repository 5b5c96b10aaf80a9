#!/usr/bin/env bash
# (reverted: 90b7337 has it) fused / apart, best of two: fla B 48 2.792 / 2.808 ms, 64 3.181 / 3.203, 256 8.642 / 8.549; preset 2.960 / 2.949, 3.331 / 3.289, 9.203 / 8.808
# The window's step with §3's key sums and the head norm and gate in it, where a head's
# columns fit one block (retention_cuda_step_window_hn: the 1.3B shapes from B = 33 in the
# 512-column kernel; small test models in the small one): the decoding tests (test_cuda_
# retention's new test_step_window_hn against the launches it replaces), then the step on /
# off (RETNET_CUDA_WINDOW_HN=0) alternated twice: the fla shape and the paper preset at B =
# 48, 64, 256.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
grep -h "step window hn" "$OUT/tests.log" | head -8
for i in 1 2; do
  decode_run "on" build-cuda/retnet 48,64,256
  decode_run "off" build-cuda/retnet 48,64,256 RETNET_CUDA_WINDOW_HN=0
  DECODE_MODEL="--preset 1.3b" decode_run "p-on" build-cuda/retnet 48,64,256
  DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 48,64,256 RETNET_CUDA_WINDOW_HN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
