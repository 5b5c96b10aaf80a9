#!/usr/bin/env bash
# Whether test_step_rows catches the race fixed in next142: the test of this tree against
# 8334514's retention.cu (the step without the cluster barrier; a stub for the new
# retention_cuda_step_rows_ok), built beside and run twice: it must fail. Then the paper
# preset's decoding record (bench/gpu/preset-1.3b-h200.jsonl) on this tree in the time left.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
OLD=/tmp/old
rm -rf $OLD && mkdir -p $OLD && git ls-files -z | xargs -0 cp --parents -t $OLD
tar xOf build/base.tar src/cuda/retention.cu >$OLD/src/cuda/retention.cu
printf '\nextern "C" int retention_cuda_step_rows_ok(int dk, int dv) { return dv <= 512 && dk %% 4 == 0; }\n' >>$OLD/src/cuda/retention.cu
( cd $OLD && make CUDA=1 -j6 build-cuda/cuda/tests/test_cuda_retention >build.log 2>&1; echo "old build: exit $?" ) &
OP=$!
JOBS=10 cuda_build build-cuda/retnet
wait $OP
for i in 1 2; do
  timeout 100 $OLD/build-cuda/cuda/tests/test_cuda_retention >"$OUT/old$i.log" 2>&1
  echo "old retention.cu, run $i: exit $?: $(tail -n 1 "$OUT/old$i.log")"
  grep -h "FAIL\|step rows B" "$OUT/old$i.log" | head -6
done
left=$((560 - SECONDS))
echo "preset with ${left} s left"
preset_record "$left"
echo "total $((SECONDS - t0)) s"
