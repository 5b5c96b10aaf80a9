#!/usr/bin/env bash
# Thirteenth session, last call: HEAD (d02eeba's kernels), a clean build for every target,
# every CUDA test.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
rm -rf build-cuda
cuda_build
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
