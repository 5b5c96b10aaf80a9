#!/usr/bin/env bash
# The review's refactor of the decoding step's launch (23bf62f: one step_launch for the plain
# step, §3's key sums and the head norm's cluster), first on a GPU: the decoding path's tests,
# then B = 1 of both shapes with the head norm's epilogue on and off (next137's), and the mma
# gemv with its two mmas a step into two accumulators (RETNET_CUDA_MMA_ACC=2: each chain of
# dependent mmas half as long): test_cuda_gemv under it, the step at B = 4, 8, 16 alternated.
# Then ncu's detail (speed of light, warp stalls, memory) of one q k v g launch of the FMA gemv
# at M = 1 and of the mma gemv at M = 8 (test_cuda_gemv --bench), to see what holds the mma
# kernel at ~2 TB/s where the FMA kernel reaches ~3.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
gemv_tests_under RETNET_CUDA_MMA_ACC 2
RETNET_CUDA_MMA_ACC=2 timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs test_batch >"$OUT/graphs-acc.log" 2>&1
echo "test_cuda_train graphs batch, MMA_ACC=2: exit $?: $(tail -n 1 "$OUT/graphs-acc.log")"
echo "tests done at $((SECONDS - t0)) s"
for i in 1 2; do
  decode_run fla build-cuda/retnet 1
  decode_run fla_hn0 build-cuda/retnet 1 RETNET_CUDA_HN_FUSED=0
  decode_run acc1 build-cuda/retnet 4,8,16
  decode_run acc2 build-cuda/retnet 4,8,16 RETNET_CUDA_MMA_ACC=2
done
decode_table
build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-acc1.txt" 2>&1
RETNET_CUDA_MMA_ACC=2 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-acc2.txt" 2>&1
paste "$OUT/gemv-acc1.txt" "$OUT/gemv-acc2.txt" | awk -F'\t' '$1 ~ / (4|8|16) / {print $1 " | " $2}' | cut -c1-130
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
SEC="--section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --section SchedulerStats"
# --bench: M = 1, 2, 4, 8, 16, five products each, 210 launches a product (10 warm-up)
timeout 120 "$NCU" $SEC -k regex:gemv_fma_kernel --launch-skip 10 --launch-count 1 \
  build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/ncu-fma-m1.txt" 2>&1
echo "ncu fma: exit $? at $((SECONDS - t0)) s"
timeout 120 "$NCU" $SEC -k regex:gemv_mma_kernel --launch-skip 1060 --launch-count 1 \
  build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/ncu-mma-m8.txt" 2>&1
echo "ncu mma: exit $? at $((SECONDS - t0)) s"
for f in fma-m1 mma-m8; do
  echo "== $f"
  grep -E "gemv_|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Issued Warp|No Eligible|Active Warps Per|Eligible Warps|Warp Cycles Per Issued|Grid Size|Waves Per SM|Mem Busy|Max Bandwidth|L2 Compression" "$OUT/ncu-$f.txt" | head -40
  grep -iE "^    (OPT|INF|WRN)" -A2 "$OUT/ncu-$f.txt" | grep -iE "stall|cycles|latency" | head -8
done
echo "total $((SECONDS - t0)) s"
