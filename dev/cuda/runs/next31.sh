#!/usr/bin/env bash
# RAN ON AN UNCOMMITTED TREE (2026-11-29 15:50 UTC): the norms-in-products code, the
# RETNET_CUDA_NORM_IN_GEMV / RETNET_CUDA_STEP_COLS switches and GEMV_U / GEMV_MINB it names were
# dropped after this run (dev/cuda/README.md, ninth session); kept as the record of what ran.
# Ninth session, first decoding call: the tensor-core gemv (mma.sync, K split over 8 warps,
# x staged in shared memory), the norms computed inside the decoding products
# (RETNET_CUDA_NORM_IN_GEMV), the step kernel at 32 columns when 64 leave SMs idle
# (RETNET_CUDA_STEP_COLS), KC = 64 back on the TMA kernel. (1) every CUDA test and the lab's
# float64 checks; (2) the decoding products per call (test_cuda_gemv --bench) against the
# last commit's FMA gemv (build/base.tar, built beside); (3) 1.3B decoding, this tree against
# the base at B = 1, 8, 64, and A/Bs of the two switches; (4) two more gemv variants (GEMV_U
# 8 at one block an SM, GEMV_U 4) by rebuilding gemv.o only.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
gemv_ab_start
for r in 1 2; do
  decode_run new build-cuda/retnet 1,8,64
  decode_run base /tmp/base/build-cuda/retnet 1,8,64
  decode_run nonorm build-cuda/retnet 1,8 RETNET_CUDA_NORM_IN_GEMV=0
  decode_run cols64 build-cuda/retnet 1,8 RETNET_CUDA_STEP_COLS=64
done
echo "decode A/B done at $((SECONDS - t0)) s"
for v in "u8 -DGEMV_U=8 -DGEMV_MINB=1" "u4 -DGEMV_U=4"; do
  name=${v%% *} flags=${v#* }
  rm -f build-cuda/cuda/gemv.o
  make CUDA=1 -j16 build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv \
    NVCCFLAGS="-O3 -lineinfo -std=c++17 -gencode arch=compute_90a,code=sm_90a $flags" >>"$OUT/build.log" 2>&1
  echo "variant $name: build exit $?"
  build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-$name.txt" 2>&1
  for r in 1 2; do decode_run $name build-cuda/retnet 1,8; done
done
decode_table
for f in new base u8 u4; do echo "== gemv $f"; grep -E "^(q k v|wo|fc1|fc2|logits)" "$OUT/gemv-$f.txt" | head -20; done
(cd "$OUT" && tar czf logs.tgz --remove-files $(ls | grep -v -e decode.jsonl -e logs.tgz))
echo "total $((SECONDS - t0)) s"
