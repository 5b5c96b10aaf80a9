#!/usr/bin/env bash
# Quality benchmark (make bench-quality): validation loss curves of a byte-level `small`
# RetNet trained for QUALITY_MINUTES (default 15) on Tiny Shakespeare and on the Brown corpus
# (whole documents held out). Both runs go at once, one thread each, so the 2-core machine
# does the two in 15 minutes; set QUALITY_THREADS=2 QUALITY_SERIAL=1 to run them one after
# the other with both cores. Logs in bench/out/quality-*.jsonl, plot bench/out/quality.png,
# best validation loss in nats/byte (byte-level: one token per byte).
set -eu
cd "$(dirname "$0")/.."
minutes=${QUALITY_MINUTES:-15}
threads=${QUALITY_THREADS:-1}
steps=${QUALITY_STEPS:-280}
out=bench/out; mkdir -p "$out" data runs
scripts/get-corpora.sh data/corpora >/dev/null
build/retnet tokenize --tokenizer byte --data data/corpora/tinyshakespeare.txt --out data/q-shakespeare >/dev/null
build/retnet tokenize --tokenizer byte --data data/corpora/brown-train.txt \
  --val-data data/corpora/brown-val.txt --out data/q-brown >/dev/null
run() { # name
  rm -rf "runs/q-$1" "$out/quality-$1.jsonl" # a new measurement replaces the last one
  OMP_NUM_THREADS=$threads build/retnet train --data "data/q-$1" --preset small --out "runs/q-$1" \
    --time "$minutes" --steps "$steps" --batch 8 --seq 256 --lr 2e-3 --warmup 30 \
    --eval-every 20 --eval-batches 16 --sample-tokens 0 --save-every 100000 \
    --log "$out/quality-$1.jsonl" > "$out/quality-$1.txt" 2>&1
}
echo "quality: small, byte-level, $minutes min each, $threads thread(s) each, commit $(git rev-parse --short HEAD)"
if [ "${QUALITY_SERIAL:-0}" = 1 ]; then run shakespeare; run brown
else run shakespeare & run brown & wait; fi
for name in shakespeare brown; do
  grep val_loss "$out/quality-$name.jsonl" | sed -E 's/.*"step": ([0-9]+),.*"tokens": ([0-9]+), "elapsed_s": ([0-9.]+), "val_loss": ([0-9.]+).*/\1 \2 \3 \4/' > "$out/quality-$name.dat"
  best=$(sort -k4 -g "$out/quality-$name.dat" | head -n 1)
  last=$(tail -n 1 "$out/quality-$name.dat")
  echo "$name: best val loss $(echo $best | cut -d' ' -f4) nats/byte at step $(echo $best | cut -d' ' -f1) ($(echo $best | cut -d' ' -f2) tokens); last step $(echo $last | cut -d' ' -f1) at $(echo $last | cut -d' ' -f3) s"
done
if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set terminal pngcairo size 900,450
set output "$out/quality.png"
set title "byte-level small RetNet (10.7M), validation loss, $threads thread(s) each (make bench-quality)"
set xlabel "training time (minutes)"; set ylabel "validation loss (nats/byte)"; set grid
plot "$out/quality-shakespeare.dat" u (\$3/60):4 w lp t "Tiny Shakespeare", "$out/quality-brown.dat" u (\$3/60):4 w lp t "Brown (held-out documents)"
GP
  echo "plot: $out/quality.png"
fi
