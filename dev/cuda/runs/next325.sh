#!/usr/bin/env bash
# Forty-third session: can the persistent step's 128 blocks run as clusters (a head's 16
# blocks one cluster: q and k through distributed shared memory) while launched cooperatively?
# dev/cuda/cluster_query.cu at the step's shape (288 threads, 220 KB of shared memory).
cd "$(dirname "$0")/../../.."
mkdir -p build
nvcc -std=c++17 -arch=sm_90a dev/cuda/cluster_query.cu -o build/cluster_query && build/cluster_query
