#!/usr/bin/env bash
# e2e_plot.sh RAW.jsonl OUT.png: the decoding part of bench/gpu/e2e.sh's raw data as a picture
# (gnuplot; runs anywhere, no GPU needed): (a) tokens/s against the batch size at each context,
# ours (solid) and PyTorch SDPA's Transformer (dashed, missing where its KV cache does not fit);
# (b) memory per sequence against the context: our state (flat) and the Transformer's KV cache.
set -euo pipefail
raw=${1:?usage: e2e_plot.sh RAW.jsonl OUT.png} png=${2:?usage: e2e_plot.sh RAW.jsonl OUT.png}
command -v gnuplot >/dev/null || { echo "e2e_plot: gnuplot is not installed (scripts/install-deps.sh bench)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/e2e-plot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$raw" "$tmp" <<'PY'
import json, sys
raw, tmp = sys.argv[1], sys.argv[2]
rows = []
for l in open(raw):
    try: rows.append(json.loads(l))
    except Exception: pass
metas = [r for r in rows if r.get('bench') == 'meta']  # the decoding run's, where parts were run apart
meta = next((r for r in metas if 'decode' in r.get('only', '')), metas[0] if metas else {})
dec = [r for r in rows if r.get('bench') == 'decode']
def pick(impl, X, B, arch='retnet'):
    return next((r for r in dec if r.get('impl') == impl and r.get('context') == X and
                 r.get('batch') == B and r.get('arch', 'retnet') == arch), None)
ctxs = sorted({r['context'] for r in dec if 'context' in r})
bats = sorted({r['batch'] for r in dec if 'batch' in r})
with open(f"{tmp}/batch.dat", 'w') as f:   # batch, then (ours, sdpa) per context
    for B in bats:
        cols = []
        for X in ctxs:
            o, s = pick('retnet', X, B), pick('sdpa', X, B)
            ot = B / (o['ms_per_step_mean'] * 1e-3) if o and o.get('ms_per_step_mean') else (o or {}).get('tokens_per_s')
            cols += [ot if ot else 'NaN',  # ours: the mean of the steps, as e2e.sh's table
                     s.get('tokens_per_s') if s and s.get('tokens_per_s') else 'NaN']
        f.write(' '.join(str(c) for c in [B] + cols) + '\n')
with open(f"{tmp}/mem.dat", 'w') as f:     # context, ours MB, SDPA KV MB
    for X in ctxs:
        o = next((r for r in dec if r.get('impl') == 'retnet' and r.get('context') == X and
                  r.get('arch', 'retnet') == 'retnet' and r.get('state_bytes_per_seq')), None)
        s = next((r for r in dec if r.get('impl') == 'sdpa' and r.get('context') == X and
                  r.get('state_bytes_per_seq')), None)
        f.write(f"{X} {o['state_bytes_per_seq'] / 1e6 if o else 'NaN'} "
                f"{s['state_bytes_per_seq'] / 1e6 if s else 'NaN'}\n")
with open(f"{tmp}/vars", 'w') as f:
    f.write(f"ctxs='{' '.join(str(x) for x in ctxs)}'\n")
    f.write(f"title='{meta.get('date_utc', '?')} UTC, commit {meta.get('commit', '?')}, {meta.get('gpu', '?').split(',')[0]}'\n")
PY
. "$tmp/vars"
plots="" i=0
for X in $ctxs; do
  c1=$((2 + 2 * i)) c2=$((3 + 2 * i)) i=$((i + 1)) lab=$((X / 1024))k
  plots+="\"$tmp/batch.dat\" u 1:$c1 w lp lw 2 lc $i pt 7 t \"ours, context $lab\", "
  plots+="\"$tmp/batch.dat\" u 1:$c2 w lp lw 2 dt 2 lc $i pt 6 t \"SDPA Transformer, context $lab\", "
done
gnuplot <<GP
set terminal pngcairo noenhanced size 1300,480 font ",10"
set output "$png"
set multiplot layout 1,2 title "1.3B-shape RetNet (ours) against a same-size Transformer with SDPA and a KV cache, decoding on the GPU: $title  [bench/gpu/e2e.sh]"
set grid; set key top left opaque box; set logscale xy 2; set tmargin 3
set xlabel "batch (sequences decoded together)"; set ylabel "tokens/s (all sequences)"
plot ${plots%, }
set xlabel "context (tokens)"; set ylabel "MB per sequence"; unset logscale y; set logscale y 10; set yrange [30:20000]
plot "$tmp/mem.dat" u 1:2 w lp lw 2 pt 7 t "ours: the recurrent state", "$tmp/mem.dat" u 1:3 w lp lw 2 dt 2 pt 6 t "Transformer: bf16 KV cache"
unset multiplot
GP
echo "e2e_plot: $png"
