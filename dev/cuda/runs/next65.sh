#!/usr/bin/env bash
# Thirteenth session, last call: HEAD (d02eeba's kernels), a clean build for every target,
# every CUDA test.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests 150
echo "total $((SECONDS - t0)) s"
