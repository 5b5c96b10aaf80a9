#!/usr/bin/env bash
# Eighth session's last call: every CUDA test on the final kernels (the P decays in registers
# came after next24.sh's full run).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
