#!/usr/bin/env bash
# Seventh session: the norms' backward with fewer instructions (ncu, next14.sh: 2 of 4 issue
# slots busy at 16 warps an SM, ~127 instructions an element for the head norm): xhat formed
# once, the sigmoid once, no column checks in the sums, one barrier a group sum, bf16 by the
# hardware's conversion. Meant to give the same bits (NaN payloads aside). Carry
# build/base.tar (git archive of the commit before). Steps: both builds; SASS opcode counts of
# the head norm's kernel, before and after; the same 10 training steps of a 2-layer model
# with the 1.3B widths (rms and group/layer norms) by both builds, weights compared byte for
# byte; bench_cuda_ops' norm lines by both; test_cuda_ops; the 1.3B step alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_base
( cd "$BASE" && make CUDA=1 -j6 build-cuda/cuda/bench_cuda_ops >>"$BASE/build.log" 2>&1 ) &
cuda_build build-cuda/retnet build-cuda/cuda/bench_cuda_ops build-cuda/cuda/tests/test_cuda_ops
wait
echo "base build at $((SECONDS - t0)) s: $(tail -1 $BASE/build.log)"
for tree in "$BASE" .; do
  o=$tree/build-cuda/src/cuda/norm.o
  cuobjdump -sass -fun '_Z15norm_bwd_kernelILi64ELi2ELb1ELb0ELb1EEvPvS0_PfPdS2_PKfS4_S4_S4_S4_9seg_shapePtl' "$o" \
    >"$OUT/sass-$([ $tree = . ] && echo new || echo base).txt" 2>&1
done
for f in base new; do
  echo "== SASS $f: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' $OUT/sass-$f.txt) instructions"
  grep -oE '^\s+/\*[0-9a-f]{4}\*/\s+(@!?U?P[0-9T] )?[A-Z0-9]+(\.[A-Z0-9_]+)*' "$OUT/sass-$f.txt" |
    awk '{print $NF}' | sed 's/\..*//' | sort | uniq -c | sort -rn | head -16 | tr '\n' ' '; echo
done
build-cuda/retnet tokenize --tokenizer byte --data README.md --out /tmp/d >/dev/null 2>&1
for cfg in dev/cuda/cfg/bits-rms.json dev/cuda/cfg/bits-ln.json; do
  for tree in "$BASE" .; do
    rm -rf /tmp/run /tmp/log.jsonl; $tree/build-cuda/retnet train --data /tmp/d --config $cfg --out /tmp/run --steps 10 \
      --batch 4 --seq 256 --eval-every 1000 --sample-tokens 0 --device cuda --log /tmp/log.jsonl >/dev/null 2>&1
    echo "$cfg $tree: exit $? $(tail -1 /tmp/log.jsonl | head -c 160)"
    cp /tmp/run/model.safetensors /tmp/model-$(basename $cfg)-$([ $tree = . ] && echo new || echo base)
  done
  cmp /tmp/model-$(basename $cfg)-base /tmp/model-$(basename $cfg)-new && echo "$cfg: weights after 10 steps IDENTICAL"
done
for tree in "$BASE" .; do
  echo "== bench_cuda_ops $tree"
  $tree/build-cuda/cuda/bench_cuda_ops 2>&1 | grep -E "norm" 
done
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
for i in 1 2; do
  for tree in "$BASE" .; do
    echo "step $tree: $(timeout 60 $tree/build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["ms_per_step"], "ms", r["tokens_per_s"], "tokens/s, MFU", r["mfu"])')"
  done
done
echo "total $((SECONDS - t0)) s"
