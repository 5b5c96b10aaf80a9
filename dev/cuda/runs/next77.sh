#!/usr/bin/env bash
# Fifteenth session: the decoding window (retention_cuda_step_window: the state read every
# step, written every W steps; the last tokens' k, v beside it). Build (sm_90a), the tests of
# the decoding path (test_cuda_retention's test_step_window, test_cuda_model's test_window),
# then the 1.3B step with RETNET_CUDA_WINDOW 0 (off) / 16,0 (on at every batch).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
decode_tests
decode_ab RETNET_CUDA_WINDOW "0 16,0" 1,2,4,8,16,64,256
python3 - "$OUT/decode-ab.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if 'ms_per_step' in r: print(r['ab'], r['batch'], 'median', r['ms_per_step'], 'mean', r.get('ms_per_step_mean'), 'min', r['ms_per_step_min'], 'max', r['ms_per_step_max'], 'of_bound', r.get('of_bound'))
PY
echo "total $((SECONDS - t0)) s"
