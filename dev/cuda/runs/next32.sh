#!/usr/bin/env bash
# Ninth session, second decoding call (after next31.sh: the norms inside the products lost
# again, the mma gemv won at M = 8 and lost at M <= 2): the FMA gemv kept for M <= 2, the mma
# kernel (x read through L1, no staging) from M = 3, mma for single products of <= 2^24
# weights up to M = 8 (CUDA_GEMV_SINGLE), the step kernel at 32 columns when 64 leave SMs
# idle, argmax by float4s. (1) every CUDA test and the lab's float64 checks; (2) the products
# per call against the last commit (build/base.tar); (3) 1.3B decoding against the base at
# B = 1, 8, 64, and A/Bs: RETNET_CUDA_GEMV_MMA_M=9 (FMA only) and =1 (mma only) at B = 1, 2,
# 4, 8; RETNET_CUDA_STEP_COLS=64 at B = 1.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
gemv_ab_start
for r in 1 2; do
  decode_run new build-cuda/retnet 1,2,4,8,64
  decode_run base /tmp/base/build-cuda/retnet 1,2,4,8,64
  decode_run fma-only build-cuda/retnet 1,2,4,8 RETNET_CUDA_GEMV_MMA_M=9
  decode_run mma-only build-cuda/retnet 1,2,4,8 RETNET_CUDA_GEMV_MMA_M=1
  decode_run cols64 build-cuda/retnet 1 RETNET_CUDA_STEP_COLS=64
done
decode_table
for f in new base; do echo "== gemv $f"; grep -E "^(q k v|wo|fc1|fc2|logits)" "$OUT/gemv-$f.txt" | head -20; done
(cd "$OUT" && tar czf logs.tgz --remove-files $(ls | grep -v -e decode.jsonl -e logs.tgz))
echo "total $((SECONDS - t0)) s"
