#!/usr/bin/env bash
# make demo: the README's first command. Obtains a corpus, checks that the three forms of
# retention agree on the model about to be trained, trains a byte-level `small` RetNet for a
# few minutes (DEMO_MINUTES, default 4) and samples from it with the recurrent form.
set -eu
cd "$(dirname "$0")/.."
minutes=${DEMO_MINUTES:-4}
corpus=data/corpora/tinyshakespeare.txt
if [ ! -f "$corpus" ]; then
  scripts/get-corpora.sh data/corpora >/dev/null 2>&1 || true
fi
[ -f "$corpus" ] || corpus=data/corpora/kjv.txt
[ -f "$corpus" ] || { echo "demo: no corpus could be obtained (see scripts/get-corpora.sh)"; exit 1; }

echo "== retnet forms --preset small --tokens 1024   (the three forms agree)"
build/retnet forms --preset small --tokens 1024
echo
echo "== retnet tokenize --tokenizer byte --data $corpus --out data/demo"
build/retnet tokenize --tokenizer byte --data "$corpus" --out data/demo
echo
echo "== retnet train --data data/demo --preset small --out runs/demo --time $minutes"
rm -rf runs/demo
build/retnet train --data data/demo --preset small --out runs/demo --time "$minutes" \
  --steps 400 --batch 8 --seq 256 --lr 2e-3 --warmup 30 --eval-every 100 \
  --sample-tokens 300 --log runs/demo/log.jsonl 2>&1 | grep -v '^step [0-9]*/' || true
echo
echo "== the last line of runs/demo/log.jsonl"
tail -n 1 runs/demo/log.jsonl
