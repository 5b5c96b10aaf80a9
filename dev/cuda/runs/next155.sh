#!/usr/bin/env bash
# The split-K products (next153-154, slower than cuBLASLt) with the slices chosen within one
# wave (q k v g had 288 blocks for 264 places): ncu of the B = 64 step with them on, each
# kernel's own time, then B = 64 against cuBLASLt once more.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
env RETNET_CUDA_GEMV_MAX_M=64 timeout 200 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
  --clock-control none build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda \
  --batch 64 --context 64 --steps 2 --warmup 1 >"$OUT/ncu_sk.csv" 2>"$OUT/ncu_sk.err"
echo "ncu exit $? at $((SECONDS - t0)) s"
ncu_kernels "$OUT/ncu_sk.csv" "B = 64, split K on (prefill of 64, 1 warm-up step, 2 steps)" 14
decode_run "cublas" build-cuda/retnet 64
decode_run "sk" build-cuda/retnet 64 RETNET_CUDA_GEMV_MAX_M=64
decode_table
echo "total $((SECONDS - t0)) s"
