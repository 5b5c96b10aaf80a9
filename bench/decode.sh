#!/usr/bin/env bash
# make bench-decode: token-by-token decoding (the recurrent form) of the `small` preset and the
# ~100M `base` preset, fp32 and bf16 weights (retnet_model_set_bf16_decode):
#  - per-token latency (median, p10-p90, over 64 timed tokens after 16 warm-up; 128 for small)
#    and tokens/s at contexts 128, 1k, 8k, 32k, 100k, with the process's VmRSS and VmHWM at each
#    context. The timed tokens alternate in blocks of 8 with those of a reference sequence kept
#    at the first context; "vs ref" is the ratio of the two medians, in which the drift of the
#    machine's speed over the run cancels;
#  - batch 1, 8, 64 throughput at context 1k (B states, one retnet_forward(B, T=1) per step);
#  - the memory-bandwidth bound: the machine's copy and read rates (bench_decode --mode
#    bandwidth, at the start and at the end), and at each point achieved tokens/s as a fraction
#    of 1 / (weight bytes / read rate + 2 state bytes / copy rate), with the read rate measured
#    again right before and after that point (it drifts by tens of percent on this machine).
# One process per (preset, dtype) walks the contexts upwards, prefilling with the chunkwise
# form (2048 tokens per call, the state carried, logits NULL). Prefill speed is measured first;
# a preset whose real prefill of both dtypes up to the largest context would take longer than
# DECODE_PREFILL_BUDGET seconds (default 200) is prefilled for real up to the largest context
# that fits, and the contexts above are reached by a position jump (state.pos set to the
# context; the per-token cost depends on the position only through the rotation angles and the
# decay-row scale). The table and the JSON say which point was reached how.
# Output: a table on stdout, bench/out/decode.jsonl, bench/out/decode.png (gnuplot).
#   bench/decode.sh            measure, then report (~6 minutes on 2 cores)
#   bench/decode.sh --report   only the tables and the plot, from bench/out/decode.jsonl
# Environment: DECODE_PRESETS (default "small base"), DECODE_CONTEXTS, DECODE_PREFILL_BUDGET,
# DECODE_BW_MB (buffer size of the bandwidth test, default 1024).
set -eu
cd "$(dirname "$0")/.."
out=bench/out; mkdir -p "$out"
bin=build/bench/bench_decode
J=$out/decode.jsonl
presets=${DECODE_PRESETS:-small base}
contexts=${DECODE_CONTEXTS:-128,1024,8192,32768,100000}
budget=${DECODE_PREFILL_BUDGET:-200}
bw_mb=${DECODE_BW_MB:-1024}

# the value of a JSON field in a line (numbers and strings)
field() { sed -E "s/.*\"$1\":\"?([^,\"}]*).*/\1/"; }

# ---------------------------------------------------------------- measure
if [ "${1:-}" != --report ]; then
  : > "$J"
  threads=${OMP_NUM_THREADS:-$(nproc)}
  t_start=$(date +%s)
  printf '{"kind":"run","date":"%s","commit":"%s","threads":%s,"cpu":"%s","cores":%s,"mem_gb":%s}\n' \
    "$(date -u '+%F %H:%M UTC')" "$(git rev-parse --short HEAD 2>/dev/null || echo none)" "$threads" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(grep -c ^processor /proc/cpuinfo)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)" >> "$J"
  echo "measuring; the report follows"
  $bin --mode bandwidth --mb "$bw_mb" | sed 's/"kind":"bandwidth"/"kind":"bandwidth","when":"start"/' >> "$J"
  bw=$(grep '"when":"start"' "$J" | grep -m1 "\"threads\":$threads,") || bw=$(grep -m1 '"when":"start"' "$J")
  read_gbs=$(echo "$bw" | field read_gbs); copy_gbs=$(echo "$bw" | field copy_gbs)
  echo "  bandwidth: read $read_gbs GB/s, copy $copy_gbs GB/s"
  for preset in $presets; do
    l=$($bin --mode prefill --preset "$preset" --tokens 4096 --piece 2048)
    rate=$(echo "$l" | field tokens_per_s)
    maxp=$(echo "$contexts" | tr , '\n' | awk -v r="$rate" -v b="$budget" \
      'NR == 1 {m = $1} 2 * $1 / r <= b {m = $1} END {print m}')
    echo "$l" | sed "s/}\$/,\"budget_s\":$budget,\"max_prefill\":$maxp}/" >> "$J"
    echo "  $preset: prefill $rate tokens/s; real prefill up to $maxp tokens"
    for dt in fp32 bf16; do
      flag=; [ $dt = bf16 ] && flag=--bf16
      ntok=64; [ "$preset" = small ] && ntok=128
      $bin --mode context --preset "$preset" $flag --contexts "$contexts" --max-prefill "$maxp" \
        --tokens $ntok --read-gbs "$read_gbs" --copy-gbs "$copy_gbs" >> "$J"
      $bin --mode batch --preset "$preset" $flag --ctx 1024 --batches 1,8,64 \
        --read-gbs "$read_gbs" --copy-gbs "$copy_gbs" >> "$J"
      echo "  $preset $dt done ($(( $(date +%s) - t_start )) s)"
    done
  done
  $bin --mode bandwidth --mb "$bw_mb" | sed 's/"kind":"bandwidth"/"kind":"bandwidth","when":"end"/' >> "$J"
  echo "{\"kind\":\"elapsed\",\"seconds\":$(( $(date +%s) - t_start ))}" >> "$J"
  echo
fi

# ---------------------------------------------------------------- report
[ -s "$J" ] || { echo "decode.sh: no $J; run bench/decode.sh first" >&2; exit 1; }
run=$(grep -m1 '"kind":"run"' "$J" || echo '{}')
threads=$(echo "$run" | field threads)
commit=$(echo "$run" | field commit)
echo "decoding, $threads threads, $(echo "$run" | field date), commit $commit"
echo "machine: $(echo "$run" | field cpu), $(echo "$run" | field cores) cores, $(echo "$run" | field mem_gb) GB"
echo
echo "memory bandwidth (2 buffers of $(grep -m1 '"kind":"bandwidth"' "$J" | field mb) MB on huge pages, median of 5):"
grep '"kind":"bandwidth"' "$J" | while read -r l; do
  printf "  %-5s %d thread(s): copy %6.1f GB/s (read + write), read-only sum %6.1f GB/s\n" \
    "$(echo "$l" | field when)" "$(echo "$l" | field threads)" "$(echo "$l" | field copy_gbs)" \
    "$(echo "$l" | field read_gbs)"
done
echo "  bound of each point: 1 / (weight bytes / read rate + 2 x state bytes / copy rate at the start),"
echo "  the read rate measured right before and after the point (256 MB, median of 3 each, their mean)"
echo
grep '"kind":"prefill"' "$J" | while read -r l; do
  p=$(echo "$l" | field preset); maxp=$(echo "$l" | field max_prefill)
  jumps=$(grep '"kind":"decode"' "$J" | grep "\"preset\":\"$p\"" | grep '"reached":"jump"' |
          field context | sort -un | tr '\n' ' ')
  printf "%s: %s parameters; prefill (chunkwise, 2048 tokens per call) %.0f tokens/s; " "$p" \
    "$(echo "$l" | field params)" "$(echo "$l" | field tokens_per_s)"
  if [ -z "$jumps" ]; then echo "every context prefilled for real"
  else echo "prefilled for real up to $maxp tokens (budget $(echo "$l" | field budget_s) s for both dtypes), ${jumps}by a position jump from that state"; fi
done
echo
echo "per-token decode latency, B = 1 (16 warm-up + 64 timed tokens, small 128; vs ref: median over the"
echo "median of the interleaved reference sequence at the first context; VmHWM: peak while decoding"
echo "there; others: cores busy with other processes meanwhile)"
printf "%-6s %-5s %7s %-8s %9s %13s %7s %9s %7s %8s %9s %9s %6s\n" preset dtype context reached "median ms" \
  "p10-p90 ms" "vs ref" "tokens/s" "rd GB/s" "of bound" "VmRSS MB" "VmHWM MB" others
grep '"kind":"decode"' "$J" | while read -r l; do
  printf "%-6s %-5s %7s %-8s %9.2f %6.2f-%-6.2f %7.3f %9.1f %7.1f %7.0f%% %9.1f %9.1f %6.2f\n" \
    "$(echo "$l" | field preset)" "$(echo "$l" | field dtype)" "$(echo "$l" | field context)" \
    "$(echo "$l" | field reached)" "$(echo "$l" | field median_ms)" "$(echo "$l" | field p10_ms)" \
    "$(echo "$l" | field p90_ms)" "$(echo "$l" | field vs_ref)" "$(echo "$l" | field tokens_per_s)" \
    "$(echo "$l" | field read_gbs)" "$(echo "$l" | field of_bound | awk '{print 100 * $1}')" \
    "$(echo "$l" | field vmrss_mb)" "$(echo "$l" | field vmhwm_mb)" "$(echo "$l" | field other_cores)"
done
echo
echo "flatness from the smallest to the largest context (raw median max/min; vs ref at its farthest"
echo "from 1, the drift-free ratio; VmRSS max - min; of bound: median over the contexts):"
for preset in $presets; do for dt in fp32 bf16; do
  grep '"kind":"decode"' "$J" | grep "\"preset\":\"$preset\"" | grep "\"dtype\":\"$dt\"" |
    awk -v p="$preset" -v d="$dt" '{
      match($0, /"median_ms":[0-9.]+/); ms = substr($0, RSTART + 12, RLENGTH - 12) + 0;
      match($0, /"vmrss_mb":[0-9.]+/); r = substr($0, RSTART + 11, RLENGTH - 11) + 0;
      match($0, /"vs_ref":[0-9.]+/); v = substr($0, RSTART + 9, RLENGTH - 9) + 0;
      match($0, /"of_bound":[0-9.]+/); ob[NR] = substr($0, RSTART + 11, RLENGTH - 11) + 0;
      dv = v > 1 ? v - 1 : 1 - v; if (NR == 1 || dv > vmax) { vmax = dv; vw = v }
      if (NR == 1 || ms < lo) lo = ms; if (NR == 1 || ms > hi) hi = ms;
      if (NR == 1 || r < rlo) rlo = r; if (NR == 1 || r > rhi) rhi = r }
      END { if (!NR) exit;
        for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (ob[j] < ob[i]) { x = ob[i]; ob[i] = ob[j]; ob[j] = x }
        printf "  %-6s %-5s raw %.3f; vs ref %.3f (%s); VmRSS %.1f-%.1f MB (%s); of bound %.0f%%\n",
          p, d, hi / lo, vw, vmax <= 0.10 ? "within 10%" : "NOT within 10%", rlo, rhi,
          rhi - rlo <= 2 ? "flat" : "differs by " sprintf("%.1f", rhi - rlo) " MB", 100 * ob[int((NR + 1) / 2)] }'
done; done
echo
echo "batch decoding at context 1k (one retnet_forward(B, T=1) per step; bf16 weights are used for B <= 8)"
printf "%-6s %-5s %4s %13s %10s %8s %10s %9s %9s\n" preset dtype B "step ms" "tokens/s" "rd GB/s" "bound" "of bound" "VmRSS MB"
grep '"kind":"batch"' "$J" | while read -r l; do
  printf "%-6s %-5s %4s %13.2f %10.1f %8.1f %10.1f %8.0f%% %9.1f\n" \
    "$(echo "$l" | field preset)" "$(echo "$l" | field dtype)" "$(echo "$l" | field B)" \
    "$(echo "$l" | field median_step_ms)" "$(echo "$l" | field tokens_per_s)" "$(echo "$l" | field read_gbs)" \
    "$(echo "$l" | field bound_tokens_per_s)" "$(echo "$l" | field of_bound | awk '{print 100 * $1}')" \
    "$(echo "$l" | field vmrss_mb)"
done
echo
bw=$(grep '"kind":"bandwidth"' "$J" | grep -m1 "\"threads\":$threads,")
r0=$(echo "$bw" | field read_gbs); c0=$(echo "$bw" | field copy_gbs)
echo "bytes per token (B = 1): weights read (all 2-D weights incl. the output projection) + state"
echo "read and written; bound at the start's rates (read $r0 GB/s, copy $c0 GB/s):"
grep '"kind":"decode"' "$J" | while read -r l; do
  echo "$(echo "$l" | field preset) $(echo "$l" | field dtype) $(echo "$l" | field weight_mb_per_token) $(echo "$l" | field state_mb)"
done | sort -u | awk -v r="$r0" -v c="$c0" '{printf "  %-6s %-5s weights %7.1f MB + state 2 x %5.2f MB -> bound %7.1f tokens/s\n", $1, $2, $3, $4, 1000 / ($3 / r + 2 * $4 / c)}'
el=$(grep -m1 '"kind":"elapsed"' "$J" | field seconds) && echo "elapsed: $el s"

# ---------------------------------------------------------------- plot
if command -v gnuplot >/dev/null; then
  plots=; rplots=; vplots=; jumps=; files=
  for preset in $presets; do for dt in fp32 bf16; do
    f="$out/decode-$preset-$dt.dat"
    grep '"kind":"decode"' "$J" | grep "\"preset\":\"$preset\"" | grep "\"dtype\":\"$dt\"" | while read -r l; do
      echo "$(echo "$l" | field context) $(echo "$l" | field median_ms) $(echo "$l" | field p10_ms) $(echo "$l" | field p90_ms) $(echo "$l" | field vmrss_mb) $(echo "$l" | field reached) $(echo "$l" | field vs_ref)"
    done > "$f"
    [ -s "$f" ] || continue
    files="$files $f"
    plots="$plots${plots:+, }\"$f\" u 1:2:3:4 w yerrorlines t \"$preset $dt\""
    vplots="$vplots${vplots:+, }\"$f\" u 1:7 w lp t \"$preset $dt\""
    rplots="$rplots${rplots:+, }\"$f\" u 1:5 w lp t \"$preset $dt\""
    jumps="$jumps${jumps:+, }\"$f\" u 1:(strcol(6) eq \"jump\" ? \$2 : 1/0) w p pt 6 ps 2.5 lc black t \"\""
  done; done
  cat $files | grep -q jump && jumps="$jumps, 1/0 w p pt 6 ps 2.5 lc black t \"reached by position jump\""
  gnuplot <<GP
set terminal pngcairo size 1500,460
set output "$out/decode.png"
set multiplot layout 1,3 title "retnet decoding, B = 1, $threads threads, commit $commit (make bench-decode)"
set logscale x; set xlabel "context (tokens)"; set grid; set key top left; set tmargin 3
set xtics ("128" 128, "1k" 1024, "8k" 8192, "32k" 32768, "100k" 100000)
set logscale y; set ylabel "ms per token (median, bars p10-p90)"
plot $plots, $jumps
unset logscale y; set ylabel "median / median of the reference (interleaved)"; set yrange [0.8:1.2]
plot $vplots, 1.1 w l dt 2 lc rgb "gray" t "+-10%", 0.9 w l dt 2 lc rgb "gray" t ""
set ylabel "VmRSS (MB)"; set yrange [0:*]
plot $rplots
unset multiplot
GP
  echo "plot: $out/decode.png"
fi
