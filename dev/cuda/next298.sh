#!/usr/bin/env bash
# Fortieth session: the final tree (x in two copies in the persistent step, checked by next297)
# built as users and CI build it: build-cuda removed, `make CUDA=1` at the Makefile's default
# gencodes (sm_80, sm_90, sm_90a, compute_90 PTX), then every CUDA test, and memcheck of the
# persistent step's test (with its late reader) on that build. The last clean build with the
# default gencodes ran in next88.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
unset CUDA_GENCODE
JOBS=16 clean_tests 200
grep -hE "persistent" "$OUT/tests.log" | head -8
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 100 "$CS" --tool memcheck --print-limit 20 build-cuda/cuda/tests/test_cuda_model test_persistent \
  >"$OUT/cs-memcheck.log" 2>&1
echo "memcheck: exit $?"; grep -E "ERROR SUMMARY|passed|Invalid" "$OUT/cs-memcheck.log" | head -10
cuobjdump --list-elf build-cuda/retnet 2>/dev/null | sed 's/.*\.\(sm_[0-9a]*\)\..*/\1/' | sort | uniq -c
echo "total $((SECONDS - t0)) s"
