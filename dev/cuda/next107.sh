#!/usr/bin/env bash
# Eighteenth session's last call: build-cuda removed and built for every target (as CI and
# users build), the paper preset's training record (B 8 x T 2048 and B 2 x T 8192, twice
# each, and the fla shape's step beside them), then every CUDA test.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
rm -rf build-cuda
JOBS=16 cuda_build
rec() { # tag model B T
  timeout 90 build-cuda/retnet bench train $2 --device cuda --batch $3 --seq $4 \
    --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/train-record.jsonl"
}
for i in 1 2; do
  rec preset "--preset 1.3b" 8 2048
  rec preset "--preset 1.3b" 2 8192
done
rec fla "--config dev/cuda/cfg-1.3b-fla.json" 8 2048
python3 - "$OUT/train-record.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['v'], 'B', r['batch'], 'T', r['seq'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'], 'GB', round(r['device_bytes'] / 1e9, 2), 'loss', r['loss_first'], '->', r['loss_last'])
PY
echo "at $((SECONDS - t0)) s"
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_attention \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_dist \
  build-cuda/cuda/tests/test_cuda_train
echo "total $((SECONDS - t0)) s"
