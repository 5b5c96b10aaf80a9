#!/usr/bin/env bash
# (Ran once in the twenty-fourth session with the template arguments written <2, 2, true>:
# ncu matched no kernel. The patterns below match its names; not yet run.)
# Why the two-row RMS consumer is ~5 us a launch slower (next169): ncu's sections for one
# q k v g launch at B = 2, the chain's gemv_fma_kernel<2, 2, true> (11cdc24: the chain at 1-2
# rows, built with GEMV_RMS_MINB=0, i.e. unheld, 96 registers) against the plain <2, 2, false>
# (the same build, RETNET_CUDA_RMS_CHAIN=0), and the one-row pair <1, 2, true> / <1, 2, false>.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a -DGEMV_RMS_MINB=0"
JOBS=16 cuda_build_base
wait $BPID
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
one() { # NAME BATCH REGEX [VAR=VALUE]
  local name=$1 b=$2 re=$3; shift 3
  env "$@" timeout 100 "$NCU" --kernel-name-base demangled --kernel-name "regex:$re" --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
    --section Occupancy --section SchedulerStats --section LaunchStats \
    $BASE/build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda \
    --batch $b --context 64 --steps 1 --warmup 0 >"$OUT/ncu_$name.txt" 2>&1
  echo "== $name: exit $?"
  grep -E "gemv_fma_kernel|Duration|DRAM Throughput|L1/TEX Hit|Mem Busy|Max Bandwidth|Issue Slots Busy|Registers Per|Achieved Occupancy|Theoretical Occ|Warp Cycles Per Issued|No Eligible|L1/TEX Cache Throughput|Stall" "$OUT/ncu_$name.txt" | head -24
}
# ncu's demangled names read gemv_fma_kernel<(int)2, (int)2, (bool)1>
one m2rms 2 'gemv_fma_kernel<.int.2, .int.2, .bool.1>'
one m2plain 2 'gemv_fma_kernel<.int.2, .int.2, .bool.0>' RETNET_CUDA_RMS_CHAIN=0
one m1rms 1 'gemv_fma_kernel<.int.1, .int.2, .bool.1>'
one m1plain 1 'gemv_fma_kernel<.int.1, .int.2, .bool.0>' RETNET_CUDA_RMS_CHAIN=0
echo "total $((SECONDS - t0)) s"
