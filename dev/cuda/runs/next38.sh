#!/usr/bin/env bash
# Tenth session: the decoding record on HEAD (c4c4f53: the tree of cbced92, every CUDA test
# passed in next37.sh), bench/gpu/e2e.sh --only decode,peers with fla's decoding peer off, as
# in the records it replaces (next33.sh).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
decode_record
echo "total $((SECONDS - t0)) s"
