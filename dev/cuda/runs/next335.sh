#!/usr/bin/env bash
# Forty-fifth session: next334's two-sequence step with fewer registers spilled (the state's
# slices and updates in a loop of their own: 92 bytes spilled instead of 248) and 48 KB stages
# (the partial sums 32 rows a segment, the output layer's summed a stage at a time) instead of
# 42 KB; the 42 KB stages built beside it (PSTEP_STAGE2=43008). test_cuda_model, the decoding
# tests of test_cuda_train; memcheck of test_persistent2. Then B = 1 and 2, three runs
# alternated: p2 (this), s42 (42 KB stages), p1 (RETNET_CUDA_PSTEP_B=1: B = 2 by the chain
# with its window, as before), the chain everywhere.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_tests
pstep_memcheck test_persistent2
mkdir -p build && cp build-cuda/retnet build/retnet-p2
PSTEP_TESTS="test_persistent test_persistent2" pstep_variant s42 src/cuda/decode_persistent.cu -DPSTEP_STAGE2=43008
pstep_restore
for i in 1 2 3; do
  decode_run p2 build/retnet-p2 1,2
  decode_run s42 build/retnet-s42 1,2
  decode_run p1 build/retnet-p2 1,2 RETNET_CUDA_PSTEP_B=1
  decode_run chain build/retnet-p2 1,2 RETNET_CUDA_PERSISTENT=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
