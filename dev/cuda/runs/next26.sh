#!/usr/bin/env bash
# Eighth session: the TMA kernel's P decays in registers (dz, 32 a thread, the same every
# chunk) against HEAD (build/ret-base-src); float64 checks; forward and backward against
# chunk_retention; ncu's source-level stalls of the new H16 forward (wg_kernel<128,64,2>).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
lab_libs_ab
lab_ab_checks
fwd_ab head=$B dz=$N head2=$B dz2=$N
FWD_AB_SHAPES=1 timeout 120 ncu --set full --import-source yes --kernel-name regex:wg_kernel \
  --launch-skip 2 --launch-count 1 -o "$OUT/fwd3" -f python3 dev/cuda/fwd_ab.py dz=$N >"$OUT/ncu-run.log" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
ncu -i "$OUT/fwd3.ncu-rep" --page source --csv --print-source sass | gzip >"$OUT/fwd3-sass.csv.gz"
ncu -i "$OUT/fwd3.ncu-rep" --page details >"$OUT/fwd3-details.txt" 2>&1
grep -E "Duration|Registers Per|Warp Cycles Per Issued|Issue Slots Busy|Shared Memory Throughput|L1/TEX Cache Throughput" "$OUT/fwd3-details.txt" | head
rm -f "$OUT/fwd3.ncu-rep"
echo "total $((SECONDS - t0)) s"
(cd "$OUT" && tar czf logs.tgz retlib*.log lab.json ncu-run.log 2>/dev/null && rm -f retlib*.log lab.json ncu-run.log)
