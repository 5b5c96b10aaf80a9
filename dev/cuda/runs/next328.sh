#!/usr/bin/env bash
# Forty-fourth session: next318's split (split_lab: a decoding batch as S parts side by side,
# each its own model, stream and graphs) lost 11-15% because each part's kernels fill the GPU,
# so the parts take turns instead of overlapping one's state read with the other's products.
# Here the products are asked to leave SMs free (RETNET_CUDA_LT_SMS=n: cuBLASLt's
# SM_COUNT_TARGET) and/or the two parts' graph streams get the highest and lowest priority
# (RETNET_CUDA_GSTREAM_PRIO=1: the low part fills what the high part leaves). Lab switches,
# off by default, removed after this run: commit 89bec88 has them, and runs this script as it
# was. B = 64, 128, 256; S = 1 (control) and 2; three runs of 48 steps each.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
split_lab_build
for v in base:0:0 sms66:66:0 sms40:40:0 prio:0:1 prio66:66:1 prio40:40:1 prio20:20:1; do
  IFS=: read -r name sms prio <<<"$v"
  RETNET_CUDA_LT_SMS=$sms RETNET_CUDA_GSTREAM_PRIO=$prio timeout 150 build/split_lab \
    dev/cuda/cfg-1.3b-fla.json 64,128,256 48 1 2 >"$OUT/split-$name.jsonl" 2>"$OUT/split-$name.err"
  echo "$name: exit $? at $((SECONDS - t0)) s"; tail -2 "$OUT/split-$name.err"
done
split_table $(ls -tr "$OUT"/split-*.jsonl)
echo "total $((SECONDS - t0)) s"
