#!/usr/bin/env bash
# (Reverted after it ran: slower at B = 4 and 8; dev/cuda/README.md, twenty-first session.)
# The head norm's cluster in the window's step too (retention_cuda_step_window_hn, the small
# states' shape: B = 2-8 at the 1.3B shapes, models without §3): test_cuda_retention (its new
# test_step_window_hn), test_cuda_model (test_window's fla cases now through it), train's
# graphs and batch; then the fla shape at B = 2, 4, 8 with RETNET_CUDA_HN_FUSED default / 0,
# alternated, twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
grep -h "step window hn\|step hn B" "$OUT/tests.log" | head -6
timeout 60 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/graphs.log" 2>&1
echo "test_cuda_train graphs batch: exit $?: $(tail -n 1 "$OUT/graphs.log")"
for i in 1 2; do
  decode_run hn build-cuda/retnet 2,4,8
  decode_run hn0 build-cuda/retnet 2,4,8 RETNET_CUDA_HN_FUSED=0
done
decode_table
echo "total $((SECONDS - t0)) s"
