#!/usr/bin/env bash
# RMSNorm carried across the decoding products again (B <= 2), now without a round trip: the
# residual's product writes xw = bf16(x w_norm) as in next148, and the next product's lanes
# sum x's squares from the fp32 x beside the xw they read (gemv_fma_kernel<MB, KS, true>),
# the row's scale applied after the sums. Two builds of the M = 1 kernel: ptxas held to 7
# blocks an SM (72 registers, 12 bytes spilled; the default) and unheld (79, 6 blocks). The
# decoding tests (test_rms_chain in test_cuda_gemv and test_cuda_model), then the fla shape
# at B = 1, 2: chain m7, chain m0, apart (RETNET_CUDA_RMS_CHAIN=0), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
mkdir -p build && cp build-cuda/retnet build/retnet-m7
decode_tests
grep -h "rms chain" "$OUT/tests.log" | head -12
touch src/cuda/gemv.cu
CUDA_GENCODE="$CUDA_GENCODE -DGEMV_RMS_MINB=0" make CUDA=1 -j16 build-cuda/retnet >"$OUT/build-m0.log" 2>&1
echo "build m0: exit $?"; cp build-cuda/retnet build/retnet-m0
for i in 1 2 3; do
  decode_run "m7" build/retnet-m7 1,2
  decode_run "m0" build/retnet-m0 1,2
  decode_run "apart" build/retnet-m7 1,2 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
