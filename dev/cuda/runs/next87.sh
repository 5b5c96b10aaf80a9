#!/usr/bin/env bash
# Sixteenth session, the record: HEAD (next86's kernel, the window from B = 2 at the 1.3B
# shape), sm_90a build; the decoding record (bench/gpu/e2e.sh --only decode,peers), then the
# paper's `1.3b` preset at the issue's contexts and batches in what time is left.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
decode_record
left=$((570 - SECONDS))
echo "preset with ${left} s left"
preset_record "$left"
echo "total $((SECONDS - t0)) s"
