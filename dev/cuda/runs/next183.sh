#!/usr/bin/env bash
# Where the decoding step goes after next179 (one round of loads a warp): each kernel's own
# time under ncu (one at a time, cold, no programmatic overlap), context 64, 3 steps after 1
# (the prefill's pass at the same shapes counted too), summed by kernel: the fla shape at B = 1
# and 8, the paper preset at B = 1 and 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
prof() { # NAME BATCH MODEL...
  local name=$1 b=$2; shift 2
  timeout 100 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
    --clock-control none build-cuda/retnet bench decode "$@" --device cuda \
    --batch $b --context 64 --steps 3 --warmup 1 >"$OUT/ncu_$name.csv" 2>"$OUT/ncu_$name.err"
  echo "$name: ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu_$name.csv" "$name (B = $b, prefill of 64, 1 warm-up step, 3 steps)" 12
}
prof b1 1 --config dev/cuda/cfg-1.3b-fla.json
prof b8 8 --config dev/cuda/cfg-1.3b-fla.json
prof p1 1 --preset 1.3b
prof p8 8 --preset 1.3b
echo "total $((SECONDS - t0)) s"
