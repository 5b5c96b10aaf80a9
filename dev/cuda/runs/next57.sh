#!/usr/bin/env bash
# Twelfth session, the review's tree: step_kernel with its column count a template parameter
# (step_lab.cu now includes retention.cu and times the kernel itself, not a copy), the
# cuBLASLt labs on lt_common.cuh, test_joined_products' outputs poisoned with NaN. The
# changed tests; step_lab and lt_splitk once; the 1.3B step at B = 1 and 64 against the
# record (1.18 and 4.74 ms).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
( nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/step_lab.cu -o /tmp/step_lab >"$OUT/step-lab-build.log" 2>&1
  nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/lt_splitk.cu -lcublasLt -o /tmp/lt_splitk
  nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/lt_algos.cu -lcublasLt -o /tmp/lt_algos ) &
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops \
  build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops \
  build-cuda/cuda/tests/test_cuda_model
timeout 200 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (graphs, batch): exit $?: $(tail -n 1 "$OUT/tests.log")"
for r in 1 2; do decode_run head build-cuda/retnet 1,64; done
decode_table
wait
/tmp/step_lab | tee "$OUT/step-lab.txt" | grep -E "^--|V0|large|FAIL"
timeout 60 /tmp/lt_splitk | tee "$OUT/lt-splitk.txt" | grep -E " 64 "
echo "total $((SECONDS - t0)) s"
