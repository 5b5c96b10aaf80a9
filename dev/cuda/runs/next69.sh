#!/usr/bin/env bash
# Fourteenth session: the fused mixer step after next68 (it was correct, and slower: B = 1
# 1.199 against 1.148 ms): the head's sums loaded by 32 lanes at once, x's rows loaded right
# after the wait, no fence after a meeting. RETNET_CUDA_MIXER: 0 the chain, 1 fused, 2 fused
# with x by atomic adds (no second meeting; timing only), 3 fused with wo loaded after the
# wait (timing only).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
timeout 100 build-cuda/cuda/tests/test_cuda_retention >"$OUT/ret.log" 2>&1; echo "test_cuda_retention: exit $?"
grep -E "mixer|FAIL|passed" "$OUT/ret.log" | head -20
timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model.log" 2>&1; echo "test_cuda_model: exit $?: $(tail -1 "$OUT/model.log")"
for i in 1 2; do
  for v in 0 1 2 3; do decode_run "mixer=$v" build-cuda/retnet 1 RETNET_CUDA_MIXER=$v; done
done
decode_table
echo "total $((SECONDS - t0)) s"
