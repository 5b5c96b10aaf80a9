#!/usr/bin/env bash
# The staged norm backward without its per-round 64-bit modulos: test_cuda_ops, the norm
# kernels (bench_cuda_ops), then ncu's view of the three backward variants the 1.3B models
# run (the preset's groupnorm head norm with §3's rows, the rms head norm, the model's
# rmsnorm): where the warps stall and what the pipes do (next122's ncu logs did not come back:
# their names had spaces). Run twice: the first time ncu's kernel filter missed (its demangled
# names read "<(int)64, (int)2, (bool)1, ...>"), fixed here.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/bench_cuda_ops
[ -n "${SKIP_TESTS:-}" ] || TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
[ -n "${SKIP_TESTS:-}" ] || timeout 100 build-cuda/cuda/bench_cuda_ops 2>&1 | grep norm
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
i=0
b='\(bool\)'
for k in "64, \(int\)2, ${b}1, ${b}1, ${b}1, ${b}1" "64, \(int\)2, ${b}1, ${b}0, ${b}1, ${b}0" "256, \(int\)2, ${b}1, ${b}0, ${b}0, ${b}0"; do
  i=$((i + 1))
  echo "== ncu norm_bwd_kernel<$k>"
  timeout 150 $NCU --kernel-name-base demangled --kernel-name "regex:norm_bwd_kernel<\\(int\\)$k>" \
    --launch-skip 3 --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section SchedulerStats --section WarpStateStats --section ComputeWorkloadAnalysis \
    --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active.ratio,regex:sm__inst_executed_pipe_.*.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed" \
    build-cuda/cuda/bench_cuda_ops >"$OUT/ncu-$i.log" 2>&1
  echo "ncu exit $?"
  grep -vE "^==PROF==|^  *-+ *-+|^$" "$OUT/ncu-$i.log" | grep -E "^ +[A-Za-z_]" | grep -vE " 0(\.0+)?$| 0 *$" | head -90
done
echo "total $((SECONDS - t0)) s"
