#!/usr/bin/env bash
# (Ran in the twenty-fifth session; the LayerNorm chain lost in every form and was reverted: see dev/cuda/README.md.)
# Why the LayerNorm chain lost at B = 1 (next173: the preset 1.190 -> 1.302 ms): the lane
# sums in float instead of double (lab: RETNET_CUDA_LN_SUMS=float) beside the chain and the
# separate launches, alternated twice; then each kernel's own time under ncu (one at a time),
# the preset at B = 1, chain / apart.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
preset_run() { # NAME BATCHES [VAR=VALUE...]: lib.sh's decode_run on the paper preset
  local name=$1 bs=$2; shift 2
  DECODE_MODEL="--preset 1.3b" decode_run "$name" build-cuda/retnet "$bs" "$@"
}
for i in 1 2; do
  preset_run "p-chain" 1
  preset_run "p-chainf" 1 RETNET_CUDA_LN_SUMS=float
  preset_run "p-apart" 1 RETNET_CUDA_LN_CHAIN=0
done
decode_table
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
prof() { # NAME [VAR=VALUE]
  local name=$1; shift
  env "$@" timeout 150 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
    --clock-control none build-cuda/retnet bench decode --preset 1.3b --device cuda \
    --batch 1 --context 64 --steps 3 --warmup 1 >"$OUT/ncu_$name.csv" 2>"$OUT/ncu_$name.err"
  echo "$name: ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu_$name.csv" "$name (B = 1, prefill of 64, 1 warm-up step, 3 steps)" 14
}
prof chain
prof apart RETNET_CUDA_LN_CHAIN=0
echo "total $((SECONDS - t0)) s"
