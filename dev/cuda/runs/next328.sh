#!/usr/bin/env bash
# Forty-fourth session: next318's split (split_lab: a decoding batch as S parts side by side,
# each its own model, stream and graphs) lost 11-15% because each part's kernels fill the GPU,
# so the parts take turns instead of overlapping one's state read with the other's products.
# Here the products are asked to leave SMs free (RETNET_CUDA_LT_SMS=n: cuBLASLt's
# SM_COUNT_TARGET) and/or the two parts' graph streams get the highest and lowest priority
# (RETNET_CUDA_GSTREAM_PRIO=1: the low part fills what the high part leaves). Lab switches,
# off by default. B = 64, 128, 256; S = 1 (control) and 2; three runs of 48 steps each.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/libretnet.a build-cuda/retnet
mkdir -p build
L=$(make -s CUDA=1 --eval='print-ldlibs: ; @echo $(LDLIBS)' print-ldlibs)
gcc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -Iinclude dev/cuda/split_lab.c build-cuda/libretnet.a \
  $L -lpthread -o build/split_lab && echo "lab build: ok"
for v in base:0:0 sms66:66:0 sms40:40:0 prio:0:1 prio66:66:1 prio40:40:1 prio20:20:1; do
  IFS=: read -r name sms prio <<<"$v"
  RETNET_CUDA_LT_SMS=$sms RETNET_CUDA_GSTREAM_PRIO=$prio timeout 150 build/split_lab \
    dev/cuda/cfg-1.3b-fla.json 64,128,256 48 1 2 >"$OUT/split-$name.jsonl" 2>"$OUT/split-$name.err"
  echo "$name: exit $? at $((SECONDS - t0)) s"; tail -2 "$OUT/split-$name.err"
done
python3 - "$OUT" <<'PY'
import json, sys, glob, os, collections
for f in sorted(glob.glob(sys.argv[1] + "/split-*.jsonl"), key=os.path.getmtime):
    r = collections.defaultdict(list)
    for l in open(f):
        try: j = json.loads(l)
        except Exception: continue
        r[(j['B'], j['S'])].append(j['ms_per_step'])
    name = os.path.basename(f)[6:-6]
    for (b, s), v in sorted(r.items()):
        base = min(r.get((b, 1), [float('nan')]))
        print(f"{name:7s} B {b:4d} S {s}: " + " ".join(f"{x:.3f}" for x in v) + f"   best/S1 {min(v)/base:.3f}")
PY
echo "total $((SECONDS - t0)) s"
