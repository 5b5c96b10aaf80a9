#!/usr/bin/env bash
# Sixth session: programmatic dependent launch in the decoding step (written 2026-11-29; the
# call that first runs it). Build; every CUDA test but test_cuda_train, whose test_graphs
# (graph + PDL against op by op without PDL, bit for bit) runs alone; then the 1.3B decoding
# step with RETNET_CUDA_PDL=0 and =1 alternated twice, B = 1, 8, 64, 256.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=150 cuda_tests $(ls build-cuda/cuda/tests/test_cuda_* | grep -v test_cuda_train)
timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs 2>&1 | tail -3
decode_ab RETNET_CUDA_PDL "0 1" 1,8,64,256
echo "total $((SECONDS - t0)) s"
