#!/usr/bin/env bash
# Eleventh session, third call: what the norms cost in the decoding chain. A copy of the tree
# (never committed) whose model norms (PROBE_NONORM) and head norm + gate (PROBE_NOHN) can be
# skipped, and whose gemv can read only GEMV_PROBE_K8 16-byte columns a row (as next40.sh):
# timing only, wrong results. The 1.3B step at B = 1 and 8 with each, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
probe_copy /tmp/probe
( cd /tmp/probe && make CUDA=1 -j16 build-cuda/retnet >"$OUT/probe-build.log" 2>&1; echo "probe build: exit $? at $((SECONDS - t0)) s" )
P=/tmp/probe/build-cuda/retnet
for r in 1 2; do
  decode_run all $P 1,8
  decode_run nonorm $P 1,8 PROBE_NONORM=1
  decode_run nohn $P 1,8 PROBE_NOHN=1
  decode_run neither $P 1,8 PROBE_NONORM=1 PROBE_NOHN=1
  decode_run k8 $P 1,8 GEMV_PROBE_K8=8
  decode_run k8-neither $P 1,8 GEMV_PROBE_K8=8 PROBE_NONORM=1 PROBE_NOHN=1
done
decode_table
echo "total $((SECONDS - t0)) s"
