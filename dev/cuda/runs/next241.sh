#!/usr/bin/env bash
# Thirty-third session, call 5: issue 6 a's record on 3beaf2c's retention kernels (the next
# chunk's loads sent by warpgroup 1): the library built on the device for sm_80 and sm_90a,
# the lab's 251 checks against float64, then bench/gpu/retention_bench.py against fla's
# chunk_retention and PyTorch SDPA in one process (the Triton cache carried as build/tcache.tgz).
cd "$(dirname "$0")/../../.." && rm -rf build/ret-cuda
GENCODE="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a" \
LIBS=build/ret-cuda PROBE=0 BENCH_HARD=${BENCH_HARD:-250} bash dev/cuda/device_run.sh
