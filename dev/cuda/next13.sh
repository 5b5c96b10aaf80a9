#!/usr/bin/env bash
# Sixth session: decoding's norms folded into the gemv products (RETNET_CUDA_FOLD=0: off), the
# gemv's L2 bulk prefetch of its rows (RETNET_CUDA_GEMV_PREFETCH=0: off), lab U = 8
# (RETNET_CUDA_GEMV_U=8). Build; test_cuda_gemv (test_norm_fold: the fold against the norm op
# then the products, bit for bit, with and without PDL), test_cuda_model, test_cuda_retention,
# test_cuda_train's test_graphs; the 1.3B decoding step under four settings alternated twice;
# then, if every test passed, bench/gpu/e2e.sh --only decode,peers (the records).
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention
timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs >>"$OUT/tests.log" 2>&1
echo "test_graphs: exit $?: $(tail -n 1 "$OUT/tests.log")"
R=build-cuda/retnet CFG=dev/cuda/cfg-1.3b-fla.json
for i in 1 2; do
  for S in "0 0 4" "0 1 4" "1 1 4" "1 1 8"; do
    set -- $S
    RETNET_CUDA_FOLD=$1 RETNET_CUDA_GEMV_PREFETCH=$2 RETNET_CUDA_GEMV_U=$3 timeout 90 $R bench decode \
      --config $CFG --device cuda --batch 1,8,64 --context 64 --steps 48 --warmup 4 --json 2>/dev/null |
      sed "s/^{/{\"setting\": \"fold $1 prefetch $2 U $3\", /" >>"$OUT/decode-ab.jsonl"
  done
done
python3 - "$OUT/decode-ab.jsonl" <<'PY'
import json, sys
rows = {}
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") == "decode": rows.setdefault((r["setting"], r["batch"]), []).append(r["ms_per_step"])
for k in sorted(rows): print(k[0], "B", k[1], rows[k], "ms")
PY
echo "A/B done at $((SECONDS - t0)) s"
if grep -q "FAIL\|[1-9][0-9]* failed" "$OUT/tests.log"; then echo "a test failed: no records"; exit 1; fi
E2E_FLA_DECODE=0 bash bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-stdout.log" 2>&1
echo "e2e: exit $? at $((SECONDS - t0)) s"
sed -n '/^| context/,/^$/p' "$OUT/e2e-h200.md" | cut -c1-200
