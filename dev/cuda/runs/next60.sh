#!/usr/bin/env bash
# Thirteenth session (ran on a working tree not committed: HEAD has no RETNET_CUDA_MMA): the
# mma gemv (3 <= M <= 16) in six block shapes, RETNET_CUDA_MMA = 0..5:
# (warps, loads in flight per lane and row, min blocks an SM) = (8,8,2) as before, (8,4,3),
# (4,8,4), (4,4,6), (16,4,1), (8,16,1). test_cuda_gemv under each, --bench at M = 4, 8, 16
# for each, the 1.3B step at B = 4, 8, 16 for each (alternated twice); the FMA kernel's new
# default (4,2) is what every run has.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
gemv_tests_under RETNET_CUDA_MMA 0 1 2 3 4 5
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
for v in 0 1 2 3 4 5; do
  RETNET_CUDA_MMA=$v timeout 100 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-bench-$v.txt" 2>&1
done
python3 - "$OUT" <<'PY'
import re, sys
rows = {}
for v in range(6):
    for l in open(f"{sys.argv[1]}/gemv-bench-{v}.txt"):
        m = re.match(r"(\S+).*?\s(\d+)\s+([\d.]+)\s+(\d+)$", l.rstrip())
        if m and int(m.group(2)) in (4, 8, 16): rows.setdefault((m.group(1), int(m.group(2))), []).append(float(m.group(3)))
print("product  M  us/call for MMA = 0..5")
for (p, M), x in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{p:8s} {M:3d}  " + " ".join(f"{y:6.2f}" for y in x))
PY
for r in 1 2; do
  for v in 0 1 2 3 4 5; do decode_run "mma$v" build-cuda/retnet 4,8,16 RETNET_CUDA_MMA=$v; done
done
decode_table
echo "total $((SECONDS - t0)) s"
