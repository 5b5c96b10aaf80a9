#!/usr/bin/env bash
# Seventeenth session: next98.sh showed the padded rows alone change nothing (cuBLASLt still
# took an align1 kernel: it is the odd extent, not the row stride). cuda_op_gemm now splits a
# product whose contiguous extent is not a multiple of 8 into its aligned part and the rest.
# Every CUDA test (sm_90a), the paper preset against the tree before (build/base.tar):
# decoding at B = 1-256 and training (B 8 T 2048, B 2 T 8192); then the preset's decoding
# record at the issue's contexts.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=10 cuda_build_base
JOBS=10 cuda_build
wait $BPID
TEST_TIMEOUT=200 cuda_tests
for v in base new; do
  bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
  timeout 150 $bin bench decode --preset 1.3b --device cuda --batch 1,8,64,256 --context 64 \
    --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/decode.jsonl"
  for bt in "8 2048" "2 8192"; do
    set -- $bt
    timeout 150 $bin bench train --preset 1.3b --device cuda --batch $1 --seq $2 \
      --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/train.jsonl"
  done
done
decode_runs
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['v'], 'B', r['batch'], 'T', r['seq'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'], 'loss', r['loss_first'], '->', r['loss_last'])
PY
preset_record 240
echo "total $((SECONDS - t0)) s"
