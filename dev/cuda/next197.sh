#!/usr/bin/env bash
# Where a decoding step's time goes in the chain as it runs (not each kernel alone, as ncu
# measures): CUPTI's kernel records (dev/cuda/trace_inject.c, injected into the unmodified
# `retnet bench decode`) of the last steps, read by dev/cuda/trace_steps.py: each kernel's
# start, duration and the gap from the kernel before, the step's span against the time some
# kernel was running. The fla shape at B = 1 and 8, the paper preset at B = 1, context 64.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet
CUPTI_SO=$(find /usr/local/cuda*/ -name 'libcupti.so' 2>/dev/null | head -1)
CUPTI_H=$(find /usr/local/cuda*/ -name 'cupti.h' 2>/dev/null | head -1)
echo "cupti: $CUPTI_SO $CUPTI_H"
mkdir -p build
gcc -O2 -shared -fPIC -I"$(dirname "$CUPTI_H")" -I/usr/local/cuda/include dev/cuda/trace_inject.c \
  -L"$(dirname "$CUPTI_SO")" -Wl,-rpath,"$(dirname "$CUPTI_SO")" -lcupti -o build/trace_inject.so
echo "inject build: exit $?"
trace() { # NAME BATCH MODEL...
  local name=$1 b=$2; shift 2
  CUDA_INJECTION64_PATH=$PWD/build/trace_inject.so TRACE_OUT=$OUT/trace_$name.csv timeout 120 \
    build-cuda/retnet bench decode "$@" --device cuda --batch $b --context 64 --steps 6 --warmup 2 \
    2>&1 | grep -E "ms|error" | head -4
  echo "== $name: $(wc -l <"$OUT/trace_$name.csv") kernels"
  python3 dev/cuda/trace_steps.py "$OUT/trace_$name.csv" 3 ${ROWS:-40} | tee "$OUT/steps_$name.txt" | head -${SHOW:-80}
}
trace b1 1 --config dev/cuda/cfg-1.3b-fla.json
trace b8 8 --config dev/cuda/cfg-1.3b-fla.json
SHOW=30 trace p1 1 --preset 1.3b
echo "total $((SECONDS - t0)) s"
