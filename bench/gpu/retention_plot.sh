#!/usr/bin/env bash
# retention_plot.sh RESULTS.json OUT.png: bench/gpu/retention_bench.py's prefill results as a
# picture (gnuplot; no GPU needed): Mtok/s of the retention kernel, forward and forward +
# backward, per shape and T: ours, fla's chunk_retention, fla's faster path (the larger of
# chunk_retention and chunk_simple_gla with precomputed decays) and cuDNN attention (SDPA).
#   bench/gpu/retention_plot.sh bench/gpu/retention-h200.json bench/gpu/retention-h200.png
set -euo pipefail
js=${1:?usage: retention_plot.sh RESULTS.json OUT.png} png=${2:?usage: retention_plot.sh RESULTS.json OUT.png}
command -v gnuplot >/dev/null || { echo "retention_plot: gnuplot is not installed (scripts/install-deps.sh bench)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/ret-plot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$js" "$tmp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = {}
same = {'H8-D256': 'paper-1.3B', 'H16-D128': 'common'}  # SDPA's rows: heads of the same count
for p in r['prefill']:
    rows.setdefault((same.get(p['cfg'], p['cfg']), p['B'], p['T']), {})[p['kind']] = p
names = {'paper-1.3B': 'H8', 'common': 'H16'}
def rate(p, k):
    return p[k]['tok_per_s'] / 1e6 if p and k in p else float('nan')
for part in ('fwd', 'fwdbwd'):
    with open(f'{sys.argv[2]}/{part}.dat', 'w') as f:
        f.write('label ours chunk_retention fla_fastest sdpa_cudnn\n')
        for key in sorted(rows, key=lambda k: (k[0] != 'paper-1.3B', k[2])):
            d = rows[key]
            if 'ours-chunk' not in d: continue
            c = d.get('retention-chunk')
            fast = max(rate(c, part), rate(c, part + '_direct'))
            T = f"{key[2] // 1024}k"
            f.write(f'"{names.get(key[0], key[0])} T={T}" {rate(d["ours-chunk"], part):.3f} '
                    f'{rate(c, part):.3f} {fast:.3f} {rate(d.get("sdpa-cudnn"), part):.3f}\n')
meta = r.get('meta', {})
open(f'{sys.argv[2]}/title', 'w').write(f"{meta.get('gpu', 'GPU')}, {meta.get('date_utc', '')} UTC, B*T = 32768 tokens")
PY
gnuplot <<GP
set terminal pngcairo size 1200,520 font ",10" noenhanced
set output "$png"
set multiplot layout 1,2 title "Retention kernel: $(cat "$tmp/title")"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "Mtok/s (higher is better)"
set grid ytics
set key below horizontal
set xtics rotate by -30
set title "forward"
plot for [i=2:5] "$tmp/fwd.dat" using i:xtic(1) title columnheader(i)
set title "forward + backward"
plot for [i=2:5] "$tmp/fwdbwd.dat" using i:xtic(1) title columnheader(i)
unset multiplot
GP
echo "wrote $png"
