#!/usr/bin/env bash
# The second call after next4.sh: FLAGS (the lab flags that won there, e.g. FLAGS=96) under the
# model's tests, and the 1.3B training step with and without them, alternated, then timed by
# phase. If they pass and win: make them the default in run_chunk (and drop the flags), then
# bench/gpu/e2e.sh --only train and dev/cuda/device_run.sh for the records.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
: "${FLAGS:?FLAGS=the lab flags to test}"
cuda_build
RETNET_CUDA_LAB_FLAGS=$FLAGS TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for f in 0 $FLAGS 0 $FLAGS; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"lab_flags\": $f, /" >>"$OUT/train.jsonl"
done
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    print('lab_flags', r.get('lab_flags'), r.get('ms_per_step'), 'ms', r.get('tokens_per_s'), 'tok/s, MFU', r.get('mfu'))
PY
RETNET_CUDA_LAB_FLAGS=$FLAGS RETNET_CUDA_TIMING=1 timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -26
echo "total $((SECONDS - t0)) s"
