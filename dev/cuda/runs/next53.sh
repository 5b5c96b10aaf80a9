#!/usr/bin/env bash
# Twelfth session, last call: HEAD (the joined products, the wider state update), a clean build
# for every target (all gencodes, as CI and users build), every CUDA test, then the decoding
# record: bench/gpu/e2e.sh --only decode,peers with fla's decoding peer off, as next38.sh.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests
decode_record
echo "total $((SECONDS - t0)) s"
