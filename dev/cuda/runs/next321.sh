#!/usr/bin/env bash
# Forty-third session: what the persistent step would cost at B = 2, 4 and 8, estimated from
# the B = 1 kernel with E sequences' worth of the state's traffic and x's adds (PSTEP_EMU = E,
# timing only: the results are wrong; the products' extra columns are free in the mma's n),
# against the kernel chain, which decodes B = 2-8 today, at those batches. Two rounds.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in 2 4 8; do pstep_variant emu$e src/cuda/decode_persistent.cu -DPSTEP_EMU=$e; done
pstep_restore
for i in 1 2; do
  decode_run p1 build/retnet-e0 1
  for e in 2 4 8; do
    decode_run emu$e build/retnet-emu$e 1
    decode_run chain$e build/retnet-e0 $e
  done
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
