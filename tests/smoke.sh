# smoke.sh: what the shell smoke tests share, sourced after their `cd` to the repository root.
# check DESCRIPTION COMMAND...: a pass when the command succeeds, else a failure (quietly);
# smoke_end NAME: the summary line tests/run.sh reads ("NAME: N passed, N failed"), and the
# exit status.
passed=0 failed=0
check() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok $what"; passed=$((passed + 1))
  else echo "FAIL $what"; failed=$((failed + 1)); fi
}
smoke_end() {
  echo "$1: $passed passed, $failed failed"
  [ $failed -eq 0 ]
}
