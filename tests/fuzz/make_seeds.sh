#!/usr/bin/env bash
# tests/fuzz/make_seeds.sh: (re)writes the seed corpora tests/fuzz/corpus/<target>/ with the
# library's own writers (tests/fuzz/make_seeds.c). Needs the objects of tests/fuzz/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_BUILD_ONLY=1 tests/fuzz/run.sh 0 json >/dev/null
CC=${FUZZ_CC:-clang}
$CC -std=c11 -D_GNU_SOURCE -O1 -g -fopenmp -Iinclude -Isrc -fsanitize=address,undefined \
    -fsanitize=fuzzer-no-link tests/fuzz/make_seeds.c build-fuzz/obj/*.o -lm -o build-fuzz/make_seeds
mkdir -p tests/fuzz/corpus
OMP_NUM_THREADS=1 build-fuzz/make_seeds tests/fuzz/corpus
du -sh tests/fuzz/corpus/*
