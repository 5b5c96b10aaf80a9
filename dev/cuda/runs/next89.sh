#!/usr/bin/env bash
# Sixteenth session: where the 1.3B decoding step's time goes, by kernel, after the window's
# new kernel: nsys (graph nodes traced) over `retnet bench decode` at B = 1, 8, 64, 256
# (context 64, 16 steps after 2), its per-kernel sums; ncu's if nsys is missing.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${NSYS:-none}"
for b in 1 8 64 256; do
  if [ -n "$NSYS" ]; then
    timeout 150 "$NSYS" profile --cuda-graph-trace=node -o "$OUT/dec$b" --force-overwrite true \
      build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch $b \
      --context 64 --steps 16 --warmup 2 >"$OUT/nsys$b.log" 2>&1
    echo "B=$b nsys exit $?"
    timeout 100 "$NSYS" stats --report cuda_gpu_kern_sum --format csv -o "$OUT/kern$b" "$OUT/dec$b.nsys-rep" >/dev/null 2>&1
    f=$(ls "$OUT"/kern$b*.csv 2>/dev/null | head -1)
    [ -n "$f" ] && python3 - "$f" "$b" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tot = sum(float(r['Total Time (ns)']) for r in rows)
print(f"B={sys.argv[2]}: {len(rows)} kernels, {tot/1e6:.1f} ms in all (prefill, warm-up and 16 steps)")
for r in rows[:14]:
    print(f"  {float(r['Time (%)']):5.1f}%  {float(r['Total Time (ns)'])/1e6:8.2f} ms  {int(r['Instances']):6d} x {float(r['Avg (ns)'])/1e3:8.1f} us  {r['Name'][:90]}")
PY
    rm -f "$OUT/dec$b.nsys-rep" "$OUT"/*.sqlite
  fi
done
echo "total $((SECONDS - t0)) s"
