#!/usr/bin/env bash
# Seventh session: residual dropout on the GPU (src/dropout.h's masks, the CPU's). Build;
# test_cuda_train's gradient cases (two with dropout 0.1 / 0.3 against the CPU with the same
# masks, controls: the CPU without dropout and with other masks must fail) and refusals;
# test_cuda_ops; then `retnet train --dropout 0.1` 20 steps on the cpu and on cuda, losses.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients test_refused >"$OUT/train-tests.log" 2>&1
echo "test_cuda_train gradients, refused: exit $?: $(tail -1 $OUT/train-tests.log)"
grep -E "FAIL|dropout" "$OUT/train-tests.log" | head -12
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_ops
build-cuda/retnet tokenize --tokenizer byte --data README.md --out /tmp/d >/dev/null 2>&1
for dev in cpu cuda; do
  rm -rf /tmp/run-$dev
  timeout 120 build-cuda/retnet train --data /tmp/d --preset tiny --out /tmp/run-$dev --steps 20 --batch 4 \
    --seq 128 --dropout 0.1 --eval-every 1000 --sample-tokens 0 --device $dev --log /tmp/log-$dev.jsonl --force >/dev/null 2>"$OUT/train-$dev.err"
  echo "train --dropout 0.1 --device $dev: exit $? losses $(python3 -c 'import json; r=[json.loads(l) for l in open("/tmp/log-'$dev'.jsonl")]; print([round(x["loss"],5) for x in r if x.get("step") in (1,2,5,10,20)])')"
done
echo "total $((SECONDS - t0)) s"
