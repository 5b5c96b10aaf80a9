#!/usr/bin/env bash
# compute-sanitizer over the decoding step's cluster kernels at B = 1 (the head norm's pushed
# sums: each block writes a slot of every block's shared memory across the cluster):
# memcheck, racecheck and synccheck on test_cuda_retention's test_step_hn and test_step_rows,
# memcheck on test_cuda_model's test_rms_chain (the fla-like model decoding at B = 1 and 2).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "compute-sanitizer: ${CS:-none}"
[ -n "$CS" ] || exit 0
for tool in memcheck racecheck synccheck; do
  s=$SECONDS
  timeout 150 "$CS" --tool $tool --error-exitcode 9 build-cuda/cuda/tests/test_cuda_retention \
    test_step_hn test_step_rows >"$OUT/cs-$tool.log" 2>&1
  echo "$tool retention: exit $? in $((SECONDS - s)) s: $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed," "$OUT/cs-$tool.log" | tr '\n' ' ')"
done
s=$SECONDS
timeout 120 "$CS" --tool memcheck --error-exitcode 9 build-cuda/cuda/tests/test_cuda_model test_rms_chain \
  >"$OUT/cs-model.log" 2>&1
echo "memcheck model: exit $? in $((SECONDS - s)) s: $(grep -E "ERROR SUMMARY|passed," "$OUT/cs-model.log" | tr '\n' ' ')"
echo "total $((SECONDS - t0)) s"
