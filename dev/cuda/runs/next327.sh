#!/usr/bin/env bash
# Written in the forty-third session after its GPU time was spent (not yet run). next321-323
# estimated a persistent step for B = E from the B = 1 kernel given E sequences' worth of two
# things at once: E - 1 more state slices a layer through the ring, and E - 1 more adds to each
# of down's 2048 rows (7 x 262k int64 red.adds a layer at E = 8). They did not separate the
# two. Here 00e0d7d's kernel (the switches PSTEP_EMU, _STORE, _BULK) is built with two more,
# made by sed: PSTEP_EMU_SLICES=0 (no extra slices) and PSTEP_EMU_ADDS=0 (no extra adds), at
# E = 8 with the slices only read. Each variant passes test_persistent first (the extra work
# leaves the results unchanged); two rounds against the default and the chain at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
mkdir -p build
git show 00e0d7d:src/cuda/decode_persistent.cu |
  sed -e 's/case 4: return seg_t{nullptr, EMU,/case 4: return seg_t{nullptr, PSTEP_EMU_SLICES ? EMU : 1,/' \
      -e 's/for (int e = 1; e < EMU; e++) x_add/for (int e = 1; e < (PSTEP_EMU_ADDS ? EMU : 1); e++) x_add/' \
      -e 's/^constexpr int EMU = PSTEP_EMU;/#ifndef PSTEP_EMU_SLICES\n#define PSTEP_EMU_SLICES 1\n#endif\n#ifndef PSTEP_EMU_ADDS\n#define PSTEP_EMU_ADDS 1\n#endif\nconstexpr int EMU = PSTEP_EMU;/' \
      >build/pstep_emu.cu
grep -c "PSTEP_EMU_SLICES\|PSTEP_EMU_ADDS" build/pstep_emu.cu
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
cp build-cuda/retnet build/retnet-e0
pstep_variant both build/pstep_emu.cu -DPSTEP_EMU=8 -DPSTEP_EMU_STORE=0
pstep_variant slices build/pstep_emu.cu -DPSTEP_EMU=8 -DPSTEP_EMU_STORE=0 -DPSTEP_EMU_ADDS=0
pstep_variant adds build/pstep_emu.cu -DPSTEP_EMU=8 -DPSTEP_EMU_STORE=0 -DPSTEP_EMU_SLICES=0
pstep_restore
for i in 1 2; do
  decode_run p1 build/retnet-e0 1
  for v in both slices adds; do decode_run e8$v build/retnet-$v 1; done
  decode_run chain8 build/retnet-e0 8
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
