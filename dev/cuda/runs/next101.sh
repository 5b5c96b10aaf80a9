#!/usr/bin/env bash
# Seventeenth session: norm_bwd_cols4_kernel (src/cuda/norm.cu), the GroupNorm backward's
# parameter sums 4 columns a thread, rows unrolled: the same operations in the same order, so
# the same bits. test_cuda_ops, test_cuda_train's gradients; the paper preset's training step
# against the tree before (build/base.tar): the losses must be equal, the step faster.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=8 cuda_build_base
JOBS=8 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
wait $BPID
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_ops
timeout 100 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
for v in base new base new; do
  bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
  timeout 100 $bin bench train --preset 1.3b --device cuda --batch 8 --seq 2048 \
    --steps 4 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/train.jsonl"
done
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['v'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'], 'loss', r['loss_first'], '->', repr(r['loss_last']))
PY
echo "total $((SECONDS - t0)) s"
