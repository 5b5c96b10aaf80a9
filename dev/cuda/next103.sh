#!/usr/bin/env bash
# Eighteenth session: the groupnorm head norm's per-head parameter sums fused into the segment
# kernel (no second pass over dy, x, g), and §3's rows backward in the head norm's pass
# (cuda_rows_grad; RETNET_CUDA_ROWS=0 keeps it apart). test_cuda_ops (test_head_norm_rows:
# the fused rows against the host from the head norm's own d(f o)), test_cuda_train's
# gradients (the paper preset tiny with §3 against the CPU); bench_cuda_ops' head-norm lines;
# the paper preset's training step against the tree before (build/base.tar), with the rows
# apart, and the fla shape's (rms head norm: the same kernels but for the rows code).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
run() { # tag bin model [env]
  env ${4:-X=1} timeout 90 $2 bench train $3 --device cuda --batch 8 --seq 2048 \
    --steps 4 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/train.jsonl"
}
for v in base new rows0 new base; do
  bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
  run "$v preset" $bin "--preset 1.3b" $([ $v = rows0 ] && echo RETNET_CUDA_ROWS=0)
done
run "base fla" $BASE/build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
run "new fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['v'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'], 'loss', r['loss_first'], '->', repr(r['loss_last']))
PY
echo "at $((SECONDS - t0)) s"
RETNET_CUDA_TIMING=1 timeout 60 build-cuda/retnet bench train --preset 1.3b \
  --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -26
echo "total $((SECONDS - t0)) s"
