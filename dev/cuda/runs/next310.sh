#!/usr/bin/env bash
# Forty-second session: the window step's second half of a thread's state rows copied into its
# own shared memory by cp.async before the wait (a timing switch, RETNET_CUDA_WINDOW_PRESM=1,
# the 128- and 256-column shapes: B = 5-15 at the 1.3B shapes), where it asked for them after
# the wait. Tests under the switch first; then alternated three times, and CUPTI at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for t in test_cuda_retention test_cuda_model; do
  RETNET_CUDA_WINDOW_PRESM=1 timeout 150 build-cuda/cuda/tests/$t >"$OUT/$t-presm.log" 2>&1
  echo "$t under PRESM: exit $? $(tail -1 "$OUT/$t-presm.log")"; grep FAIL "$OUT/$t-presm.log" | head -5
done
for i in 1 2 3; do
  decode_run off build-cuda/retnet 4,6,8,12,16
  decode_run presm build-cuda/retnet 4,6,8,12,16 RETNET_CUDA_WINDOW_PRESM=1
done
decode_table ms_per_step_mean
trace_build
ROWS=6 decode_trace off 8
ROWS=6 decode_trace presm 8 RETNET_CUDA_WINDOW_PRESM=1
echo "total $((SECONDS - t0)) s"
