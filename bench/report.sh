#!/usr/bin/env bash
# make report: every claim of RETNET.md §7 measured at our scale, RetNet against the
# Transformer matched to it in parameter count (presets small / tf-small, 10.74M / 10.73M),
# written up in bench/REPORT.md with its plots (bench/report/*.png) and raw data
# (bench/report/*.jsonl). About 30 minutes on 2 quiet cores.
#
#   (a) decode   ms/token against context (128 .. 64k), state / KV-cache bytes and process RSS
#                against context, tokens/s against batch size (1 .. 64) at 8k context
#                (build/bench/bench_decode; the Transformer's long contexts by a cache fill)
#   (b) train    training tokens/s and peak RSS against sequence length (256 .. 16k): RetNet
#                parallel and chunkwise, Transformer naive and tiled (build/bench/bench_train)
#   (c) quality  validation-loss curves of a size-matched RetNet and Transformer on the Brown
#                corpus (byte-level), and the paper's ablations, 2 seeds each (retnet train)
#   (d) peer     the same RetNet in PyTorch (Debian's python3-torch): a training step and
#                recurrent decoding, beside ours in the same run (bench/pytorch_*.py)
#
# Usage:
#   bench/report.sh                      measure everything, then write bench/REPORT.md
#   bench/report.sh --only decode,peer   measure these sections only (the raw data of the others,
#                                        in bench/report/, is kept), then write the report
#   bench/report.sh --write              only write the report (tables, plots) from the raw data
#   bench/report.sh --smoke [--out DIR]  the same scripts at tiny sizes in seconds, into DIR (default
#                                        a new temporary directory; its REPORT.md is written there
#                                        and bench/REPORT.md is not touched): what the test suite
#                                        runs (tests/report_smoke.sh) so that these scripts cannot rot
# Every size and count below can be overridden from the environment (REPORT_*).
set -eu
cd "$(dirname "$0")/.."
root=$PWD

smoke=0 only="decode,train,quality,peer" write_only=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --only) only=$2; shift ;;
    --write) write_only=1 ;;
    --out) out=$2; shift ;;
    *) echo "report.sh: unknown option $1 (see the comment at the top of bench/report.sh)" >&2; exit 2 ;;
  esac
  shift
done

# ---------------------------------------------------------------- sizes
if [ $smoke = 1 ]; then
  [ -n "$out" ] || out=$(mktemp -d /tmp/retnet-report-smoke.XXXXXX)
  md=$out/REPORT.md
  : "${REPORT_DEC_RETNET:=tiny}" "${REPORT_DEC_TF:=tf-tiny}"
  : "${REPORT_DEC_CONTEXTS:=16,64,256}" "${REPORT_DEC_TOKENS:=8}" "${REPORT_DEC_WARMUP:=8}"
  : "${REPORT_DEC_TF_TOKENS:=8}" "${REPORT_DEC_TF_WARMUP:=8}"
  : "${REPORT_DEC_RETNET_PREFILL:=64}" "${REPORT_DEC_TF_PREFILL:=64}" "${REPORT_DEC_PIECE:=32}"
  : "${REPORT_BATCH_CTX:=64}" "${REPORT_BATCHES:=1,2,4}" "${REPORT_BATCH_MAX_MB:=0.4}"
  : "${REPORT_BW_MB:=0}" "${REPORT_DEC_RETRIES:=1}"
  : "${REPORT_TRAIN_RETNET:=tiny}" "${REPORT_TRAIN_TF:=tf-tiny}"
  : "${REPORT_TRAIN_T:=32,64,128,1048576}" "${REPORT_TRAIN_TOKENS:=64}"
  : "${REPORT_TRAIN_STEPS:=1}" "${REPORT_TRAIN_MAX_STEP_S:=2}" "${REPORT_TRAIN_MAX_STEP_S_LINEAR:=2}"
  : "${REPORT_Q_D:=256}" "${REPORT_Q_LAYERS:=1}" "${REPORT_Q_HEADS:=2}" "${REPORT_Q_SEQ:=32}"
  : "${REPORT_Q_BATCH:=2}" "${REPORT_Q_STEPS:=4}" "${REPORT_Q_WARMUP:=1}" "${REPORT_Q_EVAL_EVERY:=2}"
  : "${REPORT_Q_EVAL_BATCHES:=1}"
  : "${REPORT_PEER_PRESET:=tiny}" "${REPORT_PEER_B:=2}" "${REPORT_PEER_T:=32}" "${REPORT_PEER_STEPS:=1}"
  : "${REPORT_PEER_TOKENS:=4}" "${REPORT_PEER_BATCHES:=1,2}"
else
  [ -n "$out" ] || out=bench/report
  md=bench/REPORT.md
  : "${REPORT_DEC_RETNET:=small}" "${REPORT_DEC_TF:=tf-small}"
  : "${REPORT_DEC_CONTEXTS:=128,512,2048,8192,16384,32768,65536}"
  : "${REPORT_DEC_TOKENS:=128}" "${REPORT_DEC_WARMUP:=16}" "${REPORT_DEC_TF_TOKENS:=32}" "${REPORT_DEC_TF_WARMUP:=8}"
  : "${REPORT_DEC_RETNET_PREFILL:=65536}" "${REPORT_DEC_TF_PREFILL:=8192}" "${REPORT_DEC_PIECE:=2048}"
  : "${REPORT_BATCH_CTX:=8192}" "${REPORT_BATCHES:=1,2,4,8,16,32,64}" "${REPORT_BATCH_MAX_MB:=12000}"
  : "${REPORT_BW_MB:=512}"
  : "${REPORT_TRAIN_RETNET:=small}" "${REPORT_TRAIN_TF:=tf-small}"
  : "${REPORT_TRAIN_T:=256,512,1024,2048,4096,8192,16384}" "${REPORT_TRAIN_TOKENS:=2048}"
  : "${REPORT_TRAIN_STEPS:=3}" "${REPORT_TRAIN_MAX_STEP_S:=30}" "${REPORT_TRAIN_MAX_STEP_S_LINEAR:=120}"
  : "${REPORT_Q_D:=256}" "${REPORT_Q_LAYERS:=4}" "${REPORT_Q_HEADS:=2}" "${REPORT_Q_SEQ:=256}"
  : "${REPORT_Q_BATCH:=8}" "${REPORT_Q_STEPS:=100}" "${REPORT_Q_WARMUP:=10}" "${REPORT_Q_EVAL_EVERY:=20}"
  : "${REPORT_Q_EVAL_BATCHES:=8}"
  : "${REPORT_PEER_PRESET:=small}" "${REPORT_PEER_B:=8}" "${REPORT_PEER_T:=256}" "${REPORT_PEER_STEPS:=3}"
  : "${REPORT_PEER_TOKENS:=64}" "${REPORT_PEER_BATCHES:=1,8}"
fi
: "${REPORT_Q_SEEDS:=1 2}" "${REPORT_Q_JOBS:=2}" "${REPORT_Q_LR:=2e-3}"
threads=${OMP_NUM_THREADS:-$(nproc)}
# a decode point timed while other processes took over half a core is timed again (up to this
# many more times, the least disturbed kept); a train or peer point shorter than REPORT_RETRY_S
# seconds, once
: "${REPORT_DEC_RETRIES:=2}" "${REPORT_RETRY_S:=90}"
export OMP_NUM_THREADS=$threads
py=/usr/bin/python3
mkdir -p "$out"
log() { echo "report: $*" >&2; }
B=build/bench

# ---------------------------------------------------------------- run bookkeeping
# Each section writes its own raw file, which starts with a "run" line (date, commit, machine,
# threads, the command that remakes it) and ends with an "end" line (seconds, and the load
# while it ran: the 1-minute load average sampled every 5 s, and the cores that other
# processes used, from /proc/stat less this script's children's CPU time).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
git diff --quiet HEAD -- src include tools bench 2>/dev/null || commit="$commit+changes"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cores=$(grep -c ^processor /proc/cpuinfo)
mem_gb=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# CPU seconds of this script's finished children (the builtin `times`, run in this shell: in a
# pipe or $(...) it would report a subshell's, which has none)
child_cpu() { # variable name
  times > "$out/.times"
  printf -v "$1" '%s' "$(awk 'END { s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } print s }' "$out/.times")"
  rm -f "$out/.times"
}
section_start() { # name command
  sec_name=$1 sec_file=$out/$1.jsonl sec_t0=$(date +%s.%N) sec_b0=$(busy_ticks)
  child_cpu sec_c0
  : > "$sec_file"
  printf '{"kind":"run","section":"%s","date":"%s","commit":"%s","threads":%s,"cpu":"%s","cores":%s,"mem_gb":%s,"smoke":%s,"command":"%s","loadavg":%s}\n' \
    "$1" "$(date -u '+%F %H:%M UTC')" "$commit" "$threads" "$cpu" "$cores" "$mem_gb" "$smoke" "$2" \
    "$(cut -d' ' -f1 /proc/loadavg)" >> "$sec_file"
  ( while :; do cut -d' ' -f1 /proc/loadavg; sleep 5; done ) > "$out/$1.load" 2>/dev/null &
  sec_sampler=$!
  log "($1) started $(date -u '+%H:%M:%S'), load $(cut -d' ' -f1 /proc/loadavg)"
}
section_end() {
  kill "$sec_sampler" 2>/dev/null || true
  wait "$sec_sampler" 2>/dev/null || true
  local t1 b1 c1
  t1=$(date +%s.%N) b1=$(busy_ticks)
  child_cpu c1
  awk -v t0="$sec_t0" -v t1="$t1" -v b0="$sec_b0" -v b1="$b1" -v c0="$sec_c0" -v c1="$c1" \
      -v hz="$(getconf CLK_TCK)" -v lf="$out/$sec_name.load" 'BEGIN {
    n = 0; s = 0; mx = 0
    while ((getline l < lf) > 0) { n++; s += l; if (l > mx) mx = l }
    dt = t1 - t0; others = dt > 0 ? ((b1 - b0) / hz - (c1 - c0)) / dt : 0; if (others < 0) others = 0
    printf "{\"kind\":\"end\",\"seconds\":%.1f,\"load_mean\":%.2f,\"load_max\":%.2f,\"load_samples\":%d,\"other_cores\":%.2f}\n",
      dt, n ? s / n : 0, mx, n, others }' >> "$sec_file"
  rm -f "$out/$sec_name.load" "$out/.err"
  log "($sec_name) done in $(awk -v a="$sec_t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s"
}
# Runs a command whose last line on stdout is a flat JSON object and prints that line with
# "other_cores" added: the cores that other processes used meanwhile. When they used more than
# half a core and the command took under REPORT_RETRY_S seconds, it runs once more and the less
# disturbed of the two is kept ("tries": 2). A failing command prints nothing and returns its
# status (its stderr in $out/.err).
run_point() {
  local best="" bo=1e9 try=0 line rc b0 b1 c0 c1 t0 t1 o
  while [ $try -lt 2 ]; do
    try=$((try + 1)) rc=0
    b0=$(busy_ticks); child_cpu c0; t0=$(date +%s.%N)
    line=$("$@" 2>"$out/.err" | tail -n 1) || rc=$?
    [ $rc -eq 0 ] && [ -z "$line" ] && rc=1
    [ $rc -ne 0 ] && return $rc
    t1=$(date +%s.%N); b1=$(busy_ticks); child_cpu c1
    o=$(awk -v t0="$t0" -v t1="$t1" -v b0="$b0" -v b1="$b1" -v c0="$c0" -v c1="$c1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { o = t1 > t0 ? ((b1 - b0) / hz - (c1 - c0)) / (t1 - t0) : 0; printf "%.2f", o < 0 ? 0 : o }')
    if awk -v a="$o" -v b="$bo" 'BEGIN { exit !(a < b) }'; then
      best=$(echo "$line" | sed "s/}\$/,\"other_cores\":$o,\"tries\":$try}/") bo=$o
    fi
    awk -v o="$o" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v l="$REPORT_RETRY_S" \
      'BEGIN { exit !(o > 0.5 && t < l) }' || break
    log "  other processes took $o cores: once more"
  done
  echo "$best"
}
want() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }
field() { sed -E "s/.*\"$1\": ?\"?([^,\"}]*).*/\1/"; }

# ---------------------------------------------------------------- (a) decoding
measure_decode() {
  section_start decode "bench/report.sh --only decode"
  local f=$out/decode.jsonl bw=""
  # the memory bandwidth, for the bound of each point (REPORT_BW_MB=0: none)
  [ "$REPORT_BW_MB" -gt 0 ] &&
    { bw=$($B/bench_decode --mode bandwidth --mb "$REPORT_BW_MB" | grep -m1 "\"threads\":$threads,") || true; }
  [ -n "$bw" ] && echo "$bw" >> "$f"
  local rd cp; rd=$(echo "$bw" | field read_gbs); cp=$(echo "$bw" | field copy_gbs)
  local bwopt=""; [ -n "$bw" ] && bwopt="--read-gbs $rd --copy-gbs $cp"
  # the Transformer's steps at long contexts take up to a second: fewer timed tokens
  for p in "$REPORT_DEC_RETNET:$REPORT_DEC_RETNET_PREFILL:$REPORT_DEC_TOKENS:$REPORT_DEC_WARMUP" \
           "$REPORT_DEC_TF:$REPORT_DEC_TF_PREFILL:$REPORT_DEC_TF_TOKENS:$REPORT_DEC_TF_WARMUP"; do
    IFS=: read -r preset pre ntok nwarm <<< "$p"
    log "(decode) $preset: contexts $REPORT_DEC_CONTEXTS, real prefill up to $pre"
    # shellcheck disable=SC2086
    $B/bench_decode --mode context --preset "$preset" --contexts "$REPORT_DEC_CONTEXTS" \
      --max-prefill "$pre" --tokens "$ntok" --warmup "$nwarm" --piece "$REPORT_DEC_PIECE" \
      --retries "$REPORT_DEC_RETRIES" $bwopt >> "$f"
  done
  # batches: all the states must fit in REPORT_BATCH_MAX_MB and in 60% of the memory available now
  local maxmb
  maxmb=$(awk -v l="$REPORT_BATCH_MAX_MB" '/MemAvailable/ { a = 0.6 * $2 / 1024; print (a < l ? a : l) }' /proc/meminfo)
  for p in "$REPORT_DEC_RETNET:$REPORT_DEC_RETNET_PREFILL" "$REPORT_DEC_TF:$REPORT_DEC_TF_PREFILL"; do
    log "(decode) ${p%%:*}: batches $REPORT_BATCHES at context $REPORT_BATCH_CTX"
    # shellcheck disable=SC2086
    $B/bench_decode --mode batch --preset "${p%%:*}" --ctx "$REPORT_BATCH_CTX" \
      --batches "$REPORT_BATCHES" --max-prefill "${p##*:}" --max-mb "$maxmb" \
      --piece "$REPORT_DEC_PIECE" --retries "$REPORT_DEC_RETRIES" $bwopt >> "$f"
  done
  section_end
}

# ---------------------------------------------------------------- (b) training
# One process per point (its peak RSS is the point's). B = max(1, REPORT_TRAIN_TOKENS / T)
# windows per step. A point is skipped when its step time, predicted from the form's last two
# points (time per token ~ T^e, e fitted from them and clipped to [0, 1]; 1 from one point), exceeds
# REPORT_TRAIN_MAX_STEP_S (30 s), or REPORT_TRAIN_MAX_STEP_S_LINEAR (120 s) for the one form
# that is linear in T, RetNet chunkwise; later points of that form are skipped too.
measure_train() {
  section_start train "bench/report.sh --only train"
  local f=$out/train.jsonl Ts
  Ts=$(echo "$REPORT_TRAIN_T" | tr , ' ')
  for pf in "$REPORT_TRAIN_RETNET parallel" "$REPORT_TRAIN_RETNET chunkwise" \
            "$REPORT_TRAIN_TF parallel" "$REPORT_TRAIN_TF chunkwise"; do
    set -- $pf
    local preset=$1 form=$2 pT="" pt="" qT="" qt="" stop="" limit=$REPORT_TRAIN_MAX_STEP_S
    [ "$preset" = "$REPORT_TRAIN_RETNET" ] && [ "$form" = chunkwise ] && limit=$REPORT_TRAIN_MAX_STEP_S_LINEAR
    for T in $Ts; do
      local Bn=$(( REPORT_TRAIN_TOKENS / T )); [ $Bn -lt 1 ] && Bn=1
      local pred
      # the cost per token grows as T^e (e from the last two points: 0 linear .. 1 quadratic;
      # 1 from one point); the step has B T tokens
      pred=$(awk -v T="$T" -v pT="$pT" -v pt="$pt" -v qT="$qT" -v qt="$qt" -v B="$Bn" -v tok="$REPORT_TRAIN_TOKENS" '
        function bt(t) { b = int(tok / t); return (b < 1 ? 1 : b) * t }
        BEGIN {
        if (pT == "") { print 0; exit }
        e = 1; if (qT != "" && pt > 0 && qt > 0) e = log((pt / bt(pT)) / (qt / bt(qT))) / log(pT / qT)
        if (e < 0) e = 0; if (e > 1) e = 1
        print pt / bt(pT) * B * T * (T / pT) ^ e }')
      if [ -z "$stop" ] && awk -v p="$pred" -v l="$limit" 'BEGIN {exit !(p > l)}'; then
        stop=$(printf 'predicted %.0f s per step > limit %s s' "$pred" "$limit")
      fi
      if [ -n "$stop" ]; then
        printf '{"impl":"retnet","preset":"%s","form":"%s","B":%d,"T":%d,"skipped":"%s"}\n' \
          "$preset" "$form" "$Bn" "$T" "$stop" >> "$f"
        stop="$(echo "$stop" | sed 's/ (at T = .*//') (at T = $T already)"
        continue
      fi
      local steps=$REPORT_TRAIN_STEPS; [ "$T" -ge 8192 ] && [ "$steps" -gt 2 ] && steps=2
      log "(train) $preset $form B=$Bn T=$T (predicted $(printf %.1f "$pred") s/step)"
      local line rc=0
      line=$(run_point timeout 900 $B/bench_train --preset "$preset" --form "$form" --B "$Bn" \
             --T "$T" --steps "$steps") || rc=$?
      if [ $rc -ne 0 ]; then
        printf '{"impl":"retnet","preset":"%s","form":"%s","B":%d,"T":%d,"skipped":"failed (exit %d): %s"}\n' \
          "$preset" "$form" "$Bn" "$T" "$rc" "$(tail -n 1 "$out/.err" | tr -d '"\\')" >> "$f"
        stop="an earlier point failed"
        continue
      fi
      echo "$line" >> "$f"
      qT=$pT qt=$pt pT=$T pt=$(echo "$line" | field median_s)
    done
  done
  section_end
}

# ---------------------------------------------------------------- (c) quality
# Byte-level Brown corpus (scripts/get-corpora.sh; whole documents held out). Every config of
# bench/report_configs trained with the same recipe and the same number of steps (tokens),
# one seed after the other for all configs; REPORT_Q_JOBS runs at once, one thread each.
measure_quality() {
  section_start quality "bench/report.sh --only quality"
  local f=$out/quality.jsonl qd=$out/quality data
  rm -rf "$qd"; mkdir -p "$qd/configs"
  local work; work=$(mktemp -d /tmp/retnet-report-runs.XXXXXX)
  if [ $smoke = 1 ]; then  # any text will do: this repository's own documentation
    data=$out/data
    cat README.md docs/*.md > "$work/train.txt"; head -c 20000 bench/RESULTS.md > "$work/val.txt"
    build/retnet tokenize --tokenizer byte --data "$work/train.txt" --val-data "$work/val.txt" \
      --out "$data" >/dev/null 2>&1
    echo '{"kind":"corpus","name":"smoke: README.md + docs/*.md, validation bench/RESULTS.md"}' >> "$f"
  else
    data=data/report-brown
    if ! scripts/get-corpora.sh data/corpora > "$work/corpora.log" 2>&1; then
      echo "{\"kind\":\"corpus\",\"error\":\"scripts/get-corpora.sh failed: $(tail -n 1 "$work/corpora.log" | tr -d '"\\')\"}" >> "$f"
      rm -rf "$work"; section_end; return 0
    fi
    build/retnet tokenize --tokenizer byte --data data/corpora/brown-train.txt \
      --val-data data/corpora/brown-val.txt --out "$data" >/dev/null 2>&1
    echo '{"kind":"corpus","name":"Brown corpus, byte-level: 475 documents for training, 25 whole documents held out"}' >> "$f"
  fi
  $B/report_configs --d "$REPORT_Q_D" --layers "$REPORT_Q_LAYERS" --heads "$REPORT_Q_HEADS" \
    --out "$qd/configs" > "$qd/configs.txt"
  local names; names=$(awk 'NR > 1 && $2 != "skipped:" {print $1}' "$qd/configs.txt")
  awk 'NR > 1 && $2 != "skipped:" { w = ""; for (i = 6; i <= NF; i++) w = w (i > 6 ? " " : "") $i
       printf "{\"kind\":\"config\",\"name\":\"%s\",\"params\":%s,\"heads\":%s,\"dk\":%s,\"dv\":%s,\"what\":\"%s\"}\n", $1, $2, $3, $4, $5, w }' \
    "$qd/configs.txt" >> "$f"
  printf '{"kind":"recipe","d":%s,"layers":%s,"heads":%s,"seq":%s,"batch":%s,"steps":%s,"warmup":%s,"lr":"%s","eval_every":%s,"eval_batches":%s,"seeds":"%s","jobs":%s}\n' \
    "$REPORT_Q_D" "$REPORT_Q_LAYERS" "$REPORT_Q_HEADS" "$REPORT_Q_SEQ" "$REPORT_Q_BATCH" "$REPORT_Q_STEPS" \
    "$REPORT_Q_WARMUP" "$REPORT_Q_LR" "$REPORT_Q_EVAL_EVERY" "$REPORT_Q_EVAL_BATCHES" "$REPORT_Q_SEEDS" "$REPORT_Q_JOBS" >> "$f"
  local jobs=() s n
  for s in $REPORT_Q_SEEDS; do for n in $names; do jobs+=("$n:$s"); done; done
  q_one() { # name:seed
    local n=${1%%:*} s=${1##*:} t0 rc=0
    t0=$(date +%s.%N)
    OMP_NUM_THREADS=1 build/retnet train --data "$data" --config "$qd/configs/$n.json" \
      --out "$work/$n-s$s" --steps "$REPORT_Q_STEPS" --batch "$REPORT_Q_BATCH" --seq "$REPORT_Q_SEQ" \
      --lr "$REPORT_Q_LR" --warmup "$REPORT_Q_WARMUP" --eval-every "$REPORT_Q_EVAL_EVERY" \
      --eval-batches "$REPORT_Q_EVAL_BATCHES" --sample-tokens 0 --save-every 100000000 --seed "$s" \
      --log "$qd/$n-s$s.jsonl" > "$qd/$n-s$s.txt" 2>&1 || rc=$?
    rm -rf "$work/$n-s$s"
    echo "$n $s $rc $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')" >> "$qd/done.txt"
  }
  # REPORT_Q_JOBS lanes, each running every REPORT_Q_JOBS-th job in turn
  local lanes=() lane i
  for ((lane = 0; lane < REPORT_Q_JOBS; lane++)); do
    ( for ((i = lane; i < ${#jobs[@]}; i += REPORT_Q_JOBS)); do
        log "(quality) ${jobs[i]%%:*} seed ${jobs[i]##*:}"; q_one "${jobs[i]}"; done ) &
    lanes+=($!)
  done
  for lane in "${lanes[@]}"; do wait "$lane"; done
  while read -r n s rc secs; do
    local last; last=$(grep '"val_loss"' "$qd/$n-s$s.jsonl" 2>/dev/null | tail -n 1)
    if [ "$rc" != 0 ] || [ -z "$last" ]; then
      printf '{"kind":"result","name":"%s","seed":%s,"error":"exit %s: %s"}\n' "$n" "$s" "$rc" \
        "$(tail -n 1 "$qd/$n-s$s.txt" | tr -d '"\\')" >> "$f"
      continue
    fi
    printf '{"kind":"result","name":"%s","seed":%s,"step":%s,"tokens":%s,"val_loss":%s,"train_loss":%s,"seconds":%s,"tokens_per_s":%s}\n' \
      "$n" "$s" "$(echo "$last" | field step)" "$(echo "$last" | field tokens)" \
      "$(echo "$last" | field val_loss)" "$(echo "$last" | field loss)" "$secs" \
      "$(echo "$last" | field tokens_per_s)" >> "$f"
    rm -f "$qd/$n-s$s.txt"   # the run's console output, kept only when it failed
  done < <(sort "$qd/done.txt")
  rm -f "$qd/done.txt"
  rm -rf "$work"
  section_end
}

# ---------------------------------------------------------------- (d) the PyTorch peer
measure_peer() {
  section_start peer "bench/report.sh --only peer"
  local f=$out/peer.jsonl why=""
  if [ ! -x $py ]; then why="$py is missing"
  elif ! $py -c "import torch" 2>/dev/null; then why="$py has no torch (Debian: apt-get install python3-torch)"; fi
  if [ -n "$why" ]; then
    echo "{\"kind\":\"missing\",\"why\":\"$why\"}" >> "$f"
    log "(peer) skipped: $why"; section_end; return 0
  fi
  local p=$REPORT_PEER_PRESET chk
  if chk=$($py bench/pytorch_decode.py --check 2>&1 | tail -n 2 | head -n 1); then
    echo "{\"kind\":\"check\",\"what\":\"pytorch_decode.py --check\",\"result\":\"$chk\"}" >> "$f"
  else
    echo "{\"kind\":\"check\",\"what\":\"pytorch_decode.py --check\",\"result\":\"FAILED\"}" >> "$f"
  fi
  echo "{\"kind\":\"torch\",\"version\":\"$($py -c 'import torch; print(torch.__version__)')\"}" >> "$f"
  for form in parallel chunkwise; do
    log "(peer) training $form B=$REPORT_PEER_B T=$REPORT_PEER_T: ours, then PyTorch"
    { run_point $B/bench_train --preset "$p" --form $form --B "$REPORT_PEER_B" --T "$REPORT_PEER_T" \
        --steps "$REPORT_PEER_STEPS" || true; } | sed 's/^{/{"kind":"train",/' >> "$f"
    { run_point $py bench/pytorch_train.py --preset "$p" --form $form --B "$REPORT_PEER_B" \
        --T "$REPORT_PEER_T" --steps "$REPORT_PEER_STEPS" --warmup 1 --threads "$threads" || true; } |
      sed 's/^{/{"kind":"train",/' >> "$f"
  done
  log "(peer) decoding B=$REPORT_PEER_BATCHES: ours, then PyTorch"
  $B/bench_decode --mode batch --preset "$p" --ctx 128 --batches "$REPORT_PEER_BATCHES" \
    --piece 128 --retries "$REPORT_DEC_RETRIES" | sed 's/"kind":"batch"/"kind":"decode","impl":"retnet"/' >> "$f"
  $py bench/pytorch_decode.py --preset "$p" --batches "$REPORT_PEER_BATCHES" --pos 128 \
    --tokens "$REPORT_PEER_TOKENS" --warmup 4 --threads "$threads" >> "$f"
  section_end
}

# ---------------------------------------------------------------- main
t_start=$(date +%s)
if [ $write_only = 0 ]; then
  for bin in $B/bench_decode $B/bench_train $B/report_configs build/retnet; do
    [ -x $bin ] || { echo "report.sh: $bin is missing: run make first" >&2; exit 1; }
  done
  log "writing raw data to $out/ ($threads threads, load $(cut -d' ' -f1 /proc/loadavg))"
  want decode && measure_decode
  want train && measure_train
  want quality && measure_quality
  want peer && measure_peer
fi
bench/report_md.sh "$out" "$md" "$smoke" "$(( $(date +%s) - t_start ))"
log "wrote $md (raw data and plots in $out/)"
