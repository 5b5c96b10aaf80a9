#!/usr/bin/env bash
# Why the RMSNorm chain lost 12-13% at B = 2 (next165, next167) and where B = 1's step goes
# now: each kernel's own time under ncu (one at a time, no programmatic overlap), the fla
# shape at context 64, 3 steps after 1, summed by kernel. B = 2 on build/base.tar (e56c628:
# the chain at 1-2 rows), chain on / off (RETNET_CUDA_RMS_CHAIN=0); B = 1 on this tree.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet
wait $BPID
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
prof() { # NAME BIN BATCH [VAR=VALUE]
  local name=$1 bin=$2 b=$3; shift 3
  env "$@" timeout 150 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
    --clock-control none "$bin" bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda \
    --batch $b --context 64 --steps 3 --warmup 1 >"$OUT/ncu_$name.csv" 2>"$OUT/ncu_$name.err"
  echo "$name: ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu_$name.csv" "$name (B = $b, prefill of 64, 1 warm-up step, 3 steps)" 14
}
prof b2chain $BASE/build-cuda/retnet 2
prof b2apart $BASE/build-cuda/retnet 2 RETNET_CUDA_RMS_CHAIN=0
prof b1 build-cuda/retnet 1
echo "total $((SECONDS - t0)) s"
