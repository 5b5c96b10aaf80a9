#!/usr/bin/env bash
# Ninth session, second decoding call (after next31.sh: the norms inside the products lost
# again, the mma gemv won at M = 8 and lost at M <= 2): the FMA gemv kept for M <= 2, the mma
# kernel (x read through L1, no staging) from M = 3, mma for single products of <= 2^24
# weights up to M = 8 (CUDA_GEMV_SINGLE), the step kernel at 32 columns when 64 leave SMs
# idle, argmax by float4s. (1) every CUDA test and the lab's float64 checks; (2) the products
# per call against the last commit (build/base.tar); (3) 1.3B decoding against the base at
# B = 1, 8, 64, and A/Bs: RETNET_CUDA_GEMV_MMA_M=9 (FMA only) and =1 (mma only) at B = 1, 2,
# 4, 8; RETNET_CUDA_STEP_COLS=64 at B = 1.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export PYTHONUNBUFFERED=1
cuda_build_base build-cuda/cuda/tests/test_cuda_gemv
cuda_build_lab
lab_checks $RETNET_CUDA_LIB
TEST_TIMEOUT=150 cuda_tests
wait $BPID
CFG=dev/cuda/cfg-1.3b-fla.json
dec() { # dec NAME BINARY BATCHES [ENV...]: one decode bench line per batch into decode.jsonl
  local name=$1 bin=$2 bs=$3; shift 3
  env "$@" timeout 100 "$bin" bench decode --config $CFG --device cuda --batch "$bs" --context 64 \
    --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$name\", /" >>"$OUT/decode.jsonl"
}
build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-new.txt" 2>&1
/tmp/base/build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-base.txt" 2>&1
for r in 1 2; do
  dec new build-cuda/retnet 1,2,4,8,64
  dec base /tmp/base/build-cuda/retnet 1,2,4,8,64
  dec fma-only build-cuda/retnet 1,2,4,8 RETNET_CUDA_GEMV_MMA_M=9
  dec mma-only build-cuda/retnet 1,2,4,8 RETNET_CUDA_GEMV_MMA_M=1
  dec cols64 build-cuda/retnet 1 RETNET_CUDA_STEP_COLS=64
done
python3 - "$OUT/decode.jsonl" <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if 'ms_per_step' in r: t[(r['v'], r['batch'])].append(r['ms_per_step'])
print('variant    batch  ms/step (runs)           best')
for (v, b), x in sorted(t.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f'{v:9s} {b:5d}  {" ".join(f"{y:.3f}" for y in x):24s} {min(x):.3f}')
PY
for f in new base; do echo "== gemv $f"; grep -E "^(q k v|wo|fc1|fc2|logits)" "$OUT/gemv-$f.txt" | head -20; done
(cd "$OUT" && tar czf logs.tgz --remove-files $(ls | grep -v -e decode.jsonl -e logs.tgz))
echo "total $((SECONDS - t0)) s"
