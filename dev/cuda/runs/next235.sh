#!/usr/bin/env bash
# Thirty-second session, call 7: issue 6 a's record on fbbdd9b's retention kernels (the state
# zeroed apart): the library built on the device, the lab's checks against float64, then
# bench/gpu/retention_bench.py against fla's chunk_retention and PyTorch SDPA in one process
# (next225.sh's call; the Triton cache of next234 carried as build/tcache.tgz).
cd "$(dirname "$0")/../../.."
GENCODE="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a" \
LIBS=build/ret-cuda PROBE=0 BENCH_HARD=${BENCH_HARD:-250} bash dev/cuda/device_run.sh
