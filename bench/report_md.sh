#!/usr/bin/env bash
# report_md.sh: writes the report of `make report` from its raw data: the tables, the plots
# (gnuplot, when it is there) and the claims of RETNET.md §7 point by point. Called by
# bench/report.sh (last step, or alone with --write); reads only OUT/*.jsonl and
# OUT/quality/*.jsonl, so it can be rerun at will.
#
#   bench/report_md.sh OUT REPORT.md SMOKE(0|1) SECONDS
set -eu
cd "$(dirname "$0")/.."
out=$1 md=$2 smoke=${3:-0} total_s=${4:-0}
tmp=$(mktemp -d /tmp/retnet-report-md.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
kv=$tmp/kv             # key value lines that the claims table reads
: > "$kv"
# where the report links its plots from (relative to the report's directory)
rel=$(realpath --relative-to="$(dirname "$md")" "$out")
[ "$rel" = . ] && rel="" || rel="$rel/"
have_gnuplot=0; command -v gnuplot >/dev/null && have_gnuplot=1

# get(line, key): the value of a JSON field of a flat one-line object ("key":v or "key": v).
J='function get(l, k,   r, v) {
  r = "\"" k "\": ?(\"[^\"]*\"|[-+0-9.eE]+|true|false|null)"
  if (!match(l, r)) return ""
  v = substr(l, RSTART, RLENGTH); sub(/^"[^"]*": ?/, "", v); gsub(/"/, "", v); return v }
function kv(k, v) { print k, v >> KV }
function r2(x) { x += 0; return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x) }
function r3(x) { x += 0; return sprintf(x >= 1000 ? "%.0f" : x >= 100 ? "%.1f" : x >= 1 ? "%.2f" : "%.3f", x) }
function kb(c) { c += 0; return c >= 1024 ? (c / 1024) "k" : c }
function dm(o) { if (o != "" && o + 0 > 0.5) { NDIST++; return " †" } return "" }
function dnote() { if (NDIST) print "† Other processes used more than half a core while this point was timed (`other_cores`, from /proc/stat, less our own CPU time): its time is inflated, several times over for 2-thread steps, which wait whenever one of their threads is descheduled.\n" }'
aw() { awk -v KV="$kv" "$J $1" "${@:2}"; }
# the value of a key of the claims file ("" if absent)
k() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$kv"; }
runline() { [ -f "$out/$1.jsonl" ] && grep -m1 '"kind":"run"' "$out/$1.jsonl" || true; }
rfield() { runline "$1" | aw '{ print get($0, "'"$2"'") }'; }
section_info() { # name: "measured DATE, commit C, T threads, S s, load mean/max"
  local f=$out/$1.jsonl
  [ -f "$f" ] || return 0
  aw '/"kind":"run"/ { d = get($0, "date"); c = get($0, "commit"); t = get($0, "threads"); cmd = get($0, "command") }
      /"kind":"end"/ { s = get($0, "seconds"); lm = get($0, "load_mean"); lx = get($0, "load_max"); o = get($0, "other_cores") }
      END { printf "Measured %s, commit %s, %s threads, in %.0f s, by `%s`; the 1-minute load average meanwhile: mean %s, max %s, other processes using %s cores on average (the machine has %s).\n",
              d, c, t, s, cmd, lm, lx, o, CORES }' CORES="$(rfield "$1" cores)" "$f"
}
plot_note() { # section: the line under a figure
  echo "*Figure: $(rfield "$1" date), commit $(rfield "$1" commit), $(rfield "$1" cpu), $(rfield "$1" threads) threads. Remake: \`$(rfield "$1" command)\` (measures this section again and rewrites the report), or \`bench/report.sh --write\` (only redraws from the raw data).*"
}

{
# ================================================================ header
echo "# RetNet against a Transformer at our scale: the claims of RETNET.md §7, measured"
echo
if [ "$smoke" = 1 ]; then
  echo "**Smoke run** (\`make report-smoke\`): tiny models and a few steps, to check that the scripts work end to end. The numbers mean nothing."
  echo
fi
machine=""
for s in decode train quality peer; do
  [ -z "$machine" ] && [ -f "$out/$s.jsonl" ] && machine="$(rfield $s cpu), $(rfield $s cores) cores, $(rfield $s mem_gb) GB"
done
echo "Written by \`make report\` (bench/report.sh measures, bench/report_md.sh writes this file from the raw data in \`${rel:-./}\`) on $(date -u '+%F %H:%M UTC'). Machine: ${machine:-unknown}; OpenBLAS (OpenMP build) for the matrix products; no GPU.$([ "$total_s" -gt 0 ] && echo " The run took $(( (total_s + 30) / 60 )) min.")"
echo
echo "| section | measured | commit | threads | seconds | load average: mean / max | other processes (cores) |"
echo "|---|---|---|---:|---:|---:|---:|"
for s in decode train quality peer; do
  [ -f "$out/$s.jsonl" ] || { echo "| $s | not measured | | | | | |"; continue; }
  aw '/"kind":"run"/ { d = get($0, "date"); c = get($0, "commit"); t = get($0, "threads") }
      /"kind":"end"/ { printf "| %s | %s | %s | %s | %.0f | %s / %s | %s |\n", S, d, c, t, get($0, "seconds"), get($0, "load_mean"), get($0, "load_max"), get($0, "other_cores"); e = 1 }
      END { if (!e) printf "| %s | %s (did not finish) | %s | %s | | | |\n", S, d, c, t }' S="$s" "$out/$s.jsonl"
done
echo
echo "The machine is a shared 2-core VM: a load average above the core count means other work ran during the measurement, and 2-thread OpenMP steps slow down several times over whenever one of their cores is taken (see the per-section load). Ratios measured in the same section (RetNet against Transformer, ours against PyTorch) are more robust than absolute times."
echo

# ================================================================ (a) decoding
echo "## (a) Decoding: cost and memory per token against context; throughput against batch"
echo
f=$out/decode.jsonl
if [ ! -s "$f" ]; then echo "Not measured (\`bench/report.sh --only decode\`)."; echo
else
section_info decode
echo
aw '
{ kd = get($0, "kind") }
kd == "bandwidth" { rd = get($0, "read_gbs"); cp = get($0, "copy_gbs") }
kd == "decode" {
  a = get($0, "arch") == "transformer" ? "tf" : "rn"; c = get($0, "context") + 0
  if (!(c in seen)) { seen[c] = 1; nc++; ctx[nc] = c }
  ms[a, c] = get($0, "median_ms"); lo[a, c] = get($0, "p10_ms"); hi[a, c] = get($0, "p90_ms")
  vr[a, c] = get($0, "vs_ref"); rss[a, c] = get($0, "vmrss_mb"); used[a, c] = get($0, "state_used_mb")
  how[a, c] = get($0, "reached"); ob[a, c] = get($0, "of_bound"); oth[a, c] = get($0, "other_cores")
  pre[a] = get($0, "preset"); par[a] = get($0, "params"); wmb[a] = get($0, "weight_mb_per_token")
  smb[a] = get($0, "state_mb"); thr = get($0, "threads"); ntok[a] = get($0, "tokens"); nw[a] = get($0, "warmup")
  ref[a] = get($0, "ref_context"); if (get($0, "reached") == "prefill") pfs[a] += get($0, "prefill_s")
}
kd == "batch" {
  a = get($0, "arch") == "transformer" ? "tf" : "rn"; b = get($0, "B") + 0; bctx = get($0, "context")
  if (!(b in bseen)) { bseen[b] = 1; nb++; bs[nb] = b }
  sk[a, b] = get($0, "skipped"); tps[a, b] = get($0, "tokens_per_s"); sms[a, b] = get($0, "median_step_ms"); both[a, b] = get($0, "other_cores")
  st[a, b] = get($0, "states_mb"); brss[a, b] = get($0, "vmrss_mb"); bhow[a] = get($0, "reached")
  bpar[a] = get($0, "params"); bpre[a] = get($0, "preset")
}
function sortn(v, n,   i, j, x) { for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x } }
function cell(a, c,   s) { if (!((a, c) in ms)) return "-"; s = r3(ms[a, c]) " (" r3(lo[a, c]) "-" r3(hi[a, c]) ")"; if (how[a, c] != "prefill") s = s " " how[a, c]; return s dm(oth[a, c]) }
END {
  sortn(ctx, nc); sortn(bs, nb)
  printf "Models: RetNet `%s` (%.2fM parameters), decoding with the recurrent form; Transformer `%s` (%.2fM), decoding with a KV cache (the keys and values of every layer: %.1f KB per token). fp32 weights, one sequence (B = 1), %s threads. At each context: %s warm-up and %s timed tokens (Transformer: %s and %s), each one `retnet_forward(B=1, T=1)` + sampling, timed alone; median and p10-p90 in ms. The timed tokens alternate in blocks of 8 with those of a reference sequence held at context %s: \"vs %s\" is the median over the reference median, in which a drift of the machine'"'"'s speed cancels.\n\n", \
    pre["rn"], par["rn"] / 1e6, pre["tf"], par["tf"] / 1e6, 1e3 * used["tf", ctx[nc]] / ctx[nc] * 1.0, thr, nw["rn"], ntok["rn"], nw["tf"], ntok["tf"], kb(ref["rn"]), kb(ref["rn"])
  printf "How a context is reached: the RetNet is prefilled for real (chunkwise form, the state carried)%s. The Transformer is prefilled for real up to %s tokens; above that (\"fill\") its cache rows are filled with random values in [-1, 1] and the position set: a decoding step attends over all pos rows whatever their values, so it costs what a real context of that length costs, while a real prefill costs O(T^2): here the prefill up to %s took %.1f s, which puts one of %s at about %.0f s.\n\n", \
    maxreal("rn") < ctx[nc] ? " up to " kb(maxreal("rn")) " tokens and by a position jump above (the step'"'"'s cost depends on the position only through the rotation angles and the decay-row scale)" : " to every context", kb(maxreal("tf")), kb(maxreal("tf")), pfs["tf"], kb(ctx[nc]), pfs["tf"] * (ctx[nc] / maxreal("tf")) ^ 2
  print "| context | RetNet ms/token (p10-p90) | vs " kb(ref["rn"]) " | Transformer ms/token (p10-p90) | vs " kb(ref["rn"]) " | Transformer / RetNet | RetNet state MB | Transformer KV cache MB | RetNet VmRSS MB | Transformer VmRSS MB |"
  print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nc; i++) { c = ctx[i]
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", kb(c), cell("rn", c), vr["rn", c], cell("tf", c), vr["tf", c], \
      ((("rn", c) in ms) && (("tf", c) in ms)) ? sprintf("%.2fx", ms["tf", c] / ms["rn", c]) : "-", \
      used["rn", c], used["tf", c], rss["rn", c], rss["tf", c]
    print c, ms["rn", c], lo["rn", c], hi["rn", c], ms["tf", c], lo["tf", c], hi["tf", c], used["rn", c], used["tf", c], rss["rn", c], rss["tf", c], (how["tf", c] == "fill"), vr["rn", c], vr["tf", c] > (DAT "/ctx.dat")
  }
  print ""
  dnote(); NDIST = 0
  # claims
  c0 = ctx[1]; c1 = ctx[nc]; c8 = 0
  for (i = 1; i <= nc; i++) if (ctx[i] <= bctx + 0 || c8 == 0) c8 = ctx[i]
  kv("dec_c0", c0); kv("dec_c1", c1); kv("dec_c8", c8)
  kv("rn_vr1", vr["rn", c1]); kv("tf_vr1", vr["tf", c1]); kv("rn_ms0", ms["rn", c0]); kv("rn_ms1", ms["rn", c1])
  kv("tf_ms0", ms["tf", c0]); kv("tf_ms1", ms["tf", c1]); kv("rn_ms8", ms["rn", c8]); kv("tf_ms8", ms["tf", c8])
  kv("rn_state", smb["rn"]); kv("tf_used1", used["tf", c1]); kv("tf_used8", used["tf", c8]); kv("tf_used0", used["tf", c0])
  kv("rn_rss0", rss["rn", c0]); kv("rn_rss1", rss["rn", c1]); kv("tf_rss0", rss["tf", c0]); kv("tf_rss1", rss["tf", c1])
  kv("rn_rss8", rss["rn", c8]); kv("tf_rss8", rss["tf", c8]); kv("rn_w", wmb["rn"]); kv("tf_w", wmb["tf"])
  kv("tf_how1", how["tf", c1]); kv("rn_how1", how["rn", c1]); kv("dec_pre_rn", pre["rn"]); kv("dec_pre_tf", pre["tf"])
  rmin = 1e30; rmax = 0; for (i = 1; i <= nc; i++) { x = rss["rn", ctx[i]] + 0; if (x < rmin) rmin = x; if (x > rmax) rmax = x }
  kv("rn_rss_min", rmin); kv("rn_rss_max", rmax)
  # the drift-free ratio farthest from 1, over the points no other process disturbed (all
  # points when every one was)
  nq = 0; for (i = 1; i <= nc; i++) if (oth["rn", ctx[i]] + 0 <= 0.5) nq++
  vmax = 1; for (i = 1; i <= nc; i++) { if (nq && oth["rn", ctx[i]] + 0 > 0.5) continue
    x = vr["rn", ctx[i]] + 0; if ((x > 1 ? x - 1 : 1 - x) > (vmax > 1 ? vmax - 1 : 1 - vmax)) vmax = x }
  kv("rn_vr_far", vmax); kv("rn_vr_nq", nq); kv("rn_vr_n", nc)
  nd = 0; for (i = 1; i <= nc; i++) { if (oth["rn", ctx[i]] + 0 > 0.5) nd++; if (oth["tf", ctx[i]] + 0 > 0.5) nd++ }
  kv("rn_o0", oth["rn", c0]); kv("rn_o1", oth["rn", c1]); kv("tf_o0", oth["tf", c0]); kv("tf_o1", oth["tf", c1])
  kv("rn_o8", oth["rn", c8]); kv("tf_o8", oth["tf", c8])
  kv("dec_disturbed", nd); kv("dec_d8", (oth["rn", c8] + 0 > 0.5 || oth["tf", c8] + 0 > 0.5) ? 1 : 0)
  if ((c1 in seen) && used["tf", c1] > 0) kv("tf_kb_per_tok", 1e3 * used["tf", c1] / c1)
  bytes_rn = wmb["rn"] + 2 * smb["rn"]; bytes_tf = wmb["tf"] + used["tf", c8]
  printf "Bytes a step must move (B = 1): the RetNet reads its %s MB of weights and reads and writes its %s MB state at every context; the Transformer reads %s MB of weights and its cache, which grows by %.1f KB per token: %s MB at %s, %s MB at %s. The cache outweighs the weights from about %s tokens on.", \
    r3(wmb["rn"]), r3(smb["rn"]), r3(wmb["tf"]), 1e3 * used["tf", c1] / c1, r3(used["tf", c8]), kb(c8), r3(used["tf", c1]), kb(c1), sprintf("%.0f", wmb["tf"] / (used["tf", c1] / c1))
  if (rd != "") {
    printf " The machine'"'"'s memory bandwidth, measured at the start: read %s GB/s, copy %s GB/s (memcpy, read + write counted); each point'"'"'s bound is these bytes over the read rate measured again right before and after it. Measured tokens/s as a fraction of that bound:", rd, cp
    for (i = 1; i <= nc; i++) printf "%s %s: RetNet %.0f%%, Transformer %.0f%%", (i > 1 ? ";" : ""), kb(ctx[i]), 100 * ob["rn", ctx[i]], 100 * ob["tf", ctx[i]]
    printf "."
    if (ob["tf", c1] < 0.5) printf " At %s the Transformer runs at %.0f%% of its bound: its decoding attention (src/decode.c: one pass of online softmax per head over the cached rows, an exp per cached token) is limited by its arithmetic, not by the bytes; a faster kernel would narrow the gap at long contexts, down to the ratio of the bytes.", kb(c1), 100 * ob["tf", c1]
    kv("tf_ob1", ob["tf", c1]); kv("tf_ob8", ob["tf", c8]); kv("rn_ob8", ob["rn", c8])
  }
  kv("bytes_ratio8", bytes_tf / bytes_rn); kv("kv_cross", wmb["tf"] / (used["tf", c1] / c1))
  print "\n"
  print "![decoding](" REL "decode.png)\n"
  # batch
  if (nb) {
    printf "**Batch.** B sequences decoded together at context %s (one `retnet_forward(B, T=1)` per step: the weights are read once per step; every sequence reads its own state or cache). One state prefilled (RetNet: %s; Transformer: %s) and copied into all B. Median step time over 8 to 64 steps (about 2 s); a B whose states exceed the memory limit is skipped.\n\n", \
      kb(bctx), bhow["rn"] == "prefill" ? "for real" : "position jump", bhow["tf"] == "prefill" ? "for real" : "cache fill"
    print "| B | RetNet tokens/s | RetNet step ms | Transformer tokens/s | Transformer step ms | RetNet / Transformer (tokens/s) | RetNet states MB | Transformer caches MB |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|"
    rb1 = ""; tb1 = ""; rbm = ""; tbm = ""; bestr = 0
    for (i = 1; i <= nb; i++) { b = bs[i]
      rc = sk["rn", b] != "" ? "skipped: " sk["rn", b] : tps["rn", b] dm(both["rn", b]); tc = sk["tf", b] != "" ? "skipped: " sk["tf", b] : tps["tf", b] dm(both["tf", b])
      ok = sk["rn", b] == "" && sk["tf", b] == "" && tps["tf", b] > 0
      printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", b, rc, sk["rn", b] == "" ? r3(sms["rn", b]) : "-", tc, sk["tf", b] == "" ? r3(sms["tf", b]) : "-", \
        ok ? sprintf("%.2fx", tps["rn", b] / tps["tf", b]) : "-", st["rn", b], sk["tf", b] == "" ? st["tf", b] : "-"
      print b, (sk["rn", b] == "" ? tps["rn", b] : "NaN"), (sk["tf", b] == "" ? tps["tf", b] : "NaN"), (sk["rn", b] == "" ? sms["rn", b] : "NaN"), (sk["tf", b] == "" ? sms["tf", b] : "NaN") > (DAT "/batch.dat")
      if (sk["rn", b] == "") { if (rb1 == "") { rb1 = b }; rbm = b }
      if (sk["tf", b] == "") { if (tb1 == "") { tb1 = b }; tbm = b }
      if (ok && tps["rn", b] / tps["tf", b] > bestr) { bestr = tps["rn", b] / tps["tf", b]; bestb = b }
      if (ok) rr[++nr] = tps["rn", b] / tps["tf", b]
    }
    # the median ratio over B (the largest alone is the noisiest)
    for (i = 2; i <= nr; i++) { x = rr[i]; for (j = i - 1; j >= 1 && rr[j] > x; j--) rr[j + 1] = rr[j]; rr[j + 1] = x }
    if (nr > 0) { kv("b_med_ratio", nr % 2 ? rr[(nr + 1) / 2] : (rr[nr / 2] + rr[nr / 2 + 1]) / 2); kv("b_min_ratio", rr[1]); kv("b_nr", nr) }
    print ""
    dnote()
    kv("bctx", bctx); kv("rb1", rb1); kv("rbm", rbm); kv("tb1", tb1); kv("tbm", tbm)
    kv("rn_bms1", sms["rn", rb1]); kv("rn_bmsm", sms["rn", rbm]); kv("tf_bms1", sms["tf", tb1]); kv("tf_bmsm", sms["tf", tbm])
    kv("rn_btps1", tps["rn", rb1]); kv("rn_btpsm", tps["rn", rbm]); kv("tf_btps1", tps["tf", tb1]); kv("tf_btpsm", tps["tf", tbm])
    kv("rn_bo1", both["rn", rb1]); kv("rn_bom", both["rn", rbm]); kv("tf_bo1", both["tf", tb1]); kv("tf_bom", both["tf", tbm])
    kv("b_best_ratio", bestr); kv("b_best_B", bestb); kv("rn_bst_m", st["rn", rbm]); kv("tf_bst_m", st["tf", tbm])
    kv("b_top", bs[nb]); kv("tf_skip_top", sk["tf", bs[nb]]); kv("rn_bst_top", st["rn", bs[nb]])
    kv("tf_cache_per_seq", used["tf", c8])
  }
}
function maxreal(a,   i, m) { m = 0; for (i = 1; i <= nc; i++) if (how[a, ctx[i]] == "prefill") m = ctx[i]; return m }
' REL="$rel" DAT="$tmp" "$f"
plot_note decode
echo
fi

# ================================================================ (b) training
echo "## (b) Training: tokens/s and peak memory against sequence length"
echo
f=$out/train.jsonl
if [ ! -s "$f" ]; then echo "Not measured (\`bench/report.sh --only train\`)."; echo
else
section_info train
echo
aw '
/"impl":"retnet"/ {
  p = get($0, "preset"); fm = get($0, "form"); v = (p ~ /^tf-/ ? "tf" : "rn") "_" fm; T = get($0, "T") + 0
  if (!(T in seen)) { seen[T] = 1; nT++; Ts[nT] = T }
  Bn[T] = get($0, "B"); sk[v, T] = get($0, "skipped"); tps[v, T] = get($0, "tokens_per_s"); rss[v, T] = get($0, "peak_rss_mb"); oth[v, T] = get($0, "other_cores")
  med[v, T] = get($0, "median_s"); pre[v] = p; if (get($0, "params") != "") par[v] = get($0, "params")
  if (get($0, "threads") != "") thr = get($0, "threads")
  if (sk[v, T] != "" && fm == "parallel" && p ~ /^tf-/ && nsk == "") nsk = T
}
function sortn(v, n,   i, j, x) { for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x } }
function has(v, T) { return ((v, T) in tps) && sk[v, T] == "" && tps[v, T] != "" }
function c2(v, T) { if (!((v, T) in sk)) return "- | -"; if (sk[v, T] != "") { nskip++; skips[nskip] = sk[v, T]; return "skipped [" nskip "] | -" } return sprintf("%.0f%s | %.0f", tps[v, T], dm(oth[v, T]), rss[v, T]) }
END {
  sortn(Ts, nT)
  printf "A full training step as `retnet train` runs it (forward, backward, gradient norm, AdamW) of RetNet `%s` (%.2fM parameters) and Transformer `%s` (%.2fM), %s threads, one process per point (peak RSS = VmHWM of that process: weights, gradients, AdamW moments, activations and scratch). Forms: RetNet parallel (T x T retention, formed 128 query rows at a time) and chunkwise (chunks of 64); Transformer naive (the parallel form: the T x T scores and probabilities materialised, per thread) and tiled (the chunkwise form: FlashAttention-style tiles with online softmax, O(T) memory, recomputed in the backward). B x T = max(T, %s) tokens per step; median of the timed steps after a warm-up step. A point is skipped when its step time, predicted from the two before it, exceeds the limit.\n\n", \
    pre["rn_chunkwise"], par["rn_chunkwise"] / 1e6, pre["tf_chunkwise"], par["tf_chunkwise"] / 1e6, thr, Bn[Ts[1]] * Ts[1]
  print "| T | B | RetNet parallel tokens/s | peak MB | RetNet chunkwise tokens/s | peak MB | Transformer naive tokens/s | peak MB | Transformer tiled tokens/s | peak MB |"
  print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nT; i++) { T = Ts[i]
    printf "| %s | %s | %s | %s | %s | %s |\n", kb(T), Bn[T], c2("rn_parallel", T), c2("rn_chunkwise", T), c2("tf_parallel", T), c2("tf_chunkwise", T)
    printf "%d", T > (DAT "/train.dat")
    split("rn_parallel rn_chunkwise tf_parallel tf_chunkwise", vs, " ")
    for (j = 1; j <= 4; j++) printf " %s %s", has(vs[j], T) ? tps[vs[j], T] : "NaN", has(vs[j], T) ? rss[vs[j], T] : "NaN" > (DAT "/train.dat")
    printf "\n" > (DAT "/train.dat")
  }
  print ""
  for (i = 1; i <= nskip; i++) printf "[%d] %s. ", i, skips[i]
  if (nskip) print "\n"
  dnote()
  # ratios: RetNet chunkwise against each Transformer form, at every T both have
  print "RetNet chunkwise against the Transformer (speed: tokens/s ratio; memory: peak RSS, RetNet / Transformer - 1, negative = less):\n"
  print "| T | speed vs naive | memory vs naive | speed vs tiled | memory vs tiled | RetNet parallel speed vs naive |"
  print "|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nT; i++) { T = Ts[i]
    if (!has("rn_chunkwise", T)) continue
    a = has("tf_parallel", T); b = has("tf_chunkwise", T); c = has("rn_parallel", T) && a
    printf "| %s | %s | %s | %s | %s | %s |\n", kb(T), a ? sprintf("%.2fx", tps["rn_chunkwise", T] / tps["tf_parallel", T]) : "-", \
      a ? sprintf("%+.0f%%", 100 * (rss["rn_chunkwise", T] / rss["tf_parallel", T] - 1)) : "-", \
      b ? sprintf("%.2fx", tps["rn_chunkwise", T] / tps["tf_chunkwise", T]) : "-", \
      b ? sprintf("%+.0f%%", 100 * (rss["rn_chunkwise", T] / rss["tf_chunkwise", T] - 1)) : "-", \
      c ? sprintf("%.2fx", tps["rn_parallel", T] / tps["tf_parallel", T]) : "-"
    if (a) { tn = T; sn = tps["rn_chunkwise", T] / tps["tf_parallel", T]; mn = rss["rn_chunkwise", T] / rss["tf_parallel", T]
             if (sn > bestsn) { bestsn = sn; bestsnT = T } }
    if (b) { tt = T; st = tps["rn_chunkwise", T] / tps["tf_chunkwise", T]; mt = rss["rn_chunkwise", T] / rss["tf_chunkwise", T] }
    if (a && s0 == "") { s0 = tps["rn_chunkwise", T] / tps["tf_parallel", T]; m0 = rss["rn_chunkwise", T] / rss["tf_parallel", T]; T0 = T }
    tc = T
  }
  print ""
  kv("tr_T0", T0); kv("tr_Tn", tn); kv("tr_sn", sn); kv("tr_mn", mn); kv("tr_Tt", tt); kv("tr_st", st); kv("tr_mt", mt)
  kv("tr_s0", s0); kv("tr_m0", m0); kv("tr_best_sn", bestsn); kv("tr_best_snT", bestsnT); kv("tr_Tc", tc)
  kv("tr_rn_tps_c", tps["rn_chunkwise", tc]); kv("tr_rn_tps_0", tps["rn_chunkwise", Ts[1]]); kv("tr_rn_rss_c", rss["rn_chunkwise", tc])
  kv("tr_naive_skip", nsk); kv("tr_pre_rn", pre["rn_chunkwise"]); kv("tr_pre_tf", pre["tf_chunkwise"]); kv("tr_params", par["rn_chunkwise"]); kv("tr_Tmax", Ts[nT])
  print "![training](" REL "train.png)\n"
}' REL="$rel" DAT="$tmp" "$f"
plot_note train
echo
fi

# ================================================================ (c) quality
echo "## (c) Quality: a size-matched RetNet and Transformer, and the paper's ablations"
echo
f=$out/quality.jsonl
if [ ! -s "$f" ]; then echo "Not measured (\`bench/report.sh --only quality\`)."; echo
elif grep -q '"kind":"corpus","error"' "$f"; then
  echo "Not measured: $(grep -m1 '"kind":"corpus"' "$f" | aw '{ print get($0, "error") }')."; echo
else
section_info quality
echo
# the validation curves: OUT/quality/NAME-sSEED.jsonl, lines with val_loss
for lf in "$out"/quality/*-s*.jsonl; do
  [ -f "$lf" ] || continue
  b=$(basename "$lf" .jsonl)
  aw '/val_loss/ { print get($0, "step"), get($0, "tokens"), get($0, "val_loss") }' "$lf" > "$tmp/q-$b.dat"
done
aw '
{ kd = get($0, "kind") }
kd == "corpus" { corpus = get($0, "name") }
kd == "config" { n = get($0, "name"); nn++; names[nn] = n; par[n] = get($0, "params"); hd[n] = get($0, "heads"); dk[n] = get($0, "dk"); dv[n] = get($0, "dv"); what[n] = get($0, "what") }
kd == "recipe" { d = get($0, "d"); L = get($0, "layers"); T = get($0, "seq"); Bq = get($0, "batch"); S = get($0, "steps"); W = get($0, "warmup"); lr = get($0, "lr"); ee = get($0, "eval_every"); eb = get($0, "eval_batches"); jobs = get($0, "jobs") }
kd == "result" { n = get($0, "name"); s = get($0, "seed")
  if (!(s in sseen)) { sseen[s] = 1; ns++; seeds[ns] = s }
  if (get($0, "error") != "") { err[n, s] = get($0, "error"); next }
  vl[n, s] = get($0, "val_loss"); tok[n] = get($0, "tokens"); secs[n, s] = get($0, "seconds"); tp[n, s] = get($0, "tokens_per_s") }
function stat(n,   i, c, s, mn, mx, x) { c = 0; s = 0; mn = 1e30; mx = -1e30
  for (i = 1; i <= ns; i++) if ((n, seeds[i]) in vl) { x = vl[n, seeds[i]] + 0; c++; s += x; if (x < mn) mn = x; if (x > mx) mx = x }
  MEAN = c ? s / c : ""; SPREAD = c ? (mx - mn) / 2 : ""; CNT = c; return c }
END {
  printf "Corpus: %s. Byte-level (one token per byte; losses in nats per byte). Every model trained with the same recipe and budget: %s steps of %s windows x %s tokens (%s tokens), AdamW lr %s (warmup %s steps, cosine decay to lr/10), weight decay 0.05, gradient clipping 2.0, no dropout, the paper variant (LayerNorm, GroupNorm per head, gelu FFN), d = %s, %s layers, tied embeddings; the Transformer matched in parameter count by `retnet_config_transformer` (heads of 64, the FFN widened). Validation loss every %s steps on the same %s x %s held-out windows for every run; the table gives the last one. %s seeds per config (initialisation and data order), %s runs at a time, one thread each. Spread = half the range over the seeds.\n\n", \
    corpus, S, Bq, T, tok[names[1]], lr, W, d, L, ee, eb * Bq, T, ns, jobs
  printf "| config | parameters | heads x dk (dv) | differs from the RetNet baseline |"
  for (i = 1; i <= ns; i++) printf " val loss, seed %s |", seeds[i]
  print " mean +- spread | minus RetNet |"
  printf "|---|---:|---|---|"; for (i = 1; i <= ns; i++) printf "---:|"; print "---:|---:|"
  stat("retnet"); base = MEAN; bsp = SPREAD
  for (j = 1; j <= nn; j++) { n = names[j]
    printf "| %s | %.2fM | %s x %s (%s) | %s |", n, par[n] / 1e6, hd[n], dk[n], dv[n], what[n]
    for (i = 1; i <= ns; i++) printf " %s |", ((n, seeds[i]) in vl) ? sprintf("%.4f", vl[n, seeds[i]]) : (((n, seeds[i]) in err) ? "failed" : "-")
    if (stat(n)) { printf " %.4f +- %.4f | %s |\n", MEAN, SPREAD, n == "retnet" || base == "" ? "-" : sprintf("%+.4f", MEAN - base)
      kv("q_" n, MEAN); kv("qs_" n, SPREAD) } else print " - | - |"
  }
  print ""
  for (j = 1; j <= nn; j++) for (i = 1; i <= ns; i++) if ((names[j], seeds[i]) in err) printf "%s seed %s failed: %s. ", names[j], seeds[i], err[names[j], seeds[i]]
  sumt = 0; ct = 0; for (j = 1; j <= nn; j++) for (i = 1; i <= ns; i++) if ((names[j], seeds[i]) in secs) { sumt += secs[names[j], seeds[i]]; ct++ }
  if (ct) printf "A run took %.0f s on average (%s tokens/s at its last step, one thread, %s at once).\n\n", sumt / ct, tp["retnet", seeds[1]], jobs
  kv("q_tokens", tok[names[1]]); kv("q_steps", S); kv("q_d", d); kv("q_L", L); kv("q_ns", ns)
  kv("q_par_rn", par["retnet"]); kv("q_par_tf", par["transformer"]); kv("q_par_nogate", par["no_gate"])
  kv("q_hd_rn", dk["retnet"]); kv("q_h_rn", hd["retnet"])
  # the plot files: one line per (config, seed), and the mean over seeds per config
  for (j = 1; j <= nn; j++) print names[j] > (DAT "/q-names.txt")
  print "![quality](" REL "quality.png)\n"
}' REL="$rel" DAT="$tmp" "$f"
plot_note quality
echo
fi

# ================================================================ (d) peer
echo "## (d) The same RetNet in PyTorch, measured in the same run"
echo
f=$out/peer.jsonl
if [ ! -s "$f" ]; then echo "Not measured (\`bench/report.sh --only peer\`)."; echo
elif grep -q '"kind":"missing"' "$f"; then
  echo "**Skipped**: $(grep -m1 '"kind":"missing"' "$f" | aw '{ print get($0, "why") }'). With Debian's python3-torch installed, \`bench/report.sh --only peer\` measures it."
  echo "peer_missing 1" >> "$kv"
  echo
else
section_info peer
echo
aw '
{ kd = get($0, "kind") }
kd == "check" { chk = get($0, "result") }
kd == "torch" { tv = get($0, "version") }
kd == "train" { i = get($0, "impl"); fm = get($0, "form"); tps[i, fm] = get($0, "tokens_per_s") dm(get($0, "other_cores")); rss[i, fm] = get($0, "peak_rss_mb"); B = get($0, "B"); T = get($0, "T"); if (i == "retnet") pre = get($0, "preset") }
kd == "decode" { i = get($0, "impl"); b = get($0, "B") + 0; if (!(b in bseen)) { bseen[b] = 1; nb++; bs[nb] = b }; dt[i, b] = get($0, "tokens_per_s") dm(get($0, "other_cores")); dms[i, b] = get($0, "median_step_ms") }
function row(what, a, b, unit) { printf "| %s | %s | %s | %s |\n", what, a == "" ? "-" : a, b == "" ? "-" : b, (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
END {
  printf "PyTorch %s (Debian'"'"'s python3-torch), float32, the same threads; the model of `bench/pytorch_train.py`: our `%s` preset written the way a PyTorch user would (nn.Linear, LayerNorm, group_norm, the decay matrix as a buffer; its gradients are checked against the C tests'"'"' reference by `pytorch_train.py --check`), and `bench/pytorch_decode.py`: the recurrent form, one `step` of B sequences per token under no_grad (%s). Each row: ours, then PyTorch, one after the other.\n\n", tv, pre, chk
  print "| measurement | ours (C) | PyTorch | ours / PyTorch |"
  print "|---|---:|---:|---:|"
  row("training step, parallel form, B = " B ", T = " T ": tokens/s", tps["retnet", "parallel"], tps["pytorch", "parallel"])
  row("training step, chunkwise form: tokens/s", tps["retnet", "chunkwise"], tps["pytorch", "chunkwise"])
  printf "| training, peak RSS MB (parallel / chunkwise) | %s / %s | %s / %s | |\n", rss["retnet", "parallel"], rss["retnet", "chunkwise"], rss["pytorch", "parallel"], rss["pytorch", "chunkwise"]
  for (j = 1; j <= nb; j++) { b = bs[j]; row("decoding (recurrent), B = " b ": tokens/s", dt["retnet", b], dt["pytorch", b]) }
  print ""
  dnote()
  kv("pe_tr_par", (tps["pytorch", "parallel"] + 0 > 0) ? tps["retnet", "parallel"] / tps["pytorch", "parallel"] : "")
  kv("pe_tr_chk", (tps["pytorch", "chunkwise"] + 0 > 0) ? tps["retnet", "chunkwise"] / tps["pytorch", "chunkwise"] : "")
  kv("pe_dec1", (dt["pytorch", bs[1]] + 0 > 0) ? dt["retnet", bs[1]] / dt["pytorch", bs[1]] : "")
}' "$f"
fi

# ================================================================ claims
echo "## The paper's claims (RETNET.md §7), point by point"
echo
echo "What the paper reports (6.7B parameters, on GPUs), what we measure at our scale ($(k dec_pre_rn)/$(k dec_pre_tf), $(rfield decode threads) CPU threads; quality at d = $(k q_d)), whether it holds here, and why. \"Holds\" for a ratio means the paper's direction and size; \"partly\", the direction only. For the quality rows the seed spread decides: a difference within the sum of the two spreads is \"not resolved\". † marks a time measured while other processes took more than half a core (inflated)."
echo
aw '
{ v[$1] = $2 }
function has(k) { return (k in v) && v[k] != "" }
function x(a) { return sprintf("%.2fx", a) }
function pct(a) { return sprintf("%.0f%%", 100 * a) }
function mk(k) { return (v[k] + 0 > 0.5) ? " †" : "" }
function ver(ok, partial) { return ok ? "**holds**" : partial ? "**partly**" : "**does not hold here**" }
function dist(s) { return s ~ /†/ ? " (measured while disturbed †: re-run on a quiet machine)" : "" }
END {
  print "| # | claim | measured here | holds? | why |"
  print "|---|---|---|---|---|"
  # 1. decoding cost independent of length
  if (has("rn_ms1")) {
    dr = v["rn_vr1"] + 0; far = v["rn_vr_far"] + 0; ok = (far > 0.85 && far < 1.15)
    printf "| 1 | Decoding cost per token independent of the sequence length | RetNet: %s ms/token at %s%s, %s ms at %s%s (drift-free ratio to the reference at %s: %.3f; farthest from 1 over the %s undisturbed contexts: %.3f). Transformer: %s ms at %s%s, %s ms at %s%s (%s, vs reference %s) | %s | The recurrent step reads the same %.1f MB of weights and the same %.2f MB state at every position; the Transformer reads its KV cache, %.1f KB more per token of context%s |\n", \
      r3(v["rn_ms0"]), kb(v["dec_c0"]), mk("rn_o0"), r3(v["rn_ms1"]), kb(v["dec_c1"]), mk("rn_o1"), kb(v["dec_c0"]), dr, (v["rn_vr_nq"] > 0 ? v["rn_vr_nq"] " of " v["rn_vr_n"] : "0 (all disturbed:"), far, r3(v["tf_ms0"]), kb(v["dec_c0"]), mk("tf_o0"), r3(v["tf_ms1"]), kb(v["dec_c1"]), mk("tf_o1"), \
      x(v["tf_ms1"] / v["tf_ms0"]), v["tf_vr1"], ver(ok, 0) (v["rn_vr_nq"] + 0 == 0 ? dist("†") : ""), v["rn_w"], v["rn_state"], v["tf_kb_per_tok"], \
      (v["tf_how1"] == "fill" ? " (its longest contexts reached by a cache fill)" : "") (has("tf_ob1") ? sprintf("; its step runs at %.0f%% of the bandwidth bound at %s (arithmetic-bound attention), so its growth is steeper than the bytes alone (%.0fx from %s to %s) would make it", 100 * v["tf_ob1"], kb(v["dec_c1"]), (v["tf_w"] + v["tf_used1"]) / (v["tf_w"] + v["tf_used0"]), kb(v["dec_c0"]), kb(v["dec_c1"])) : "")
    # 2. memory constant
    drss = v["rn_rss_max"] - v["rn_rss_min"]; ok = drss <= 0.05 * v["rn_rss_min"] + 1
    printf "| 2 | Memory constant: a state of h dk dv per layer, against a KV cache of 2 T d per layer | RetNet state %.2f MB at every context, process RSS %.1f-%.1f MB from %s to %s. Transformer cache %s MB at %s, %s MB at %s; RSS %s -> %s MB | %s | The state is %.2f MB whatever the context (L h dk dv floats, plus the key sums of the §3 normalisation); the cache holds 2 d floats per layer per token (%.1f KB per token here) |\n", \
      v["rn_state"], v["rn_rss_min"], v["rn_rss_max"], kb(v["dec_c0"]), kb(v["dec_c1"]), r3(v["tf_used0"]), kb(v["dec_c0"]), r3(v["tf_used1"]), kb(v["dec_c1"]), r3(v["tf_rss0"]), r3(v["tf_rss1"]), \
      ver(ok, 0), v["rn_state"], v["tf_kb_per_tok"]
    # 3. 8.4x faster at 8k
    r8 = v["tf_ms8"] / v["rn_ms8"]
    s3 = sprintf("B = 1 at %s: RetNet %.2fx faster per token (%s%s against %s%s ms)", kb(v["dec_c8"]), r8, r3(v["rn_ms8"]), mk("rn_o8"), r3(v["tf_ms8"]), mk("tf_o8"))
    if (has("b_med_ratio") && v["b_med_ratio"] > 0) s3 = s3 sprintf("; batched at %s: %.2fx the Transformer'"'"'s tokens/s, the median over %d batch sizes (%.2f-%.2fx)", kb(v["bctx"]), v["b_med_ratio"], v["b_nr"], v["b_min_ratio"], v["b_best_ratio"])
    ok = r8 >= 8.4 || v["b_med_ratio"] >= 8.4; part = r8 > 1.2
    printf "| 3 | Decoding 8.4x faster than a Transformer with KV cache at 8k context (6.7B) | %s | %s | At B = 1 a step moves the weights plus the state: %.1f MB + %.1f MB (Transformer) against %.1f MB + 2 x %.2f MB (RetNet), a %.2fx ratio of bytes at %s; a small model has few weight bytes, so the cache counts from ~%.0f tokens on, and the ratio grows with the context and the batch (each sequence has its own cache)%s |\n", \
      s3, (ok ? "**holds**" : part ? "**partly** (faster, by less)" : "**does not hold here**") dist(s3), v["tf_w"], v["tf_used8"], v["rn_w"], v["rn_state"], v["bytes_ratio8"], kb(v["dec_c8"]), v["kv_cross"], \
      (has("tf_ob8") ? sprintf(". Against the bandwidth bound the RetNet runs at %.0f%% and the Transformer at %.0f%% at %s, so the measured ratio %s the bytes ratio: with both at the same fraction of their bounds it would be about %.1fx", 100 * v["rn_ob8"], 100 * v["tf_ob8"], kb(v["dec_c8"]), (r8 > v["bytes_ratio8"] ? "exceeds" : "stays under"), v["bytes_ratio8"]) : "")
    # 4. 70% less memory
    m1 = 1 - v["rn_rss8"] / v["tf_rss8"]; ms = 1 - v["rn_state"] / v["tf_used8"]
    s4 = sprintf("At %s, B = 1: process RSS %s MB against %s MB (RetNet %+.0f%%); per sequence %s MB of state against %s MB of cache (RetNet %+.0f%%)", kb(v["dec_c8"]), r3(v["rn_rss8"]), r3(v["tf_rss8"]), -100 * m1, r3(v["rn_state"]), r3(v["tf_used8"]), -100 * ms)
    if (has("rn_bst_top") && v["tf_skip_top"] != "") s4 = s4 sprintf("; B = %s: RetNet states %s MB, Transformer caches would need %s MB (not run: over the memory limit)", v["b_top"], v["rn_bst_top"], r3(v["b_top"] * v["tf_cache_per_seq"]))
    else if (has("tf_bst_m") && v["tbm"] != "") s4 = s4 sprintf("; B = %s: states %s MB against caches %s MB", v["tbm"], v["rn_bst_m"], v["tf_bst_m"])
    printf "| 4 | 70%% less decoding memory than the Transformer at 8k (6.7B) | %s | %s | The weights (%s MB) and the runtime are in both processes; the difference is the cache, %.0fx the state at %s, and it multiplies with the batch |\n", \
      s4, ver(m1 >= 0.7, m1 > 0.25), r3(v["rn_w"]), v["tf_used8"] / v["rn_state"], kb(v["dec_c8"])
    # 5. latency flat in batch
    if (has("rbm")) {
      lr = v["rn_bmsm"] / v["rn_bms1"]; lt = v["tf_bmsm"] / v["tf_bms1"]
      printf "| 5 | Decoding latency nearly flat in the batch size | RetNet step %s ms at B = %s%s, %s ms at B = %s%s (%s; throughput %s -> %s tokens/s). Transformer %s ms at B = %s%s, %s ms at B = %s%s (%s) | %s | A step reads the weights once for the whole batch, but on %s CPU cores its arithmetic (about 2 flops per weight per sequence) grows with B: past a few sequences a step is compute-bound. The paper measured on GPUs, with far more arithmetic per byte of memory; %s |\n", \
        r3(v["rn_bms1"]), v["rb1"], mk("rn_bo1"), r3(v["rn_bmsm"]), v["rbm"], mk("rn_bom"), x(lr), v["rn_btps1"], v["rn_btpsm"], r3(v["tf_bms1"]), v["tb1"], mk("tf_bo1"), r3(v["tf_bmsm"]), v["tbm"], mk("tf_bom"), x(lt), \
        ver(lr < 1.5, lr < lt) dist(mk("rn_bo1") mk("rn_bom") mk("tf_bo1") mk("tf_bom")), THREADS, lr < lt ? "still, RetNet'"'"'s latency grows less than the Transformer'"'"'s (whose every sequence reads its cache)" : "here the Transformer'"'"'s grows no faster"
    }
  } else print "| 1-5 | decoding claims | not measured | | |"
  # 6-8 training
  if (has("tr_Tn") || has("tr_Tt")) {
    if (has("tr_Tn")) {
      printf "| 6 | Training memory 25-50%% less than a standard Transformer | RetNet chunkwise peak RSS %+.0f%% against the naive Transformer at T = %s (%+.0f%% at %s); %s | %s | Both keep every layer'"'"'s activations for the backward (linear in T, alike at equal size) beside the weights, gradients and AdamW moments (%.0f MB); the naive Transformer adds its T x T scores and probabilities, 2 T^2 floats per thread in the backward: %.0f MB at %s with %s threads, %.1f GB at %s%s; the saving grows with T, as those buffers do |\n", \
        100 * (v["tr_mn"] - 1), kb(v["tr_Tn"]), 100 * (v["tr_m0"] - 1), kb(v["tr_T0"]), \
        (has("tr_Tt") ? sprintf("against the tiled Transformer %+.0f%% at %s", 100 * (v["tr_mt"] - 1), kb(v["tr_Tt"])) : "the tiled Transformer not measured"), \
        ver((v["tr_mn"] <= 0.75), (v["tr_mn"] < 0.97)), 16 * v["tr_params"] / 1e6, 8 * TTH * v["tr_Tn"] ^ 2 / 1e6, kb(v["tr_Tn"]), TTH, \
        8 * TTH * v["tr_Tmax"] ^ 2 / 1e9, kb(v["tr_Tmax"]), (has("tr_naive_skip") ? sprintf(" (not run: its step time over the limit from %s on)", kb(v["tr_naive_skip"])) : "")
      printf "| 7 | Training up to 7x faster than a standard Transformer | RetNet chunkwise %s the naive Transformer'"'"'s tokens/s at T = %s, %s at %s (best %s at %s) | %s | At short T both are the same matrix products (~6 flops per parameter per token); the naive Transformer'"'"'s attention grows as T^2 and takes over at long T, where the chunkwise form stays linear (%s tokens/s at %s, %s at %s) |\n", \
        x(v["tr_s0"]), kb(v["tr_T0"]), x(v["tr_sn"]), kb(v["tr_Tn"]), x(v["tr_best_sn"]), kb(v["tr_best_snT"]), \
        ver((v["tr_best_sn"] >= 7), (v["tr_best_sn"] > 1.2)), v["tr_rn_tps_0"], kb(v["tr_T0"]), v["tr_rn_tps_c"], kb(v["tr_Tc"])
    }
    if (has("tr_Tt"))
      printf "| 8 | Training comparable to FlashAttention (chunkwise form) | RetNet chunkwise %s the tiled Transformer'"'"'s tokens/s at T = %s, peak RSS %+.0f%% | %s | Tiled attention is O(T) in memory but still O(T^2) in time; chunkwise retention is O(T) in both, so it is comparable at short T and pulls ahead as T grows |\n", \
        x(v["tr_st"]), kb(v["tr_Tt"]), 100 * (v["tr_mt"] - 1), (v["tr_st"] >= 0.8 ? "**holds**" : "**does not hold here**")
  } else print "| 6-8 | training claims | not measured | | |"
  # 9-10 quality
  if (has("q_retnet") && has("q_transformer")) {
    dq = v["q_retnet"] - v["q_transformer"]; noise = v["qs_retnet"] + v["qs_transformer"]
    printf "| 9 | Perplexity comparable to a Transformer of the same size (better as size grows) | Validation loss after %s tokens (d = %s, %s layers, %.2fM against %.2fM parameters, %s seeds): RetNet %.4f +- %.4f, Transformer %.4f +- %.4f nats/byte (RetNet %+.4f) | %s | One size only, so \"better as size grows\" is not tested; %s |\n", \
      v["q_tokens"], v["q_d"], v["q_L"], v["q_par_rn"] / 1e6, v["q_par_tf"] / 1e6, v["q_ns"], v["q_retnet"], v["qs_retnet"], v["q_transformer"], v["qs_transformer"], dq, \
      (dq <= 0.02 + noise) ? "**holds**" : (dq <= 0.1) ? "**partly**" : "**does not hold here**", \
      dq < -noise ? "at this short budget the RetNet is ahead by more than the seed spread" : dq <= noise ? "the difference is within the spread over seeds" : "the Transformer is ahead at this budget (a few hundred thousand tokens, far from the paper'"'"'s)"
    abl[1] = "no_gate"; lab[1] = "the swish gate"
    abl[2] = "no_head_norm"; lab[2] = "GroupNorm (per-head norm)"
    abl[3] = "decay_single"; lab[3] = "multi-scale gamma (against one gamma for all heads)"
    abl[4] = "decay_none"; lab[4] = "the decay itself (against gamma = 1)"
    for (i = 1; i <= 4; i++) { a = abl[i]; if (!has("q_" a)) continue
      d = v["q_" a] - v["q_retnet"]; nz = v["qs_" a] + v["qs_retnet"]
      printf "| 10.%d | Ablation: %s helps | Without it: %.4f +- %.4f against %.4f +- %.4f (%+.4f nats/byte)%s | %s | %s |\n", i, lab[i], v["q_" a], v["qs_" a], v["q_retnet"], v["qs_retnet"], d, \
        a == "no_gate" ? sprintf(", with %.2fM parameters instead of %.2fM", v["q_par_nogate"] / 1e6, v["q_par_rn"] / 1e6) : "", \
        (d > nz ? "**holds**" : d >= -nz ? "**not resolved** at this budget" : "**does not hold here**"), \
        (d > nz ? "the ablated model is worse by more than the seed spread" : d >= -nz ? "the difference is within the spread over seeds: a short run of a small model does not separate them" : "the ablated model is better by more than the seed spread at this short budget")
    }
    if (has("q_head64") && has("q_head256")) {
      d = v["q_head64"] - v["q_head256"]; nz = v["qs_head64"] + v["qs_head256"]
      printf "| 10.5 | Ablation: larger head dimensions help | Head width 64: %.4f +- %.4f; 256: %.4f +- %.4f (baseline %s: %.4f); 64 minus 256: %+.4f | %s | Same parameters, the widths regrouped into more or fewer heads (and so more or fewer gammas); %s |\n", \
        v["q_head64"], v["qs_head64"], v["q_head256"], v["qs_head256"], v["q_hd_rn"], v["q_retnet"], d, \
        (d > nz ? "**holds**" : d >= -nz ? "**not resolved** at this budget" : "**does not hold here**"), \
        (d > nz ? "the narrow heads are worse by more than the seed spread" : d >= -nz ? "within the spread over seeds" : "the narrow heads are better at this short budget")
    }
  } else print "| 9-10 | quality claims | not measured | | |"
  if (!has("peer_missing") && has("pe_tr_par"))
    printf "| peer | (ours) the same RetNet in PyTorch | Training step %s (parallel) and %s (chunkwise) PyTorch'"'"'s tokens/s; decoding %s | | A peer in the same run: the ratios are what the C implementation adds, independent of the machine'"'"'s load at the time |\n", \
      x(v["pe_tr_par"]), x(v["pe_tr_chk"]), has("pe_dec1") ? x(v["pe_dec1"]) " at B = 1" : "-"
}' THREADS="$(rfield decode threads)" TTH="$(rfield train threads)" "$kv"
echo
echo "Scale caveat: how much a KV cache costs depends on its share of the bytes a step moves. Our decoding models have $(k rn_w) MB of weights, so the Transformer's cache outweighs them only from ~$(k kv_cross | cut -d. -f1) tokens of context on (per sequence): every decoding ratio here is smaller than it would be for the same model at a larger batch, and it grows with the context. The quality comparison trains a $(awk -v p="$(k q_par_rn)" 'BEGIN {printf "%.1fM", p / 1e6}')-parameter model for $(k q_tokens) tokens: it can separate large effects from seed noise, not the few-percent ones of the paper's ablations."
} > "$tmp/report.md"

# ================================================================ plots
if [ $have_gnuplot = 1 ]; then
  # xtics ("256" 256, "1k" 1024, ...) and the x range from column 1 of rows that have a number
  # in any other column
  xtics() { awk '{ ok = 0; for (i = 2; i <= NF; i++) if ($i != "NaN" && $i != "") ok = 1 }
    ok { v = $1 + 0; l = v >= 1024 ? (v / 1024) "k" : v; s = s (s ? ", " : "") "\"" l "\" " v; if (lo == "" || v < lo) lo = v; if (v > hi) hi = v }
    END { printf "set xtics (%s); set xrange [%g:%g]\n", s, lo / 1.2, hi * 1.2 }' "$1"; }
  title() { echo "$(rfield "$1" date), commit $(rfield "$1" commit), $(rfield "$1" threads) threads, $(rfield "$1" cpu | sed 's/ [0-9]*-Core Processor//')"; }
  if [ -s "$tmp/ctx.dat" ]; then
    gnuplot <<GP 2>"$tmp/gp.err" || echo "report_md: gnuplot failed on decode.png: $(head -n 3 "$tmp/gp.err")" >&2
set terminal pngcairo noenhanced size 1500,460 font ",10"
set output "$out/decode.png"
set multiplot layout 1,3 title "(a) decoding, RetNet $(k dec_pre_rn) vs Transformer $(k dec_pre_tf): $(title decode)  [bench/report.sh --only decode]"
set grid; set key top left opaque box; set logscale x 2; set xlabel "context (tokens)"; set tmargin 3
$(xtics "$tmp/ctx.dat")
set logscale y; set ylabel "ms per token (median, bars p10-p90), B = 1"
plot "$tmp/ctx.dat" u 1:2:3:4 w yerrorlines lw 2 t "RetNet (recurrent)", \
     "$tmp/ctx.dat" u 1:5:6:7 w yerrorlines lw 2 t "Transformer (KV cache)", \
     "$tmp/ctx.dat" u 1:(\$12 == 1 ? \$5 : 1/0) w p pt 6 ps 2 lc black t "cache filled, not prefilled"
set ylabel "MB (log scale)"
plot "$tmp/ctx.dat" u 1:8 w lp lw 2 t "RetNet state", "$tmp/ctx.dat" u 1:9 w lp lw 2 t "Transformer KV cache", \
     "$tmp/ctx.dat" u 1:10 w lp dt 2 lw 2 t "RetNet process RSS", "$tmp/ctx.dat" u 1:11 w lp dt 2 lw 2 t "Transformer process RSS"
set xlabel "batch B (sequences decoded together) at context $(k bctx)"; set ylabel "tokens/s (all sequences)"; unset logscale y
$(xtics "$tmp/batch.dat")
plot "$tmp/batch.dat" u 1:2 w lp lw 2 t "RetNet", "$tmp/batch.dat" u 1:3 w lp lw 2 t "Transformer"
unset multiplot
GP
  fi
  if [ -s "$tmp/train.dat" ]; then
    gnuplot <<GP 2>"$tmp/gp.err" || echo "report_md: gnuplot failed on train.png: $(head -n 3 "$tmp/gp.err")" >&2
set terminal pngcairo noenhanced size 1100,440 font ",10"
set output "$out/train.png"
set multiplot layout 1,2 title "(b) training step, RetNet $(k tr_pre_rn) vs Transformer $(k tr_pre_tf): $(title train)  [bench/report.sh --only train]"
set grid; set key bottom left opaque box; set logscale x 2; set xlabel "sequence length T"; set tmargin 3
$(xtics "$tmp/train.dat")
set ylabel "tokens/s"
plot "$tmp/train.dat" u 1:2 w lp lw 2 t "RetNet parallel", "$tmp/train.dat" u 1:4 w lp lw 2 t "RetNet chunkwise", \
     "$tmp/train.dat" u 1:6 w lp lw 2 t "Transformer naive", "$tmp/train.dat" u 1:8 w lp lw 2 t "Transformer tiled"
set ylabel "peak RSS (MB, log scale)"; set logscale y; set key top left opaque box
plot "$tmp/train.dat" u 1:3 w lp lw 2 t "RetNet parallel", "$tmp/train.dat" u 1:5 w lp lw 2 t "RetNet chunkwise", \
     "$tmp/train.dat" u 1:7 w lp lw 2 t "Transformer naive", "$tmp/train.dat" u 1:9 w lp lw 2 t "Transformer tiled"
unset multiplot
GP
  fi
  if [ -s "$tmp/q-names.txt" ]; then
    p1=""; p2=""
    for lf in "$tmp"/q-retnet-s*.dat "$tmp"/q-transformer-s*.dat; do
      [ -s "$lf" ] || continue
      b=$(basename "$lf" .dat); b=${b#q-}
      lc=1; case $b in transformer*) lc=2 ;; esac
      dt=1; case $b in *-s1) ;; *) dt=2 ;; esac
      p1="$p1${p1:+, }\"$lf\" u 1:3 w lp lw 2 lc $lc dt $dt t \"$b\""
    done
    i=0
    while read -r n; do
      i=$((i + 1))
      ls "$tmp"/q-"$n"-s*.dat >/dev/null 2>&1 || continue
      # the mean over seeds at each step
      cat "$tmp"/q-"$n"-s*.dat | awk '{ s[$1] += $3; c[$1]++ } END { for (k in s) print k, s[k] / c[k] }' | sort -n > "$tmp/m-$n.dat"
      [ "$n" = transformer ] && continue
      p2="$p2${p2:+, }\"$tmp/m-$n.dat\" u 1:2 w lp lw 2 lc $i t \"$n\""
    done < "$tmp/q-names.txt"
    if [ -n "$p1" ]; then
      gnuplot <<GP 2>"$tmp/gp.err" || echo "report_md: gnuplot failed on quality.png: $(head -n 3 "$tmp/gp.err")" >&2
set terminal pngcairo noenhanced size 1100,440 font ",10"
set output "$out/quality.png"
set multiplot layout 1,2 title "(c) validation loss, byte-level, d = $(k q_d), $(k q_L) layers: $(title quality)  [bench/report.sh --only quality]"
set grid; set xlabel "step"; set ylabel "validation loss (nats/byte)"; set key top right opaque box; set tmargin 3
set title "RetNet vs Transformer, every seed"
plot $p1
set title "RetNet and its ablations, mean over seeds"
plot $p2
unset multiplot
GP
    fi
  fi
else
  echo "report_md: gnuplot is missing (Debian: gnuplot-nox, scripts/install-deps.sh bench): no plots" >&2
  sed -i 's/^!\[\([a-z]*\)\](.*)$/(plot \1: gnuplot was not installed when this report was written)/' "$tmp/report.md"
fi
mv "$tmp/report.md" "$md"
