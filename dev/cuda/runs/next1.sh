#!/usr/bin/env bash
# Ready for the next session's first device call (written 2026-11-29, not yet run): build;
# every CUDA test; the same model and batch tests with the rope epilogue on
# (RETNET_CUDA_ROPE_EPILOGUE=1, src/cuda/gemv.cu), whose test_cuda_gemv test_rope asks for the
# same bits as product + rope; decoding timed with it off and on in one run; the review mends
# of 36f4387 (graph replay ordered after the legacy stream) ride on test_graphs / test_batch.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
cuda_tests
echo "== with RETNET_CUDA_ROPE_EPILOGUE=1" >>"$OUT/tests.log"
RETNET_CUDA_ROPE_EPILOGUE=1 timeout 120 build-cuda/cuda/tests/test_cuda_model >>"$OUT/tests.log" 2>&1; echo "model, rope epilogue: exit $? $(tail -n 1 "$OUT/tests.log")"
RETNET_CUDA_ROPE_EPILOGUE=1 timeout 120 build-cuda/cuda/tests/test_cuda_train test_batch test_graphs >>"$OUT/tests.log" 2>&1; echo "train batch/graphs, rope epilogue: exit $? $(tail -n 1 "$OUT/tests.log")"
grep -h "FAIL" "$OUT/tests.log" | head -20
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json D=$OUT/decode.jsonl; : >"$D"
for e in 0 1; do
  RETNET_CUDA_ROPE_EPILOGUE=$e timeout 60 $R bench decode --config $CFG --device cuda --batch 1,8 --context 2048 --steps 32 --warmup 4 --json | sed "s/\"bench\": \"decode\"/\"bench\": \"decode\", \"rope_epilogue\": $e/" >>"$D"
done
python3 - "$D" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get('bench') == 'decode': print('rope epilogue', r.get('rope_epilogue'), 'B', r.get('batch'), r.get('ms_per_step'), 'ms', r.get('tokens_per_s'), 'tok/s')
PY
echo "total $((SECONDS - t0)) s"
