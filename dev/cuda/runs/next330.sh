#!/usr/bin/env bash
# Forty-fourth session: `make memcheck-cuda` (new: every CUDA test binary under
# compute-sanitizer's memcheck, API errors not reported, an access error failing its binary)
# as a user runs it, and its control: a test binary that reports "1 passed, 0 failed" but
# writes one float past a cudaMalloc'd array must count as failed under the same wrapper.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
mkdir -p build/mc-control/tests
cat >build/mc-control/oob.cu <<'CU'
#include <cstdio>
__global__ void past(float *a, int n) { a[n + threadIdx.x] = 1.f; }
int main() {
  float *a; cudaMalloc(&a, 256 * sizeof(float));
  past<<<1, 32>>>(a, 256); cudaDeviceSynchronize();
  printf("oob.cu: 1 passed, 0 failed\n"); return 0;
}
CU
nvcc -arch=sm_90a build/mc-control/oob.cu -o build/mc-control/tests/test_oob
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer | head -1)
TEST_WRAPPER="$SAN --tool memcheck --report-api-errors no --error-exitcode 99 --print-limit 2" \
  tests/run.sh build/mc-control | tail -4
echo "control: exit $? (must be 1)"
timeout 500 make memcheck-cuda SANITIZER="$SAN" JOBS=16 -j16 >"$OUT/memcheck.log" 2>&1
echo "make memcheck-cuda: exit $? at $((SECONDS - t0)) s"
grep -E "^== |passed, |exit status|ERROR SUMMARY: [1-9]" "$OUT/memcheck.log" | tail -20
