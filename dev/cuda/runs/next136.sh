#!/usr/bin/env bash
# (Written after the twenty-first session's GPU time was spent; not yet run.) Why the paper
# preset's B = 1 step lost with both epilogues in the state update (next134: 1.151 -> 1.157
# ms with RETNET_CUDA_HN_FUSED=1, where the fla shape gained 1.110 -> 1.089): each kernel's
# own time under ncu (one at a time, so without programmatic launch's overlap) for the preset
# with HN_FUSED 1 and 0 and the fla shape with the default and 0, context 64, 6 steps after 1:
# step_hn_kernel<..., true> against step_rows_kernel + norm_fwd_kernel, and the products
# after it (whether wo's gemv waits longer behind the cluster's barrier).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for run in "preset_hn1|--preset 1.3b|RETNET_CUDA_HN_FUSED=1" "preset_hn0|--preset 1.3b|RETNET_CUDA_HN_FUSED=0" \
           "fla_hn|--config dev/cuda/cfg-1.3b-fla.json|X=1" "fla_hn0|--config dev/cuda/cfg-1.3b-fla.json|RETNET_CUDA_HN_FUSED=0"; do
  IFS='|' read -r tag model setting <<<"$run"
  env "$setting" timeout 120 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none \
    --clock-control none build-cuda/retnet bench decode $model --device cuda --batch 1 \
    --context 64 --steps 6 --warmup 1 >"$OUT/ncu_$tag.csv" 2>"$OUT/ncu_$tag.err"
  echo "$tag: ncu exit $? at $((SECONDS - t0)) s"
  ncu_kernels "$OUT/ncu_$tag.csv" "$tag (B = 1, prefill of 64, 1 warm-up step, 6 steps)" 12
done
echo "total $((SECONDS - t0)) s"
