#!/usr/bin/env bash
# Eighth session: the H16 forward on the TMA kernel (lab path 2, wg_kernel<128,64,2>) against the
# cp.async one (path 3, the automatic choice at KC 128), timed in one process, and ncu's
# source-level stalls of the TMA one (why TMA was slower at KC 128: v4's open question).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
L=build/ret-cuda/libretention_cuda.so
[ -f $L ] || GENCODE="-gencode arch=compute_90a,code=sm_90a" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1
FWD_AB_SHAPES=3 timeout 100 python3 dev/cuda/fwd_ab.py cpasync=$L tma=$L:0:0:2 2>&1 | tee "$OUT/fwd-ab-path.txt"
FWD_AB_SHAPES=1 timeout 120 ncu --set full --import-source yes --kernel-name regex:wg_kernel \
  --launch-skip 2 --launch-count 1 -o "$OUT/fwd2" -f python3 dev/cuda/fwd_ab.py tma=$L:0:0:2 >"$OUT/ncu-run.log" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
ncu -i "$OUT/fwd2.ncu-rep" --page details >"$OUT/fwd2-details.txt" 2>&1
ncu -i "$OUT/fwd2.ncu-rep" --page source --csv --print-source sass | gzip >"$OUT/fwd2-sass.csv.gz"
grep -E "Duration|Registers Per|Warp Cycles Per Issued|Issue Slots Busy" "$OUT/fwd2-details.txt" | head
rm -f "$OUT/fwd2.ncu-rep"
echo "total $((SECONDS - t0)) s"
