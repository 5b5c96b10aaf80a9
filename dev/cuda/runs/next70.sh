#!/usr/bin/env bash
# Fourteenth session: step_kernel with 16 rows a thread in flight for small states (every row
# of dk = 256 asked for before the wait; RETNET_CUDA_STEP_UNR=8 as before), against the fused
# mixer (next69: 1.185 against the chain's 1.147 ms at B = 1).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
timeout 100 build-cuda/cuda/tests/test_cuda_retention >"$OUT/ret.log" 2>&1; echo "test_cuda_retention: exit $?: $(tail -1 "$OUT/ret.log")"
grep -E "step B|FAIL" "$OUT/ret.log" | head
timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model.log" 2>&1; echo "test_cuda_model: exit $?: $(tail -1 "$OUT/model.log")"
for i in 1 2 3; do
  decode_run "unr8" build-cuda/retnet 1,2,8 RETNET_CUDA_MIXER=0 RETNET_CUDA_STEP_UNR=8
  decode_run "unr16" build-cuda/retnet 1,2,8 RETNET_CUDA_MIXER=0 RETNET_CUDA_STEP_UNR=16
  decode_run "mixer" build-cuda/retnet 1 RETNET_CUDA_MIXER=1
done
decode_table
echo "total $((SECONDS - t0)) s"
