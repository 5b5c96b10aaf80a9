#!/usr/bin/env bash
# §3's key sums in the step's state update where there is no window (B = 1 at the 1.3B
# shapes; retention_cuda_step_rows: step_kernel's body with Z, its own launch name, so the
# plain step_kernel is the same code; RETNET_CUDA_Z_FUSED=0 the separate z_step_kernel):
# test_cuda_retention (its new test_step_rows: against the two launches, state and z bit for
# bit), test_cuda_model (the paper preset tiny decoding against the CPU), train's graphs and
# batch; then the paper preset's step at B = 1 fused / apart, alternated, three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
grep -h "step rows\|paper preset tiny" "$OUT/tests.log" | head -8
timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/graphs.log" 2>&1
echo "test_cuda_train test_graphs test_batch: exit $?: $(tail -n 1 "$OUT/graphs.log")"
pre() { env "$@" timeout 60 build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1 \
  --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2 3; do
  pre RETNET_CUDA_Z_FUSED=1
  pre RETNET_CUDA_Z_FUSED=0
done
decode_table
echo "total $((SECONDS - t0)) s"
