#!/usr/bin/env bash
# Fourteenth session, the record's call: HEAD (step_kernel with every row of a small state
# asked for before the wait; the fused mixer reverted), a clean build for every target, every
# CUDA test, then the decoding record as next61.sh.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests 150
decode_record
echo "total $((SECONDS - t0)) s"
