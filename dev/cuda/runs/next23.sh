#!/usr/bin/env bash
# (Lab flag 512 and the unchecked whole-chunk loads it turned off were removed in the
# eighth session's final review: a 3% gain in a kernel the dispatcher no longer picks at KC 128.)
# Eighth session: the P build without branches (decay_table) in both wgmma kernels and the
# cp.async kernel's unchecked loads for whole chunks, against HEAD's retention.cu (carried in
# build/ret-base-src): float64 checks of the new library (retention_lab.py --no-time), then
# forward and backward timed against the base and chunk_retention in one process;
# test_cuda_retention.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1 TRITON_CACHE_DIR=/tmp/tcache
lab_libs_ab
cuda_build build-cuda/cuda/tests/test_cuda_retention
wait $LPID
tail -1 "$OUT/retlib-base.log" "$OUT/retlib.log"
lab_checks $N
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_retention
fwd_ab base=$B new=$N base_tma=$B:0:0:2 new_tma=$N:0:0:2 new_checked=$N:0:512
echo "total $((SECONDS - t0)) s"
