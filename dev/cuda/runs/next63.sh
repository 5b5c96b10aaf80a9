#!/usr/bin/env bash
# Thirteenth session (ran on a working tree not committed: FMA_WARPS a template parameter,
# RETNET_CUDA_FMA_WARPS; HEAD has 4): the FMA gemv in blocks of 2 warps (one row pair a block at KS = 2:
# finer grains for the next kernel's blocks to fill in under programmatic launch) against 4
# (RETNET_CUDA_FMA_WARPS 4 / 2): test_cuda_gemv at 2 warps with KS 1 and 2, test_graphs, then
# the 1.3B step at B = 1 and 2, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_train
RETNET_CUDA_FMA_WARPS=2 gemv_tests_under RETNET_CUDA_FMA 4,1 4,2
RETNET_CUDA_FMA_WARPS=2 timeout 150 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/tests.log" 2>&1
echo "test_cuda_train (graphs, batch) at WARPS=2: exit $?: $(tail -n 1 "$OUT/tests.log")"
decode_ab RETNET_CUDA_FMA_WARPS "4 2" 1,2
echo "total $((SECONDS - t0)) s"
