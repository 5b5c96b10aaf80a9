#!/bin/sh
# Builds src/cuda/retention.cu into a shared library for the kernel lab and the GPU benchmark
# (ctypes-loadable; the kernels are the promoted ones, behind src/cuda/retention.h).
#   dev/cuda/build.sh [OUTDIR]      (default build/ret-cuda; writes libretention_cuda.so and
#                                    ptxas.txt, the registers / shared memory / spills report)
#   SRC=other.cu dev/cuda/build.sh build/ret-other    (another version, e.g. one from git history)
#   NVCC_EXTRA=-DRET_WGC_MINB=2 dev/cuda/build.sh build/ret-x    (extra nvcc flags: lab macros)
# Targets: sm_80 and sm_90 machine code, plus compute_90 PTX for newer GPUs.
set -e
cd "$(dirname "$0")/../.."
out=${1:-build/ret-cuda}
src=${SRC:-src/cuda/retention.cu}
mkdir -p "$out"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
"$NVCC" --version | tail -1
"$NVCC" -O3 -std=c++17 ${NVCC_EXTRA:-} -Xcompiler -fPIC -shared -lineinfo --threads 0 -Xptxas -v \
    ${GENCODE:--gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a} \
    -gencode arch=compute_90,code=compute_90 \
    -o "$out/libretention_cuda.so" "$src" 2>"$out/ptxas.txt" ||
    { cat "$out/ptxas.txt"; exit 1; }
# one line per kernel and target: name, registers, spills
awk '/Compiling entry function/ {k = $7 " " $9} /spill stores/ {sp = $5} \
     /Used [0-9]+ registers/ {print k ":", $5, "registers,", sp, "bytes spilled"}' \
    "$out/ptxas.txt" | tr -d "'" || true
echo "built $out/libretention_cuda.so"
