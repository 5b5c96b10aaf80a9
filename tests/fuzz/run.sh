#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]: builds the libFuzzer harnesses of tests/fuzz/ with
# clang (-fsanitize=fuzzer,address,undefined) against the library's sources, into build-fuzz/,
# then runs each target for SECONDS (default 60) on one core, from the seeds in
# tests/fuzz/corpus/<target>/ plus what earlier runs found (build-fuzz/corpus/<target>/).
# Crashes, leaks, UB, timeouts and out-of-memory inputs land in build-fuzz/artifacts/; the
# script exits non-zero if any target found one. Not part of `make test`.
#
#   FUZZ_CC=clang-14     the compiler (default clang)
#   FUZZ_ARCH=...        target flags (default -march=native, as the Makefile)
#   FUZZ_ARGS="..."      extra libFuzzer flags (e.g. -jobs=2 -workers=2 on an idle machine)
#   FUZZ_BUILD_ONLY=1    build, do not run
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_EACH=${1:-60}
shift || true
ALL="json safetensors checkpoint config tokenizer_hf tokenizer_bpe train_state state_file data"
TARGETS=${*:-$ALL}
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer ${FUZZ_ARCH:--march=native}
        -fopenmp -Iinclude -Isrc -Wall -Wextra
        -Wno-unused-parameter -Wno-missing-field-initializers
        -fsanitize=address,undefined -fno-sanitize-recover=undefined"

mkdir -p "$OUT/obj" "$OUT/artifacts"
# The library without BLAS (the plain C matmul): nothing to link but libm and OpenMP.
OBJS=()
for src in src/*.c src/ops/*.c; do
    obj="$OUT/obj/$(echo "${src%.c}" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
       [ -n "$(find src include -newer "$obj" -name '*.h' | head -1)" ]; then
        echo "cc $src"
        $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
    OBJS+=("$obj")
done
for t in $TARGETS; do
    bin="$OUT/fuzz_$t"
    if [ ! -f "$bin" ] || [ -n "$(find src include tests/fuzz -newer "$bin" -name '*.[ch]' | head -1)" ]; then
        echo "link $bin"
        $CC $CFLAGS -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "${OBJS[@]}" -lm -o "$bin"
    fi
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in $TARGETS; do
    mkdir -p "$OUT/corpus/$t"
    dict=()
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
    echo "== fuzz_$t for ${SECONDS_EACH}s"
    # -timeout: an input that takes 10 s is a hang; -malloc_limit_mb: one allocation of more
    # than 512 MB from an input of at most 64 KB is unbounded memory use.
    if ! "$OUT/fuzz_$t" "$OUT/corpus/$t" "tests/fuzz/corpus/$t" "${dict[@]}" \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -report_slow_units=1 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t-" ${FUZZ_ARGS:-} 2>"$OUT/fuzz_$t.log"; then
        failed+=("$t")
        echo "   FOUND A PROBLEM: see $OUT/fuzz_$t.log and $OUT/artifacts/$t-*"
    fi
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$OUT/fuzz_$t.log" | sed 's/^/   /' || true
    grep -E 'cov: [0-9]+' "$OUT/fuzz_$t.log" | tail -1 | sed 's/^/   last: /' || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: problems in ${failed[*]}"
    exit 1
fi
echo "fuzz: no problem found in $TARGETS (${SECONDS_EACH}s each)"
