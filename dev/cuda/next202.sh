#!/usr/bin/env bash
# (runs on the branch wip-rms-partials, not merged: slower; see README, twenty-eighth session)
# (branch wip-rms-partials) Why next200's producer-partials RMS chain at 3-8 rows lost 4-5%:
# the step traced as it runs (next197's CUPTI injection) at B = 8 and 4, the chain on and off
# (RETNET_CUDA_RMS_CHAIN=0), per kernel name: count, mean duration, mean gap.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
CUPTI_SO=$(find /usr/local/cuda*/ -name 'libcupti.so' 2>/dev/null | head -1)
CUPTI_H=$(find /usr/local/cuda*/ -name 'cupti.h' 2>/dev/null | head -1)
mkdir -p build
gcc -O2 -shared -fPIC -I"$(dirname "$CUPTI_H")" -I/usr/local/cuda/include dev/cuda/trace_inject.c \
  -L"$(dirname "$CUPTI_SO")" -Wl,-rpath,"$(dirname "$CUPTI_SO")" -lcupti -o build/trace_inject.so
echo "inject build: exit $?"
trace() { # NAME BATCH [VAR=VALUE]
  local name=$1 b=$2; shift 2
  env "$@" CUDA_INJECTION64_PATH=$PWD/build/trace_inject.so TRACE_OUT=$OUT/trace_$name.csv timeout 120 \
    build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch $b \
    --context 64 --steps 6 --warmup 2 2>&1 | grep -E "ms|error" | head -4
  python3 dev/cuda/trace_steps.py "$OUT/trace_$name.csv" 3 ${ROWS:-16} >"$OUT/steps_$name.txt"
  echo "== $name"; sed -n '/^over/,$p' "$OUT/steps_$name.txt"
  sed -n 1,18p "$OUT/steps_$name.txt"
}
trace b8-on 8
trace b8-off 8 RETNET_CUDA_RMS_CHAIN=0
trace b4-on 4
trace b4-off 4 RETNET_CUDA_RMS_CHAIN=0
echo "total $((SECONDS - t0)) s"
