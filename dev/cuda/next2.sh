#!/usr/bin/env bash
# Session 4, first retention call (written 2026-11-29): the O tile staged in shared memory and
# written by TMA (src/cuda/retention.cu, lab flag 16 = the previous register stores).
# Build (make CUDA=1 and the lab library); dev/cuda/retention_store.py: TMA store against
# register store bit for bit on every kernel, then both timed at the benchmark's shapes; the
# float64 lab checks; every CUDA test (test_cuda_gemv's segfault fixed, the rope epilogue now
# on by default); the 1.3B training step with and without (RETNET_CUDA_LAB_FLAGS=16), timed.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
cuda_build
wait
tail -1 "$OUT/retlib.log"
export RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so
timeout 150 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -12
grep -c "^DIFF" "$OUT/store.txt"; grep "^DIFF" "$OUT/store.txt" | head -8
timeout 120 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1; echo "lab: exit $? $(grep -ci fail "$OUT/lab.log") lines with fail; $(tail -n 2 "$OUT/lab.log" | head -c 300)"
echo "at $((SECONDS - t0)) s"
cuda_tests
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for f in 16 0 16 0; do
  RETNET_CUDA_LAB_FLAGS=$f timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | sed "s/^{/{\"lab_flags\": $f, /" >>"$OUT/train.jsonl"
done
python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    print('lab_flags', r.get('lab_flags'), {k: r[k] for k in r if k in ('ms_per_step', 'tokens_per_s', 'mfu', 'step_ms', 'tokens_per_sec')})
PY
RETNET_CUDA_TIMING=1 timeout 60 $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -28
echo "total $((SECONDS - t0)) s"
