#!/usr/bin/env bash
# Eleventh session, second call. (1) dev/cuda/lt_algos.cu: the decoding step's products at
# M = 16, 64, 256 through cuBLASLt (matmul.cu's settings), the heuristic's first algorithm
# against the best of its first 16. (2) A timing-only probe of the B = 1 and 8 decoding chain:
# a copy of the tree whose gemv reads only the first GEMV_PROBE_K8 16-byte columns of each
# weight row (wrong results; lib.sh's probe_copy, never committed), so what remains is the chain's
# latency: the launches, waits, norms, step and head norm with almost no weight traffic.
# (3) The step at B = 16 and 64 on HEAD.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
nvcc -O2 $CUDA_GENCODE dev/cuda/lt_algos.cu -lcublasLt -o /tmp/lt_algos && /tmp/lt_algos | tee "$OUT/lt-algos.txt"
echo "lt_algos at $((SECONDS - t0)) s"
probe_copy /tmp/probe
( cd /tmp/probe && make CUDA=1 -j8 build-cuda/retnet >"$OUT/probe-build.log" 2>&1; echo "probe build: exit $?" ) &
PB=$!
JOBS=8 cuda_build build-cuda/retnet
wait $PB
for r in 1 2; do
  decode_run head build-cuda/retnet 1,8
  decode_run probe32 /tmp/probe/build-cuda/retnet 1,8 GEMV_PROBE_K8=32
  decode_run probe8 /tmp/probe/build-cuda/retnet 1,8 GEMV_PROBE_K8=8
done
decode_run head build-cuda/retnet 16,64
decode_table
echo "total $((SECONDS - t0)) s"
