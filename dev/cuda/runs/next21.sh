#!/usr/bin/env bash
# (RET_WGC_MINB, the launch-bound macro this run used, was removed in the eighth session's
# final review after the 2-block variant measured slower.)
# Eighth session, first call. (1) The review commit's dropout helpers (36a3044, compiled, not
# run): test_cuda_train's gradients and the 1.3B step. (2) The H16 forward (wgc_kernel<128,64,2>):
# ncu's full set with source-level stall sampling on one launch at B 16 T 2k, and (3) the forward
# timed against chunk_retention in one process: the automatic tile (64), the 32-column tile at one
# block an SM, and at two (a build with -DRET_WGC_MINB=2: 128 registers).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
G="-gencode arch=compute_90a,code=sm_90a"
(GENCODE="$G" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1;
 GENCODE="$G" NVCC_EXTRA=-DRET_WGC_MINB=2 dev/cuda/build.sh build/ret-minb2 >"$OUT/retlib2.log" 2>&1) &
LP=$!
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_train
timeout 150 build-cuda/cuda/tests/test_cuda_train test_gradients >"$OUT/train-tests.log" 2>&1
echo "test_cuda_train gradients: exit $?: $(tail -1 $OUT/train-tests.log)"
grep -E "FAIL|dropout" "$OUT/train-tests.log" | head -8
train_ab 0
wait $LP
grep wgc "$OUT/retlib.log" "$OUT/retlib2.log" | grep -E "128, (32|64)"
PYTHONPATH=build/fla-src timeout 200 python3 dev/cuda/fwd_ab.py auto=build/ret-cuda/libretention_cuda.so \
  t32=build/ret-cuda/libretention_cuda.so:32 t32x2=build/ret-minb2/libretention_cuda.so:32 \
  x2auto=build/ret-minb2/libretention_cuda.so 2>&1 | tee "$OUT/fwd-ab.txt" | grep -v Warning
echo "fwd_ab: at $((SECONDS - t0)) s"
FWD_AB_SHAPES=1 timeout 180 ncu --set full --import-source yes --kernel-name regex:wgc_kernel \
  --launch-skip 2 --launch-count 1 -o "$OUT/fwd" -f python3 dev/cuda/fwd_ab.py \
  auto=build/ret-cuda/libretention_cuda.so >"$OUT/ncu-run.log" 2>&1
echo "ncu: exit $? at $((SECONDS - t0)) s"
ncu -i "$OUT/fwd.ncu-rep" --page details >"$OUT/fwd-details.txt" 2>&1
ncu -i "$OUT/fwd.ncu-rep" --page source --csv --print-source sass >"$OUT/fwd-sass.csv" 2>"$OUT/fwd-sass.err"
echo "sass csv: exit $? $(wc -l <"$OUT/fwd-sass.csv") lines"
grep -E "Duration|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|Issue Slots Busy|Shared Memory|Stall|L1/TEX Hit|Mem Pipes Busy|Executed Ipc" "$OUT/fwd-details.txt" | head -40
python3 - "$OUT/fwd-sass.csv" <<'PY' >"$OUT/fwd-stalls.txt" 2>&1
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
h = next(i for i, r in enumerate(rows) if any('Source' == c or 'Address' in c for c in r))
hd, data = rows[h], rows[h + 1:]
print('columns:', hd)
def col(name):
    return next((i for i, c in enumerate(hd) if c.startswith(name)), None)
s = col('Warp Stall Sampling (All')
src = col('Source')
if s is not None:
    num = lambda x: float(x.replace(',', '') or 0)
    tot = sum(num(r[s]) for r in data if len(r) > s)
    print('total samples', tot)
    for r in sorted(data, key=lambda r: -num(r[s]) if len(r) > s else 0)[:60]:
        print(f'{num(r[s]) / tot * 100:5.1f}%', ' | '.join(r[:2]), r[src] if src is not None else '')
PY
head -70 "$OUT/fwd-stalls.txt"
echo "total $((SECONDS - t0)) s"
# at most 8 files come back: the logs in one archive
gzip -f "$OUT/fwd-sass.csv"
(cd "$OUT" && tar czf logs.tgz *.log *.jsonl *.err 2>/dev/null && rm -f *.log *.jsonl *.err)
ls "$OUT"
