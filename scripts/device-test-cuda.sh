#!/usr/bin/env bash
# What to run on a GPU machine (the `run` tool of this workplace, or any machine with nvcc
# and an NVIDIA GPU): builds the CUDA backend (make CUDA=1), runs its tests (make test-cuda),
# then the kernels' tests again under compute-sanitizer's memcheck when it is installed
# (cuBLAS's products left out: slow under the sanitizer, and not our code), and the kernels'
# timings. Logs go to $OUT (default bench/gpu/out): env.log, build.log, test-cuda-h200.log,
# memcheck.log, bench-cuda-ops.log.
#   scripts/device-test-cuda.sh [JOBS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/gpu/out}
jobs=${1:-$(nproc)}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH

{
  date -u; uname -m; nproc
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1
  nvcc --version | tail -n 2
  gcc --version | head -n 1
  dpkg-query -W -f='${Package} ${Version}\n' libopenblas-openmp-dev 2>&1
} >"$out/env.log" 2>&1
cat "$out/env.log"

t0=$(date +%s)
# -k: a CLI or benchmark that does not build (work in progress elsewhere) must not hide the
# backend's results; the library and the tests are what test-cuda needs.
make -k CUDA=1 -j"$jobs" >"$out/build.log" 2>&1
echo "build: exit $? in $(( $(date +%s) - t0 )) s (build.log)"
grep -E 'error|warning' "$out/build.log" | head -n 20

t0=$(date +%s)
make --no-print-directory -j"$jobs" test-cuda 2>&1 | tee "$out/test-cuda-h200.log"
rc=${PIPESTATUS[0]}
echo "test-cuda: exit $rc in $(( $(date +%s) - t0 )) s"

if command -v compute-sanitizer >/dev/null && [ -x build-cuda/cuda/tests/test_cuda_ops ]; then
  t0=$(date +%s)
  timeout 100 compute-sanitizer --tool memcheck --error-exitcode 99 \
    build-cuda/cuda/tests/test_cuda_ops test_convert test_embed test_norms test_head_norm_gate \
    test_norm_backward test_head_norm_gate_backward test_rope test_activations \
    test_cross_entropy test_sums test_adamw >"$out/memcheck.log" 2>&1
  echo "memcheck: exit $? in $(( $(date +%s) - t0 )) s (memcheck.log; 124: timed out)"
  grep -E 'ERROR SUMMARY|passed, [0-9]+ failed' "$out/memcheck.log"
fi
if [ -x build-cuda/cuda/bench_cuda_ops ]; then
  build-cuda/cuda/bench_cuda_ops 2>&1 | tee "$out/bench-cuda-ops.log"
fi
exit "$rc"
