#!/usr/bin/env bash
# Eighth session: the P build without branches (decay_table) in both wgmma kernels and the
# cp.async kernel's unchecked loads for whole chunks, against HEAD's retention.cu (carried in
# build/ret-base-src): float64 checks of the new library (retention_lab.py --no-time), then
# forward and backward timed against the base and chunk_retention in one process;
# test_cuda_retention.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
G="-gencode arch=compute_90a,code=sm_90a"
(GENCODE="$G" SRC=build/ret-base-src/retention.cu dev/cuda/build.sh build/ret-base >"$OUT/retlib-base.log" 2>&1) &
P1=$!
GENCODE="$G" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
P2=$!
cuda_build build-cuda/cuda/tests/test_cuda_retention
wait $P1 $P2
tail -1 "$OUT/retlib-base.log" "$OUT/retlib.log"
N=build/ret-cuda/libretention_cuda.so B=build/ret-base/libretention_cuda.so
RETNET_CUDA_LIB=$N timeout 200 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab checks: exit $? at $((SECONDS - t0)) s: $(grep -c '^  ok' $OUT/lab.log) ok, $(grep -c BAD $OUT/lab.log) BAD"
grep BAD "$OUT/lab.log" | head
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_retention
FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 240 python3 dev/cuda/fwd_ab.py base=$B new=$N \
  base_tma=$B:0:0:2 new_tma=$N:0:0:2 new_checked=$N:0:512 2>&1 | grep -v Warn | tee "$OUT/fwd-ab.txt"
echo "total $((SECONDS - t0)) s"
