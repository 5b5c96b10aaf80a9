#!/usr/bin/env bash
# Tenth session: every CUDA test on HEAD after the persistent step's revert (the tree of
# cbced92, whose review changes had not run on a GPU), a clean build for every target.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests 150
echo "total $((SECONDS - t0)) s"
