#!/usr/bin/env bash
# Seventh session, after next15.sh: the layer-norm / group-norm model's weights after 10 steps
# differed between the builds before and after the norms' backward rewrite (the RMS model's
# were identical). Is either build not deterministic? Each build trains the same 3 steps
# twice (losses per step printed in full); weights compared. Then bench_cuda_ops' norm lines
# by both builds in one run, and the new step by phase.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_base build-cuda/cuda/bench_cuda_ops
cuda_build build-cuda/retnet build-cuda/cuda/bench_cuda_ops
wait $BPID
build-cuda/retnet tokenize --tokenizer byte --data README.md --out /tmp/d >/dev/null 2>&1
for cfg in bits-ln bits-rms; do
  for run in 1 2; do
    for tree in "$BASE" .; do
      tag=$cfg-$([ $tree = . ] && echo new || echo base)-$run
      rm -rf /tmp/run /tmp/log.jsonl; $tree/build-cuda/retnet train --data /tmp/d --config dev/cuda/cfg/$cfg.json --out /tmp/run \
        --steps 3 --batch 4 --seq 256 --eval-every 1000 --sample-tokens 0 --device cuda --log /tmp/log.jsonl >/dev/null 2>&1
      echo "$tag: exit $? losses $(python3 -c 'import json,sys; print([ (r["loss"], r["grad_norm"]) for r in map(json.loads, open("/tmp/log.jsonl")) if "step" in r])')"
      cp /tmp/run/model.safetensors /tmp/m-$tag
    done
  done
  for a in base-1:base-2 new-1:new-2 base-1:new-1; do
    x=/tmp/m-$cfg-${a%%:*}; y=/tmp/m-$cfg-${a##*:}
    cmp -s $x $y && echo "$cfg ${a}: identical" || echo "$cfg ${a}: DIFFER"
  done
done
[ -n "${BITS_ONLY:-}" ] && exit 0
for i in 1 2; do
  for tree in "$BASE" .; do
    echo "== bench_cuda_ops $tree"
    $tree/build-cuda/cuda/bench_cuda_ops 2>&1 | grep -E "norm|glu|cross|embed|adamw"
  done
done
train_phases
echo "total $((SECONDS - t0)) s"
