#!/usr/bin/env bash
# read_lab.cu: the floor for one decoding product's launch (a plain read of its weights, one
# buffer a launch over a 1 GB ring), with and without programmatic launch, one-shot grids of
# U 16-byte loads a thread; then each launch's own time under ncu (cold, one at a time) beside
# the gemv kernels' (next138's ncu: q k v g at M = 1 18.7 us, at M = 8 25.5 us).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/read_lab dev/cuda/read_lab.cu || exit 1
for i in 1 2; do build/read_lab 200 | tee "$OUT/read_lab$i.txt"; done
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 200 "$NCU" --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum build/read_lab 3 >"$OUT/ncu-read.csv" 2>"$OUT/ncu-read.err"
echo "ncu: exit $? at $((SECONDS - t0)) s"
python3 - "$OUT/ncu-read.csv" <<'PY'
import csv, sys, collections
lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
rows = collections.defaultdict(dict)
for r in csv.DictReader(lines):
    v = float(r['Metric Value'].replace(',', ''))
    rows[r['ID']][r['Metric Name']] = (v, r['Metric Unit'])
    rows[r['ID']]['k'] = (r['Kernel Name'][:40] + ' grid ' + r.get('Grid Size', ''), '')
agg = collections.defaultdict(list)
for i, m in rows.items():
    t, u = m['gpu__time_duration.sum']; t = t / 1e3 if u in ('ns', 'nsecond') else t
    b, bu = m['dram__bytes_read.sum']; b = b * {'byte': 1, 'Kbyte': 1e3, 'Mbyte': 1e6, 'Gbyte': 1e9}.get(bu, 1)
    agg[m['k'][0]].append((t, b))
for k, v in agg.items():
    ts = sorted(x[0] for x in v)
    print(f"{k:70s} n {len(v):3d}  min {ts[0]:7.2f} us  median {ts[len(ts)//2]:7.2f} us  MB {v[0][1]/1e6:7.1f}")
PY
echo "total $((SECONDS - t0)) s"
