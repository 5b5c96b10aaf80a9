#!/usr/bin/env bash
# Thirty-seventh session: the persistent step runs and passes (next280 after the down box's
# fix) but is slower than the chain (1.07 vs 1.01 ms). Where: the step's kernels traced (pstep
# and chain: the kernel's own time against the rest), then ncu over one pstep_kernel launch
# (speed of light, memory, warp states, the source's hot lines).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
trace_build
ROWS=8 decode_trace pstep 1
ROWS=8 decode_trace chain 1 RETNET_CUDA_PERSISTENT=0
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 300 "$NCU" -k regex:pstep --launch-skip 4 -c 1 \
  --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
  --section SourceCounters --section LaunchStats --section Occupancy \
  build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 1 \
  --context 64 --steps 6 --warmup 2 >"$OUT/ncu-pstep.txt" 2>&1
echo "ncu: exit $?"
grep -vE "^\s*$|^==PROF==" "$OUT/ncu-pstep.txt" | sed -n '/pstep_kernel/,$p' | head -150
echo "total $((SECONDS - t0)) s"
