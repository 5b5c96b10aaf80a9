#!/usr/bin/env bash
# gemv_lab.cu with `walk` variants (v2): each block walks tiles, the next tile's first round of
# loads issued right after this one's mmas, before the warps' tiles meet and warp 0 stores;
# the grid is the blocks that fit at once. Against v0 at the same shapes (16 x 8, 16 x 4, and
# 8 x 8, gemv.cu's before next178), M = 8, under programmatic launch.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemv_lab dev/cuda/gemv_lab.cu && timeout 120 build/gemv_lab 200 | tee "$OUT/gemv_lab.txt"
echo "total $((SECONDS - t0)) s"
