#!/usr/bin/env bash
# Forty-fifth session: the persistent step for two sequences (pstep_kernel<2>: the products'
# mma takes them as its columns 0 and 1, the rest of the step repeats a sequence's work; 42 KB
# stages; B = 2 without a decoding window where it runs). test_cuda_model (test_persistent,
# test_persistent2: each sequence the bits of itself decoded alone, the chain's by the rule,
# the graph's path and a late reader the same bits), test_cuda_train's decoding tests; the
# kernels' registers (RETNET_CUDA_PSTEP_DEBUG); memcheck of test_persistent2. Then the 1.3B fla
# shape, three runs alternated: B = 1 and 2 with it (p2), with RETNET_CUDA_PSTEP_B=1 (p1: the
# tree before, B = 2 by the chain with its window) and the chain everywhere.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_tests
RETNET_CUDA_PSTEP_DEBUG=1 timeout 60 build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json \
  --device cuda --batch 2 --context 64 --steps 4 --warmup 1 2>&1 | grep -E "pstep" | head -4
pstep_memcheck test_persistent2
for i in 1 2 3; do
  decode_run p2 build-cuda/retnet 1,2
  decode_run p1 build-cuda/retnet 1,2 RETNET_CUDA_PSTEP_B=1
  decode_run chain build-cuda/retnet 1,2 RETNET_CUDA_PERSISTENT=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
