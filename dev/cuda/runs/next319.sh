#!/usr/bin/env bash
# (The switch was removed after this run: level; 7f0d42c has it.)
# Forty-third session: the persistent B = 1 step's products with four dependent mma chains
# instead of two (PSTEP_CH=4: a K 2048 stage's 16 mma a warp in runs of 4, K 4096's 32 in
# runs of 8, where they were runs of 8 and 16), alone and with ZF (next317: level alone), each
# passing test_persistent in its own build first, alternated three times against the default.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_ab 3 base ch4=-DPSTEP_CH=4 "ch4zf=-DPSTEP_CH=4 -DPSTEP_ZF=1"
echo "total $((SECONDS - t0)) s"
