#!/usr/bin/env bash
# Thirty-fourth session: compute-sanitizer over the wgmma retention kernels with fp32 O and
# gradients at dk 256 (the OQ kernel: warpgroup 0 stages O in the Q buffer, thread 128 sends it
# after the next top barrier and reloads the buffer; the thirty-third session's last change):
# synccheck, racecheck and memcheck on test_cuda_retention's test_forward_and_step (o fp32 at
# dk 256) and test_backward (fp32 gradients at 8 x 256 x 512: its dq, dk passes).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_retention
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "compute-sanitizer: ${CS:-none}"
[ -n "$CS" ] || exit 0
timeout 60 build-cuda/cuda/tests/test_cuda_retention test_forward_and_step test_backward | tail -1
for tool in synccheck racecheck memcheck; do
  s=$SECONDS
  timeout 170 "$CS" --tool $tool --error-exitcode 9 build-cuda/cuda/tests/test_cuda_retention \
    test_forward_and_step test_backward >"$OUT/cs-$tool.log" 2>&1
  echo "$tool: exit $? in $((SECONDS - s)) s: $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed," "$OUT/cs-$tool.log" | tr '\n' ' ')"
done
echo "total $((SECONDS - t0)) s"
