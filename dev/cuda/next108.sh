#!/usr/bin/env bash
# Eighteenth session: where the paper preset's training step goes after next106's changes,
# by kernel (ncu's own time of each, one warm-up step and one timed, B 8 x T 2048), beside
# the fla shape's: what separates the preset (44.0-44.3% MFU) from 45%.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
[ -x build-cuda/retnet ] || JOBS=16 cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for model in "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"; do
  tag=$(echo "$model" | tr -c 'a-z0-9\n' '_')
  timeout 200 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    build-cuda/retnet bench train $model --device cuda --batch 8 --seq 2048 --steps 1 --warmup 1 \
    >"$OUT/ncu-train$tag.csv" 2>"$OUT/ncu-train$tag.err"
  echo "$model ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu-train$tag.csv" "$model (two steps: warm-up and timed)" 30
done
echo "total $((SECONDS - t0)) s"
