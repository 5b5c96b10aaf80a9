#!/usr/bin/env bash
# Sixteenth session: the window kernel's shape at small and middle batches (which shape from
# which size): the 1.3B step with RETNET_CUDA_WINDOW_SHAPE forced to 1 (small states'), 5 (64
# columns, large), 3 (256) and the default, alternated twice, at B = 2, 4, 8, 16, 32; then
# every CUDA test on a clean build for every target (as CI and users build).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build
for i in 1 2; do
  for s in 0 1 5 3; do
    decode_run "shape$s" build-cuda/retnet 2,4,8,16,32 RETNET_CUDA_WINDOW_SHAPE=$s
  done
done
decode_table
rm -rf build-cuda
clean_tests 150
echo "total $((SECONDS - t0)) s"
