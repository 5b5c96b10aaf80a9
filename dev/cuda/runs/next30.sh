#!/usr/bin/env bash
# For the ninth session (written 2026-11-29, NOT yet run). (1) The review commit after next29:
# KC = 64 back on the cp.async kernel, its loads those before the session: float64 checks
# (retention_lab.py's new case dk 64 dv 64 T 200 included), every CUDA test, and dk 64 timed
# on both kernels (fwd_ab.py, FWD_AB_SMALL=1: path 0 = cp.async now, path 2 = TMA). (2) Where a
# decoding step's 1.2 ms (B = 1) and 2.4 ms (B = 8) go: every kernel of one 1.3B step timed by
# ncu (graphs off, so each launch is its own; PDL's overlap is lost, the sum is an upper bound),
# summed by kernel name.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
cuda_build_lab
N=build/ret-cuda/libretention_cuda.so
lab_checks $N
TEST_TIMEOUT=150 cuda_tests
FWD_AB_SMALL=1 FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 200 python3 dev/cuda/fwd_ab.py \
  auto=$N tma=$N:0:0:2 auto2=$N tma2=$N:0:0:2 2>&1 | grep -v Warn | tee "$OUT/fwd-ab-dk64.txt"
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for b in 1 8; do
  # a step is ~200 launches (20 steps: ~4,200 with the prefill); skip ~4 steps, time 2
  RETNET_CUDA_GRAPHS=0 timeout 150 ncu --metrics gpu__time_duration.sum --csv --launch-skip 1000 \
    --launch-count 400 $R bench decode --config $CFG --device cuda --batch $b --context 64 \
    --steps 20 --warmup 0 >"$OUT/ncu-decode-b$b.csv" 2>"$OUT/ncu-decode-b$b.err"
  echo "ncu decode B=$b: exit $? at $((SECONDS - t0)) s"
  python3 - "$OUT/ncu-decode-b$b.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
h = rows[0]; k, v = h.index('Kernel Name'), h.index('Metric Value')
tot = collections.defaultdict(lambda: [0, 0.0])
for r in rows[1:]:
    try: t = float(r[v].replace(',', ''))
    except ValueError: continue
    name = r[k].split('(')[0].split('<')[0]
    tot[name][0] += 1; tot[name][1] += t
s = sum(x[1] for x in tot.values())
print(f'{len(rows) - 1} launches, {s / 1e3:.1f} us in all (ncu unit: ns assumed)')
for name, (n, t) in sorted(tot.items(), key=lambda x: -x[1][1])[:14]:
    print(f'  {name[:40]:40s} {n:4d} launches {t / 1e3:9.1f} us  {t / max(n, 1) / 1e3:7.2f} us each  {100 * t / s:5.1f}%')
PY
done
echo "total $((SECONDS - t0)) s"
