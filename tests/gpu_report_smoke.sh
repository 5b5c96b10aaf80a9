#!/usr/bin/env bash
# gpu_report_smoke: the GPU benchmarks' report writer (bench/gpu/e2e.sh --report) on the raw
# data committed from the H200 runs, so that it cannot rot on machines without a GPU: the
# training and decoding tables are written, the same-run ratios are those of the raw data
# (recomputed here from the JSON lines), refusals are named, and a malformed line is skipped
# rather than fatal. `make test` runs it as build/tests/test_gpu_report_smoke (a link to this
# file) through tests/run.sh, which reads the last line: "gpu_report_smoke: N passed, N failed".
set -u
cd "$(dirname "$(readlink -f "$0")")/.."
. tests/smoke.sh
out=$(mktemp -d /tmp/retnet-gpu-report.XXXXXX)
trap 'rm -rf "$out"' EXIT
raw=bench/gpu/e2e-h200.jsonl
bash bench/gpu/e2e.sh --report "$raw" >"$out/md" 2>"$out/err"
check "e2e.sh --report exits 0" test $? -eq 0
md=$out/md
has() { grep -q -- "$2" "$1"; }
check "training table" has "$md" "| 2048 | 8 | ours |"
check "decoding table" has "$md" "| context | batch | ours ms/step"
check "a refused configuration is named" has "$md" "refused: ENOMEM"
check "SDPA that does not fit says so" has "$md" "does not fit"
# the ratios in the report are the raw data's (python3 without numpy: json only)
want=$(python3 - "$raw" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith('{')]
tr = {(r['impl'], r['seq']): r['tokens_per_s'] for r in rows
      if r.get('bench') == 'train' and 'tokens_per_s' in r}
print(f"{tr[('retnet', 2048)] / tr[('fla', 2048)]:.2f}x")
PY
)
check "the training ratio is the raw data's ($want)" has "$md" "T = 2048: ours/fla tokens/s $want"
# a broken line (a run cut off mid-write) does not stop the report
{ cat "$raw"; echo '{"bench": "decode", "impl": "retnet", "context": 2048, "bat'; } >"$out/cut.jsonl"
bash bench/gpu/e2e.sh --report "$out/cut.jsonl" >"$out/md2" 2>/dev/null
check "a truncated last line is skipped" sh -c "cmp -s '$md' '$out/md2'"
if command -v gnuplot >/dev/null; then
  bash bench/gpu/e2e_plot.sh "$raw" "$out/d.png" >/dev/null 2>&1
  check "e2e_plot.sh draws a PNG" sh -c "head -c 8 '$out/d.png' | od -An -c | grep -q 'P   N   G'"
fi
smoke_end gpu_report_smoke
