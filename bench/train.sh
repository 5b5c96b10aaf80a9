#!/usr/bin/env bash
# Training benchmark (make bench-train): tokens/s and peak RSS of a full training step of the
# `small` preset, ours (bench_train) against PyTorch 1.13 (bench/pytorch_train.py, Debian's
# python3-torch, 2 threads) on the same model and optimizer, in the same run; then our
# chunkwise form at T = 8192 and 16384 (memory linear in T). Writes bench/out/train.jsonl.
set -eu
cd "$(dirname "$0")/.."
out=bench/out; mkdir -p "$out"
: > "$out/train.jsonl"
py=/usr/bin/python3
have_torch=0
$py -c "import torch" 2>/dev/null && have_torch=1
echo "training step (forward + backward + AdamW), preset small, $(nproc) threads, $(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null)"
printf "%-8s %-10s %3s %6s %12s %12s %10s\n" impl form B T "tokens/s" "peak RSS MB" "vs torch"
point() { # impl form B T
  local line
  if [ "$1" = retnet ]; then
    line=$(build/bench/bench_train --preset small --form "$2" --B "$3" --T "$4" --steps 5)
  else
    line=$(OMP_NUM_THREADS=2 $py bench/pytorch_train.py --B "$3" --T "$4" --form "$2" --steps 5 2>/dev/null | tail -n 1)
  fi
  echo "$line" >> "$out/train.jsonl"
  echo "$line"
}
field() { echo "$1" | sed -E "s/.*\"$2\":([0-9.]+).*/\1/"; }
for BT in "8 256" "1 2048"; do
  set -- $BT
  for form in parallel chunkwise; do
    ours=$(point retnet $form $1 $2)
    peer=""; [ $have_torch = 1 ] && peer=$(point pytorch $form $1 $2)
    o=$(field "$ours" tokens_per_s)
    ratio="-"
    if [ -n "$peer" ]; then
      p=$(field "$peer" tokens_per_s)
      ratio=$(awk -v a="$o" -v b="$p" 'BEGIN { printf "%.2fx", a / b }')
      printf "%-8s %-10s %3s %6s %12.0f %12.0f %10s\n" pytorch $form $1 $2 "$p" "$(field "$peer" peak_rss_mb)" ""
    fi
    printf "%-8s %-10s %3s %6s %12.0f %12.0f %10s\n" retnet $form $1 $2 "$o" "$(field "$ours" peak_rss_mb)" "$ratio"
  done
done
for T in 8192 16384; do
  ours=$(point retnet chunkwise 1 $T)
  printf "%-8s %-10s %3s %6s %12.0f %12.0f %10s\n" retnet chunkwise 1 $T "$(field "$ours" tokens_per_s)" "$(field "$ours" peak_rss_mb)" "-"
done
