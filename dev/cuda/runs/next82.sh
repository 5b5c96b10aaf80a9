#!/usr/bin/env bash
# Fifteenth session: HEAD (the window with the block kernel, on from 256 MB of a layer's
# states; the streamed kernel removed), clean build for every target: every CUDA test; the
# 1.3B step with the default and with the window off; then the decoding record.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests 150
for i in 1 2; do
  decode_run default build-cuda/retnet 1,8,64,128,256
  decode_run w0 build-cuda/retnet 1,8,64,128,256 RETNET_CUDA_WINDOW=0
done
decode_table
decode_runs
echo "before the record: $((SECONDS - t0)) s"
decode_record
echo "total $((SECONDS - t0)) s"
