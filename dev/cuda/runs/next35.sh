#!/usr/bin/env bash
# Ninth session, on the last device minutes: the norms' parameters loaded before the
# programmatic-launch wait (norm_fwd_kernel: they are not written in a decoding step, so their
# load overlaps the kernel before instead of following the sums). The norm and model tests,
# then the 1.3B decoding step against HEAD before it (build/base.tar) at B = 1 and 8,
# alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_base
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
wait $BPID
for r in 1 2; do
  decode_run new build-cuda/retnet 1,8
  decode_run base /tmp/base/build-cuda/retnet 1,8
done
decode_table
echo "total $((SECONDS - t0)) s"
