#!/usr/bin/env bash
# Ninth session, on the last device minutes: the norms' parameters loaded before the
# programmatic-launch wait (norm_fwd_kernel: they are not written in a decoding step, so their
# load overlaps the kernel before instead of following the sums). The norm and model tests,
# then the 1.3B decoding step against HEAD before it (build/base.tar) at B = 1 and 8,
# alternated twice.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build_base
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
wait $BPID
CFG=dev/cuda/cfg-1.3b-fla.json
for r in 1 2; do
  for v in new base; do
    bin=build-cuda/retnet; [ $v = base ] && bin=/tmp/base/build-cuda/retnet
    timeout 60 $bin bench decode --config $CFG --device cuda --batch 1,8 --context 64 --steps 48 \
      --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/decode.jsonl"
  done
done
python3 - "$OUT/decode.jsonl" <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if 'ms_per_step' in r: t[(r['v'], r['batch'])].append(r['ms_per_step'])
for (v, b), x in sorted(t.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f'{v:5s} B={b:<3d} {" ".join(f"{y:.3f}" for y in x)}  min {min(x):.3f}')
PY
echo "total $((SECONDS - t0)) s"
