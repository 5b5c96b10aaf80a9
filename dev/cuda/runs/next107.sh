#!/usr/bin/env bash
# Eighteenth session's last call: build-cuda removed and built for every target (as CI and
# users build), the paper preset's training record (B 8 x T 2048 and B 2 x T 8192, twice
# each, and the fla shape's step beside them), then every CUDA test.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
rm -rf build-cuda
JOBS=16 cuda_build
train_record
echo "at $((SECONDS - t0)) s"
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
