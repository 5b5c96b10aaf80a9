#!/usr/bin/env bash
# Seventeenth session: where the paper's `1.3b` preset's decoding step spends the time it
# takes beyond the fla shape's (B = 256 9.25 against 8.71 ms, B = 8 1.88-1.92 against 1.64 in
# the records): next90.sh's ncu summary (each kernel's own time, one at a time) for both
# models at B = 8 and 256, context 64, 6 steps after 1.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for model in "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"; do
  for b in 8 256; do
    tag=$(echo "$model" | tr -c 'a-z0-9\n' '_')$b
    timeout 150 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
      build-cuda/retnet bench decode $model --device cuda --batch $b \
      --context 64 --steps 6 --warmup 1 >"$OUT/ncu$tag.csv" 2>"$OUT/ncu$tag.err"
    echo "$model B=$b ncu exit $? at $((SECONDS - t0)) s"
    ncu_kernels "$OUT/ncu$tag.csv" "$model B=$b (prefill of 64 tokens, 1 warm-up step, 6 steps)"
  done
done
echo "total $((SECONDS - t0)) s"
