#!/usr/bin/env bash
# Where the B = 8 and B = 64 steps go now (the fla shape, context 64): each kernel's own time
# under ncu (one at a time: without programmatic launch's overlap), 3 steps after 1, summed by
# kernel; then the step itself at both batches for scale.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for b in 64 8; do
  timeout 200 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
    --clock-control none build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda \
    --batch $b --context 64 --steps 3 --warmup 1 >"$OUT/ncu_b$b.csv" 2>"$OUT/ncu_b$b.err"
  echo "B $b: ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu_b$b.csv" "B = $b (prefill of 64, 1 warm-up step, 3 steps)" 16
done
decode_run "head" build-cuda/retnet 8,64
decode_runs
echo "total $((SECONDS - t0)) s"
