#!/usr/bin/env bash
# (Written at the end of the seventeenth session, not yet run.) The paper preset's training
# step by kernel, against the fla shape's: ncu's own time of each kernel (next90.sh's summary)
# over one timed step after one warm-up (B 8 x T 2048), to split next100.sh's "b headnorm"
# (29.9 against 10.1 ms: the GroupNorm backward's segment kernel on its unfused path, its
# parameter sums' pass, §3's rows backward) and §3's retention passes into kernels.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for model in "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"; do
  tag=$(echo "$model" | tr -c 'a-z0-9\n' '_')
  timeout 280 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    build-cuda/retnet bench train $model --device cuda --batch 8 --seq 2048 --steps 1 --warmup 1 \
    >"$OUT/ncu-train$tag.csv" 2>"$OUT/ncu-train$tag.err"
  echo "$model ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu-train$tag.csv" "$model (two steps: warm-up and timed)" 24
done
echo "total $((SECONDS - t0)) s"
