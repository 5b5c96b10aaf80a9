#!/usr/bin/env bash
# The retention forward's time for several commits' kernels on one GPU (a regression hunt):
#   REVS="cd76d1b 4428d54 HEAD" OUT=... dev/cuda/bisect_fwd.sh
# Builds each commit's src/cuda/retention.cu (sm_90a only) in parallel, then times the forward
# (and backward) at the benchmark's H8 and H16 shapes with each library, in turn, twice.
cd "$(dirname "$0")/../.."
export PATH=/usr/local/cuda/bin:$PATH
OUT=${OUT:-build/bisect}; mkdir -p "$OUT"
for r in $REVS; do
  d=/tmp/rev/$r; mkdir -p "$d"
  git show "$r:src/cuda/retention.cu" >"$d/retention.cu" && git show "$r:src/cuda/retention.h" >"$d/retention.h"
  (SRC=$d/retention.cu GENCODE="-gencode arch=compute_90a,code=sm_90a" dev/cuda/build.sh "$d/lib" >"$OUT/build-$r.log" 2>&1; echo "built $r: $?") &
done
wait
for pass in 1 2; do
  for r in $REVS; do
    RETNET_CUDA_LIB=/tmp/rev/$r/lib/libretention_cuda.so python3 - "$r" <<'PY'
import os, sys
sys.path.insert(0, 'dev/cuda')
import torch
from retention_ctypes import Retention, ev, inputs
R = Retention()
row = [sys.argv[1]]
for (B, T, H, dk, dv) in ((16, 2048, 8, 256, 512), (16, 2048, 16, 128, 256), (8, 2048, 8, 256, 512)):
    q, k, v, do, gam = inputs(B, T, H, dk, dv, seed=1)
    o = torch.empty(B, T, H, dv, device='cuda', dtype=torch.bfloat16)
    g = [torch.empty_like(x) for x in (q, k, v)]
    row.append('%.3f' % ev(lambda: R.forward(q, k, v, gam, o=o), reps=15, warm=3))
    row.append('%.3f' % ev(lambda: R.backward(q, k, v, gam, do, dq=g[0], dk=g[1], dv=g[2]), reps=9, warm=2))
print('rev %-8s H8 fwd %s bwd %s | H16 fwd %s bwd %s | 1.3B-layer fwd %s bwd %s' % tuple(row))
PY
  done
done
