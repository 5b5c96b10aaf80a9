#!/usr/bin/env bash
# skinny_lab.cu's cluster form (x multicast over C blocks of neighbouring weight tiles) against
# the ring of the twenty-seventh session, and what x's share of the ring costs (the ring without
# products, with and without x), at M = 64, 32 and 8: each shape's plain read, cuBLASLt, and the
# forms alone / under programmatic launch / with the slices' sum kernel.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I src -I dev/cuda -o build/skinny_lab \
  dev/cuda/skinny_lab.cu -lcublasLt >"$OUT/skinny_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/skinny_build.log" | head -5
for m in 64 8 32; do timeout 150 build/skinny_lab $m mc >"$OUT/skinny_$m.txt" 2>&1; echo "M $m: exit $?"; grep -E "plain read|cuBLASLt [0-9]|no x|S  1 .*C 4 .*cluster: alone|C 4 S .*TMA only" "$OUT/skinny_$m.txt" | head -40; done
echo "total $((SECONDS - t0)) s"
