#!/usr/bin/env bash
# (Written after the twenty-third session's GPU time was spent; compiled for sm_90a, not run.)
# gemm_lab.cu with its kernel's tile (128 or 64 weight rows) and ring depth (4-8 stages) as
# template parameters, and a sweep of four more shapes after each product's row: 128 x 6,
# 64 x 4, 64 x 6, 64 x 8 (the blocks an SM from the occupancy API, the slices for one wave),
# each alone and with the sum kernel, checked against cuBLASLt; at M = 64 and 32. The 64-row
# tiles give q k v g 192 tiles, so it needs no slices (no meeting) at 2 blocks an SM.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
gemm_lab 64 32
echo "total $((SECONDS - t0)) s"
