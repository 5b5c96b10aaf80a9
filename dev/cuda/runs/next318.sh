#!/usr/bin/env bash
# Forty-third session: split_lab (dev/cuda/split_lab.c), the upper bound of splitting a
# decoding batch into S parts whose steps run side by side on their own streams (one part's
# state read beside another's weight products; the weights read S times): B = 64, 128, 256,
# S = 1 (the control: the library's step), 2 and 4, three runs each of 48 greedy steps.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/libretnet.a build-cuda/retnet
mkdir -p build
L=$(make -s CUDA=1 --eval='print-ldlibs: ; @echo $(LDLIBS)' print-ldlibs)
gcc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -Iinclude dev/cuda/split_lab.c build-cuda/libretnet.a \
  $L -lpthread -o build/split_lab && echo "lab build: ok"
timeout 400 build/split_lab dev/cuda/cfg-1.3b-fla.json 64,128,256 48 1 2 4 >"$OUT/split.jsonl" 2>"$OUT/split.err"
echo "split_lab: exit $?"; tail -3 "$OUT/split.err"
python3 - "$OUT/split.jsonl" <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: j = json.loads(l)
    except Exception: continue
    r[(j['B'], j['S'])].append(j['ms_per_step'])
for (b, s), v in sorted(r.items()):
    base = min(r.get((b, 1), [float('nan')]))
    print(f"B {b:4d} S {s}: " + " ".join(f"{x:.3f}" for x in v) + f"   best/S1 {min(v)/base:.3f}")
PY
echo "total $((SECONDS - t0)) s"
