#!/usr/bin/env bash
# report_smoke: `make report` at tiny sizes, end to end (bench/report.sh --smoke, about 30-60 s
# on 2 cores), so that the report's scripts cannot rot: every section measures, the writer
# fills every table, the plots are drawn (when gnuplot is there), the PyTorch peer runs (or
# the report says why not), and bench/REPORT.md and bench/report/ are left untouched.
# `make test` runs it as build/tests/test_report_smoke (a link to this file), through
# tests/run.sh, which reads the last line: "report_smoke: N passed, N failed".
set -u
cd "$(dirname "$(readlink -f "$0")")/.."
. tests/smoke.sh
fingerprint() { { cat bench/REPORT.md 2>/dev/null; ls -l --time-style=+%s bench/report 2>/dev/null; } | cksum; }

out=$(mktemp -d /tmp/retnet-report-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
before=$(fingerprint)
t0=$(date +%s)
bench/report.sh --smoke --out "$out" > "$out/log.txt" 2>&1
rc=$?
secs=$(( $(date +%s) - t0 ))
echo "bench/report.sh --smoke took $secs s"
check "bench/report.sh --smoke exits 0" test $rc -eq 0
[ $rc -ne 0 ] && tail -n 20 "$out/log.txt"
md=$out/REPORT.md
has() { grep -q -- "$2" "$1"; }
check "the report is written" test -s "$md"
check "bench/REPORT.md and bench/report/ are untouched" test "$before" = "$(fingerprint)"
for s in "## (a) Decoding" "## (b) Training" "## (c) Quality" "## (d) The same RetNet in PyTorch" \
         "## The paper's claims"; do
  check "the report has the section '$s'" has "$md" "$s"
done
check "no section says 'Not measured'" sh -c "! grep -q 'Not measured' '$md'"
check "no awk or gnuplot error in the log" sh -c "! grep -Eq 'awk:|gnuplot failed|syntax error' '$out/log.txt'"
# (a) both models at every context, the long ones reached by a jump / a fill; a batch skipped
check "decode: RetNet and Transformer at 3 contexts each" \
  test "$(grep -c '"kind":"decode"' "$out/decode.jsonl")" -eq 6
check "decode: a RetNet context reached by a jump, a Transformer one by a cache fill" \
  sh -c "grep -q '\"arch\":\"retnet\".*\"reached\":\"jump\"' '$out/decode.jsonl' &&
         grep -q '\"arch\":\"transformer\".*\"reached\":\"fill\"' '$out/decode.jsonl'"
check "decode: a batch over the memory limit is skipped and said so" \
  sh -c "grep -q '\"skipped\"' '$out/decode.jsonl' && grep -q 'skipped: ' '$md'"
check "decode: the table has a row per context" \
  test "$(grep -cE '^\| (16|64|256) \| [0-9.]+ \(' "$md")" -eq 3
# (b) four variants, three measured points each, the last point skipped by the time limit
check "train: 4 forms x 3 measured points" \
  test "$(grep -c '"tokens_per_s"' "$out/train.jsonl")" -eq 12
check "train: the point over the time limit is skipped" \
  test "$(grep -c '"skipped":"predicted' "$out/train.jsonl")" -eq 4
# (c) every config, every seed, a validation loss; mean +- spread in the table
n_cfg=$(grep -c '"kind":"config"' "$out/quality.jsonl")
check "quality: 8 configs (RetNet, Transformer, 6 ablations)" test "$n_cfg" -eq 8
check "quality: a validation loss for every config and seed" \
  test "$(grep '"kind":"result"' "$out/quality.jsonl" | grep -c '"val_loss"')" -eq $((2 * n_cfg))
check "quality: the table gives mean +- spread" has "$md" "[0-9] +- [0-9]"
# (d) measured beside ours, or skipped with the reason
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  check "peer: PyTorch training and decoding measured" \
    sh -c "test \$(grep -c '\"impl\":\"pytorch\"' '$out/peer.jsonl') -ge 4"
  check "peer: the recurrent PyTorch decoder equals its parallel form" \
    sh -c "grep '\"kind\":\"check\"' '$out/peer.jsonl' | grep -q 'within'"
else
  check "peer: the report says why it is skipped" has "$md" "Skipped"
fi
# the claims table: every claim has a row with a verdict
check "claims: rows 1 to 9 and the ablations" \
  sh -c "for i in 1 2 3 4 5 6 7 8 9 10.1 10.2 10.3 10.4 10.5; do grep -q \"^| \$i |\" '$md' || exit 1; done"
if command -v gnuplot >/dev/null; then
  for p in decode train quality; do
    check "plot $p.png is a PNG" sh -c "head -c 8 '$out/$p.png' | od -An -c | grep -q 'P   N   G'"
  done
else
  check "without gnuplot the report says so" has "$md" "gnuplot was not installed"
fi
check "finished in under 300 s" test $secs -lt 300
smoke_end report_smoke
