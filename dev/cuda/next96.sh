#!/usr/bin/env bash
# Seventeenth session: where the paper's `1.3b` preset's decoding step spends the time it
# takes beyond the fla shape's (B = 256 9.25 against 8.71 ms, B = 8 1.88-1.92 against 1.64 in
# the records): next90.sh's ncu summary (each kernel's own time, one at a time) for both
# models at B = 8 and 256, context 64, 6 steps after 1.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for model in "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"; do
  for b in 8 256; do
    tag=$(echo "$model" | tr -c 'a-z0-9\n' '_')$b
    timeout 150 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
      build-cuda/retnet bench decode $model --device cuda --batch $b \
      --context 64 --steps 6 --warmup 1 >"$OUT/ncu$tag.csv" 2>"$OUT/ncu$tag.err"
    echo "$model B=$b ncu exit $? at $((SECONDS - t0)) s"
    python3 - "$OUT/ncu$tag.csv" "$b" <<'PY'
import csv, sys, collections, re
lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
t = collections.defaultdict(float); n = collections.Counter()
for r in csv.DictReader(lines):
    if r.get('Metric Name') != 'gpu__time_duration.sum': continue
    name = r['Kernel Name']
    name = re.sub(r'\(.*$', '', name) if '<' not in name else name[:name.find('<')] + '<' + name[name.find('<')+1:][:60]
    v = float(r['Metric Value'].replace(',', ''))
    if r['Metric Unit'] == 'nsecond': v /= 1e3
    elif r['Metric Unit'] == 'msecond': v *= 1e3
    t[name] += v; n[name] += 1
tot = sum(t.values())
print(f"B={sys.argv[2]}: {sum(n.values())} kernels, {tot/1e3:.2f} ms in all (prefill of 64 tokens, 1 warm-up step, 6 steps)")
for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:18]:
    print(f"  {100*v/tot:5.1f}%  {v/1e3:8.2f} ms  {n[k]:5d} x {v/n[k]:8.1f} us  {k[:100]}")
PY
  done
done
echo "total $((SECONDS - t0)) s"
