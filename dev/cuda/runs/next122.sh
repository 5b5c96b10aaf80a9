#!/usr/bin/env bash
# next121's staging with the launch fixed (the dynamic shared memory's limit raised at every
# size: next121's 48 KB cases failed with the static arrays on top) and the stage count chosen
# by occupancy: test_cuda_ops; the norm kernels at auto / 2 / 3 stages; then ncu's view
# (where the warps stall, the pipes' use) of the three backward variants the 1.3B models run:
# the preset's groupnorm head norm with §3's rows, the rms head norm, the model's rmsnorm.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
for st in auto 2 3; do
  echo "== stages $st"
  RETNET_CUDA_NORM_STAGES=$st timeout 100 build-cuda/cuda/bench_cuda_ops 2>&1 | grep norm
done
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for k in "64, 2, true, true, true, true" "64, 2, true, false, true, false" "256, 2, true, false, false, false"; do
  echo "== ncu norm_bwd_kernel<$k>"
  timeout 120 $NCU --kernel-name-base demangled --kernel-name "regex:norm_bwd_kernel<$k>" \
    --launch-skip 3 --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section SchedulerStats --section WarpStateStats --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis build-cuda/cuda/bench_cuda_ops >"$OUT/ncu-$k.log" 2>&1
  grep -E "Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Block Limit|Issued Warp|No Eligible|Active Warps|Eligible Warps|Warp Cycles|Stall|Executed Ipc|Pipe|L1/TEX Hit|Mem Busy|Max Bandwidth|Shared Memory Configuration|Dynamic Shared" "$OUT/ncu-$k.log" | head -50
  grep -A3 "WRN\|OPT" "$OUT/ncu-$k.log" | grep -v "^--$" | head -30
done
echo "total $((SECONDS - t0)) s"
