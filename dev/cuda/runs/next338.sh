#!/usr/bin/env bash
# Forty-fifth session: the persistent step's stages in flight re-measured on next335's kernel
# (3 of 4, PSTEP_INFLIGHT=3, against the default 2), B = 1 and 2, three runs alternated; and
# the kernel's SASS (cuobjdump) into $OUT for reading here.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
mkdir -p build && cp build-cuda/retnet build/retnet-inf2
cuobjdump -sass build-cuda/src/cuda/decode_persistent.o > "$OUT/pstep.sass" 2>&1; echo "sass: exit $? $(wc -l < "$OUT/pstep.sass") lines"
PSTEP_TESTS="test_persistent test_persistent2" pstep_variant inf3 src/cuda/decode_persistent.cu -DPSTEP_INFLIGHT=3
pstep_restore
for i in 1 2 3; do
  decode_run inf2 build/retnet-inf2 1,2
  decode_run inf3 build/retnet-inf3 1,2
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
