#!/usr/bin/env bash
# make bench: forward throughput and peak memory of the `small` preset, parallel and
# chunkwise forms, T = 512 .. 16k. Prints a table, writes bench/out/forward.jsonl and,
# when gnuplot is present, bench/out/forward.png.
set -eu
cd "$(dirname "$0")/.."
out=bench/out; mkdir -p "$out"
bin=build/bench/bench_forward
: > "$out/forward.jsonl"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
echo "forward pass, preset small, $(nproc) threads, $(date -u +%F), commit $commit"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf "%-10s %7s %12s %12s %14s %12s\n" form T "median ms" "tokens/s" "peak RSS MB" "scratch MB"
for form in parallel chunkwise; do
  for T in 512 2048 8192 16384; do
    reps=5; [ $T -ge 8192 ] && reps=3
    [ $form = parallel ] && [ $T -ge 8192 ] && reps=1
    line=$($bin --preset small --form $form --T $T --reps $reps)
    echo "$line" >> "$out/forward.jsonl"
    echo "$line" | awk -v f=$form -v T=$T '{
      match($0, /"median_s":[0-9.]+/); ms = substr($0, RSTART+11, RLENGTH-11) * 1000;
      match($0, /"tokens_per_s":[0-9.]+/); tps = substr($0, RSTART+15, RLENGTH-15);
      match($0, /"peak_rss_mb":[0-9.]+/); rss = substr($0, RSTART+14, RLENGTH-14);
      match($0, /"scratch_mb":[0-9.]+/); sc = substr($0, RSTART+13, RLENGTH-13);
      printf "%-10s %7d %12.1f %12.0f %14.1f %12.1f\n", f, T, ms, tps, rss, sc }'
  done
done
if command -v gnuplot >/dev/null; then
  for form in parallel chunkwise; do
    grep "\"form\":\"$form\"" "$out/forward.jsonl" | sed -E 's/.*"T":([0-9]+).*"tokens_per_s":([0-9.]+),"peak_rss_mb":([0-9.]+).*/\1 \2 \3/' > "$out/forward-$form.dat"
  done
  gnuplot <<GP
set terminal pngcairo size 1000,420
set output "$out/forward.png"
set multiplot layout 1,2 title "retnet forward, preset small, $(nproc) threads, commit $commit (make bench)"
set logscale x 2; set xlabel "T (tokens)"; set key top right; set grid
set ylabel "tokens/s"
plot "$out/forward-parallel.dat" u 1:2 w lp t "parallel", "$out/forward-chunkwise.dat" u 1:2 w lp t "chunkwise"
set ylabel "peak RSS (MB)"; set key top left; unset logscale x; set xtics 4096
plot "$out/forward-parallel.dat" u 1:3 w lp t "parallel", "$out/forward-chunkwise.dat" u 1:3 w lp t "chunkwise"
unset multiplot
GP
  echo "plot: $out/forward.png"
fi
