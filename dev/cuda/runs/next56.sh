#!/usr/bin/env bash
# Twelfth session (not committed: the tree had the narrow shape in retention.cu, dropped after
# this run): the decoding step with 32 columns a block (32 row groups, hinted: twice the
# blocks, 128 at B = 1 on 132 SMs) for small states (RETNET_CUDA_STEP_RG=n32) against the 64
# columns and 16 row groups they take; test_cuda_retention with each shape forced, then the
# 1.3B step at B = 1, 2, 4, 8 both ways.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention
for f in n32 16 32; do
  RETNET_CUDA_STEP_RG=$f timeout 100 build-cuda/cuda/tests/test_cuda_retention >"$OUT/ret-$f.log" 2>&1
  echo "test_cuda_retention RETNET_CUDA_STEP_RG=$f: exit $?: $(tail -n 1 "$OUT/ret-$f.log")"
done
decode_ab RETNET_CUDA_STEP_RG "16 n32" 1,2,4,8
echo "total $((SECONDS - t0)) s"
