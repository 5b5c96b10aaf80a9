#!/usr/bin/env bash
# (the kernel it traces is reverted; the record is in the README)
# Where next205's gemv_smem_kernel loses: the B = 1 step traced as it runs (next197's CUPTI
# injection), RETNET_CUDA_GEMV_SMEM=1 (fc1 | gate in it) against 0.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
CUPTI_SO=$(find /usr/local/cuda*/ -name 'libcupti.so' 2>/dev/null | head -1)
CUPTI_H=$(find /usr/local/cuda*/ -name 'cupti.h' 2>/dev/null | head -1)
mkdir -p build
gcc -O2 -shared -fPIC -I"$(dirname "$CUPTI_H")" -I/usr/local/cuda/include dev/cuda/trace_inject.c \
  -L"$(dirname "$CUPTI_SO")" -Wl,-rpath,"$(dirname "$CUPTI_SO")" -lcupti -o build/trace_inject.so
trace() { # NAME BATCH [VAR=VALUE]
  local name=$1 b=$2; shift 2
  env "$@" CUDA_INJECTION64_PATH=$PWD/build/trace_inject.so TRACE_OUT=$OUT/trace_$name.csv timeout 120 \
    build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch $b \
    --context 64 --steps 6 --warmup 2 >/dev/null 2>&1
  python3 dev/cuda/trace_steps.py "$OUT/trace_$name.csv" 3 16 >"$OUT/steps_$name.txt"
  echo "== $name"; sed -n '/^over/,$p' "$OUT/steps_$name.txt"; sed -n 1,16p "$OUT/steps_$name.txt"
}
trace b1-smem 1
trace b1-off 1 RETNET_CUDA_GEMV_SMEM=0
echo "total $((SECONDS - t0)) s"
