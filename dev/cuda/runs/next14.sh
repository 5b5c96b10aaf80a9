#!/usr/bin/env bash
# For the next session (written 2026-11-29, NOT yet run): why the norms' backward runs at
# 1.8-2.6 TB/s when a cp.async pipeline of its loads did not help (sixth session, 6c40b6d).
# ncu's full set on one launch each of the head norm's and the row norm's backward in the
# 1.3B training step (the 3rd and 4th norm_bwd_kernel launches: after the warm-up's), and on
# the decoding step's gemv (B = 1): DRAM throughput, occupancy, warp stall reasons. ~2-3 min.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
timeout 240 ncu --set full --kernel-name regex:norm_bwd_kernel --launch-skip 2 --launch-count 2 \
  $R bench train --config $CFG --device cuda --batch 8 --seq 2048 --steps 1 --warmup 0 \
  >"$OUT/ncu-norm-bwd.txt" 2>&1
echo "ncu norm backward: exit $? at $((SECONDS - t0)) s"
RETNET_CUDA_GRAPHS=0 timeout 120 ncu --set full --kernel-name regex:gemv_kernel --launch-skip 40 \
  --launch-count 4 $R bench decode --config $CFG --device cuda --batch 1 --context 64 --steps 2 \
  --warmup 0 >"$OUT/ncu-gemv.txt" 2>&1
echo "ncu gemv: exit $? at $((SECONDS - t0)) s"
for f in ncu-norm-bwd ncu-gemv; do
  echo "== $f"
  grep -E "^  [a-z_]+.*\(|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Duration|Stall|L2 Hit|Warp Cycles Per Issued" \
    "$OUT/$f.txt" | head -60
done
