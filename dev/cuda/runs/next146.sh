#!/usr/bin/env bash
# gemv_lab.cu: the M = 8 products (the batch-8 step), the mma gemv's scheme (v0: weights in
# flight in registers, 2 blocks an SM) against a multistage one (v1: cp.async stages of 256
# columns in shared memory, S = 4, 6, 8 stages, 60 registers), each launch on its own weights
# under programmatic launch; v1's outputs checked against v0's.
cd "$(dirname "$0")/../../.."
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemv_lab dev/cuda/gemv_lab.cu || exit 1
timeout 120 build/gemv_lab 200
