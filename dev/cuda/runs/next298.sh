#!/usr/bin/env bash
# Fortieth session: the final tree (x in two copies in the persistent step, checked by next297)
# built as users and CI build it: build-cuda removed, `make CUDA=1` at the Makefile's default
# gencodes (sm_80, sm_90, sm_90a, compute_90 PTX), then every CUDA test, and memcheck of the
# persistent step's test (with its late reader) on that build. The last clean build with the
# default gencodes ran in next88.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
unset CUDA_GENCODE
JOBS=16 clean_tests 200
grep -hE "persistent" "$OUT/tests.log" | head -8
pstep_memcheck
cuobjdump --list-elf build-cuda/retnet 2>/dev/null | sed 's/.*\.\(sm_[0-9a]*\)\..*/\1/' | sort | uniq -c
echo "total $((SECONDS - t0)) s"
