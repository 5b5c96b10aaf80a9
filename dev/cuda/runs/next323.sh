#!/usr/bin/env bash
# Forty-third session: next322 (the extra state slices only read, as a step with a decoding
# window would) with each extra slice one bulk copy of 32 contiguous KB (PSTEP_EMU_BULK=1: a
# layout with each block's slice in one piece) instead of the tensor map's 256 rows of 128
# bytes, at E = 4 and 8, against the chain. One round.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-e0
for e in 4 8; do pstep_variant emu${e}b src/cuda/decode_persistent.cu -DPSTEP_EMU=$e -DPSTEP_EMU_STORE=0 -DPSTEP_EMU_BULK=1; done
pstep_restore
for i in 1; do
  decode_run p1 build/retnet-e0 1
  for e in 4 8; do
    decode_run emu${e}b build/retnet-emu${e}b 1
    decode_run chain$e build/retnet-e0 $e
  done
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
