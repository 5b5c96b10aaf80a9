#!/usr/bin/env bash
# Fourteenth session, last call: HEAD (the paper variant's decoding path of next73), a clean
# build for every target, every CUDA test, then the paper's `1.3b` preset decoding at the
# issue's contexts and batches (bench/gpu/preset-1.3b-h200.jsonl; the second session's run of
# it is kept as preset-1.3b-h200-s2.jsonl).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests 150
preset_record 240
echo "total $((SECONDS - t0)) s"
