# dev/cuda/lib.sh: what the one-call device scripts share (`. dev/cuda/lib.sh` from the
# repository root): $OUT (the run tool's output folder), nvcc on PATH, the clock t0, the build
# and the CUDA tests, each logged to $OUT with one line per step on stdout.
set -uo pipefail
OUT=${OUT:-bench/gpu/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$SECONDS

# cuda_build [targets...]: make -k CUDA=1 -j$JOBS (default 16) into $OUT/build.log
cuda_build() {
  make -k CUDA=1 -j"${JOBS:-16}" "$@" >"$OUT/build.log" 2>&1
  echo "build: exit $? in $((SECONDS - t0)) s"
  grep -E "error" -A3 "$OUT/build.log" | head -20
}

# cuda_tests [binaries...] (default: every test): $OUT/tests.log, a line per binary, then the
# failures; each binary at most $TEST_TIMEOUT seconds (default 200)
cuda_tests() {
  local t s rc bins=("$@")
  [ ${#bins[@]} -eq 0 ] && bins=(build-cuda/cuda/tests/test_cuda_*)
  : >"$OUT/tests.log"
  for t in "${bins[@]}"; do
    s=$SECONDS
    timeout "${TEST_TIMEOUT:-200}" "$t" >>"$OUT/tests.log" 2>&1
    rc=$? # before any other expansion: $(basename) would reset $?
    echo "$(basename "$t"): exit $rc in $((SECONDS - s)) s: $(tail -n 1 "$OUT/tests.log")"
  done
  grep -h "FAIL" "$OUT/tests.log" | head -20
}
