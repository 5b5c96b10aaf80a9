#!/usr/bin/env bash
# Sixteenth session: where the 1.3B decoding step's time goes, by kernel (no nsys on the
# device: ncu, one metric, gpu__time_duration, clocks and caches left alone; kernels run one
# at a time under it, so PDL's overlap is gone and these are each kernel's own times), over
# `retnet bench decode` at B = 8 and 256 (context 64, 6 steps after 1), summed by kernel name.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for b in 8 256; do
  timeout 200 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch $b \
    --context 64 --steps 6 --warmup 1 >"$OUT/ncu$b.csv" 2>"$OUT/ncu$b.err"
  echo "B=$b ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu$b.csv" "B=$b (prefill of 64 tokens, 1 warm-up step, 6 steps)"
done
echo "total $((SECONDS - t0)) s"
