#!/usr/bin/env bash
# Thirty-seventh session: the persistent step's first run stopped on an illegal instruction;
# compute-sanitizer (memcheck, then synccheck) over test_persistent alone, to find where.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "compute-sanitizer: ${CS:-none}"
for tool in memcheck synccheck; do
  timeout 200 "$CS" --tool $tool --print-limit 20 build-cuda/cuda/tests/test_cuda_model test_persistent \
    >"$OUT/cs-$tool.log" 2>&1
  echo "$tool: exit $?"; grep -vE "^\s+(FAIL|max)" "$OUT/cs-$tool.log" | head -40
done
echo "total $((SECONDS - t0)) s"
