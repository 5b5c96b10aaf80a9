#!/usr/bin/env bash
# Eighteenth session, after next103.sh: §3's d f from the segment's sums (no second read of x,
# no extra group sum: group_sum4). test_cuda_ops (test_head_norm_rows at eps 1e-5 and 1),
# test_cuda_train's gradients; bench_cuda_ops' head-norm lines; the paper preset's training
# step against the tree before (build/base.tar = 064ff91) and with the rows apart, alternated;
# then next102.sh's ncu by kernel of the preset's step.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >>"$OUT/tests.log" 2>&1
echo "test_cuda_train test_gradients: exit $?: $(tail -n 1 "$OUT/tests.log")"
timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops.log" 2>&1
grep -E "head_norm|normalize|layernorm" "$OUT/bench_ops.log"
wait $BPID
echo "at $((SECONDS - t0)) s"
run() { # tag bin model [env]
  env ${4:-X=1} timeout 90 $2 bench train $3 --device cuda --batch 8 --seq 2048 \
    --steps 4 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"v\": \"$1\", /" >>"$OUT/train.jsonl"
}
for v in base new rows0 base new rows0; do
  bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
  run "$v preset" $bin "--preset 1.3b" $([ $v = rows0 ] && echo RETNET_CUDA_ROWS=0)
done
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['v'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'], 'loss', r['loss_first'], '->', repr(r['loss_last']))
PY
echo "at $((SECONDS - t0)) s"
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 240 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
  build-cuda/retnet bench train --preset 1.3b --device cuda --batch 8 --seq 2048 --steps 1 --warmup 1 \
  >"$OUT/ncu-train-preset.csv" 2>"$OUT/ncu-train-preset.err"
echo "ncu exit $? at $((SECONDS - t0)) s"
ncu_kernels "$OUT/ncu-train-preset.csv" "preset 1.3b B8 T2048 (two steps: warm-up and timed)" 30
echo "total $((SECONDS - t0)) s"
