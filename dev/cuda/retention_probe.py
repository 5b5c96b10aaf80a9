#!/usr/bin/env python3
"""Where the chunkwise kernel's time goes: ablation timings (retention_cuda_lab_set_flags; the
results of an ablated run are wrong, only its time matters) at the benchmark's shapes.
  python3 dev/cuda/retention_probe.py          ablation table
  python3 dev/cuda/retention_probe.py --one    one forward + one backward (for ncu)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, inputs  # noqa: E402

R = Retention()


if '--one' in sys.argv:
    q, k, v, do, g = inputs(2, 16384, 8, 256, 512)
    o = R.forward(q, k, v, g)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    R.backward(q, k, v, g, do, dq=dq, dk=dk, dv=dv)
    torch.cuda.synchronize()
    sys.exit(0)

if R.have_wgmma():  # the wgmma kernel has no "no phase-1 products" switch (flag 2)
    FLAGS = [(0, 'full'), (1, 'no loads'), (4, 'no state mma'), (8, 'no O store'),
             (12, 'no state mma, no O store'), (13, 'no loads/state/store')]
    print('path: wgmma (Hopper kernel)')
else:
    FLAGS = [(0, 'full'), (1, 'no loads'), (2, 'no phase-1 mma'), (4, 'no state mma'),
             (8, 'no O store'), (6, 'no mma (loads, smem, barriers)'), (7, 'no loads, no mma'),
             (15, 'skeleton only')]
print(f"{'shape':<28}" + ''.join(f'{n[:14]:>15}' for _, n in FLAGS))
for name, B, T, H, dk, dv in (('A fwd B2 T16k', 2, 16384, 8, 256, 512),
                              ('A fwd B16 T2k', 16, 2048, 8, 256, 512),
                              ('B fwd B16 T2k', 16, 2048, 16, 128, 256)):
    q, k, v, do, g = inputs(B, T, H, dk, dv)
    o = torch.empty_like(v)
    dq, dk_, dv_ = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    row_f, row_b = [], []
    for fl, _ in FLAGS:
        R.set_flags(fl)
        row_f.append(ev(lambda: R.forward(q, k, v, g, o=o)))
        row_b.append(ev(lambda: R.backward(q, k, v, g, do, dq=dq, dk=dk_, dv=dv_)))
    R.set_flags(0)
    print(f"{name:<28}" + ''.join(f'{t:15.3f}' for t in row_f), flush=True)
    print(f"{name.replace('fwd', 'bwd'):<28}" + ''.join(f'{t:15.3f}' for t in row_b), flush=True)
    del q, k, v, do, o, dq, dk_, dv_
    torch.cuda.empty_cache()
