#!/usr/bin/env bash
# Runs every test binary of the given build directories (default: build) from the repository
# root and ends with the suite's one summary line, "N passed, N failed". A binary that
# crashes or exits non-zero without reporting counts as one failed test. TEST_WRAPPER, if set,
# is the command each binary runs under (make memcheck-cuda: compute-sanitizer).
set -u
cd "$(dirname "$0")/.."
dirs=("$@")
[ ${#dirs[@]} -eq 0 ] && dirs=(build)
passed=0 failed=0
for dir in "${dirs[@]}"; do
  for bin in "$dir"/tests/test_*; do
    case "$bin" in *.*) continue ;; esac
    [ -x "$bin" ] || continue
    echo "== $bin"
    out=$(${TEST_WRAPPER:-} "$bin" 2>&1); rc=$?
    echo "$out" | grep -vE '^ok ' | sed 's/^/   /'
    line=$(echo "$out" | grep -E '[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$line" ]; then
      p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed$/\1/')
      f=$(echo "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed$/\2/')
      passed=$((passed + p)); failed=$((failed + f))
      [ $rc -ne 0 ] && [ "$f" -eq 0 ] && { echo "   exit status $rc"; failed=$((failed + 1)); }
    else
      echo "   no summary line (exit status $rc): counted as one failure"
      failed=$((failed + 1))
    fi
  done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
