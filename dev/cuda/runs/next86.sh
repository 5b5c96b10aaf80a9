#!/usr/bin/env bash
# Sixteenth session: the window's step kernel from window_lab2 promoted (large states: 512
# threads, up to 512 columns, two register sets; the fold with each token's values once a set).
# sm_90a build; the decoding path's tests (test_step_window now under every kernel shape);
# then the 1.3B step, this tree against 4cc5c63 (build/base.tar, carried), twice, and this
# tree with the window on at every batch (RETNET_CUDA_WINDOW=16,0) at small batches.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
cuda_build
decode_tests
wait $BPID
for i in 1 2; do
  decode_run base /tmp/base/build-cuda/retnet 1,8,16,32,64,128,256
  decode_run new build-cuda/retnet 1,8,16,32,64,128,256
done
decode_run new-w16all build-cuda/retnet 1,2,4,8,16 RETNET_CUDA_WINDOW=16,0
decode_run new-w0 build-cuda/retnet 2,4,8,16 RETNET_CUDA_WINDOW=0
decode_table
decode_runs
echo "total $((SECONDS - t0)) s"
