#!/usr/bin/env bash
# Twelfth session, second call: test_cuda_ops with test_joined_products' buffers fixed (the
# first call's run overflowed a host buffer where h dk > h dv); dev/cuda/lt_splitk.cu: the
# output products (wo, fc2 + residual), fc1 | gate and q k v g at M = 17-256 through cuBLASLt
# as now, with every split-K reduction scheme, and split by hand into S slices (a strided-
# batched product into fp32 partials + one reduction kernel).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
nvcc -O2 $CUDA_GENCODE dev/cuda/lt_splitk.cu -lcublasLt -o /tmp/lt_splitk &
cuda_build build-cuda/cuda/tests/test_cuda_ops
wait
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_ops
/tmp/lt_splitk | tee "$OUT/lt-splitk.txt"
echo "total $((SECONDS - t0)) s"
