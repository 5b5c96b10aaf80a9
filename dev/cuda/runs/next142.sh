#!/usr/bin/env bash
# The race in §3's sums inside the state update (next141: test_step_rows failed once at B 16:
# a block that started after its head's block 0 had rewritten z read the new z), fixed with a
# head's blocks as one cluster and a split cluster barrier (arrive after reading z, block 0
# waits before rewriting it): test_cuda_retention three times (its new 48-sequence shape runs
# several waves), the decoding tests, then the paper preset's B = 1 step against 8334514
# (built beside: the step without the cluster), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
JOBS=12 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
for i in 1 2 3; do
  timeout 100 build-cuda/cuda/tests/test_cuda_retention >"$OUT/ret$i.log" 2>&1
  echo "test_cuda_retention run $i: exit $?: $(tail -n 1 "$OUT/ret$i.log")"
  grep -h "FAIL\|step rows B48" "$OUT/ret$i.log" | head -4
done
decode_tests
wait $BPID
pre() { env X=1 timeout 60 $2 bench decode --preset 1.3b --device cuda --batch 1 \
  --context 64 --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2 3; do
  pre "pre new" build-cuda/retnet
  pre "pre base" $BASE/build-cuda/retnet
done
decode_table
echo "total $((SECONDS - t0)) s"
