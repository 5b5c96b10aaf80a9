#!/usr/bin/env bash
# The session's final tree: build-cuda removed, built for every target (all gencodes, as CI and
# users build), every CUDA test; first, test_step_rows (now 12 steps at the many-block shapes)
# against 8334514's racy retention.cu, twice: it must fail.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
OLD=/tmp/old
rm -rf $OLD && mkdir -p $OLD && git ls-files -z | xargs -0 cp --parents -t $OLD
tar xOf build/base.tar src/cuda/retention.cu >$OLD/src/cuda/retention.cu
printf '\nextern "C" int retention_cuda_step_rows_ok(int dk, int dv) { return dv <= 512 && dk %% 4 == 0; }\n' >>$OLD/src/cuda/retention.cu
( cd $OLD && CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" make CUDA=1 -j4 build-cuda/cuda/tests/test_cuda_retention >build.log 2>&1; echo "old build: exit $?" ) &
OP=$!
rm -rf build-cuda
JOBS=14 cuda_build
wait $OP
for i in 1 2; do
  timeout 100 $OLD/build-cuda/cuda/tests/test_cuda_retention >"$OUT/old$i.log" 2>&1
  echo "old retention.cu, run $i: exit $?: $(tail -n 1 "$OUT/old$i.log")"
  grep -h "FAIL" "$OUT/old$i.log" | head -4
done
TEST_TIMEOUT=200 cuda_tests
echo "total $((SECONDS - t0)) s"
