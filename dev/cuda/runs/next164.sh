#!/usr/bin/env bash
# (ran on a working tree with these lab modes in qkvg_split_rows_kernel, an extra `mode` argument; reverted, not committed)
# (lab modes of qkvg_split_rows_kernel, RETNET_CUDA_SPLIT_ROWS: 1 as committed, 2 no angles
# (c = 1, s = 0: wrong outputs, timing only: what the double-precision chain costs), 3 the
# angles formed before the programmatic-launch wait (do cuBLASLt's kernels let it start
# early?), 0 the grid-stride kernel. The fla shape at B = 24, 64, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops
RETNET_CUDA_SPLIT_ROWS=3 timeout 100 build-cuda/cuda/tests/test_cuda_ops >"$OUT/ops3.log" 2>&1
echo "test_cuda_ops under mode 3: exit $?: $(tail -n 1 "$OUT/ops3.log")"
for i in 1 2 3; do
  for m in 1 2 3 0; do decode_run "m$m" build-cuda/retnet 24,64 RETNET_CUDA_SPLIT_ROWS=$m; done
done
decode_table
echo "total $((SECONDS - t0)) s"
