#!/usr/bin/env python3
"""Is the chunkwise kernel bound by L2 traffic or by latency? Forward times (ms) at the H8 shape
(dk 256) with fewer blocks, with and without loads after the first chunk (lab flag 1):
  full         B2 H8 dv512: 128 blocks, 8 output tiles of a head share Q, K through L2
  B1           64 blocks (half the L2 demand, same work per block)
  dv64         B2 H8 dv64: 16 blocks, one tile per head (no sharing, little L2 demand)
  H1           B2 H1 dv512: 16 blocks, 8 tiles of one head share Q, K
Per-block work is the same in every row, so equal times mean latency-bound, and a time that
falls with the number of blocks means the shared bandwidth (L2) is the limit.
  python3 dev/cuda/retention_scaling.py   (RETNET_CUDA_LIB picks the library)"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, pow2_gammas  # noqa: E402


R = Retention()
T, dk = 16384, 256
print(f"wgmma: {R.have_wgmma()}")
print(f"{'case':<10}{'blocks':>8}{'fwd ms':>10}{'no loads':>10}{'bwd ms':>10}{'no loads':>10}")
for name, B, H, dv in (('full', 2, 8, 512), ('B1', 1, 8, 512), ('dv64', 2, 8, 64),
                       ('H1', 2, 1, 512), ('dv128', 2, 8, 128)):
    torch.manual_seed(0)
    q, k = (torch.randn(B, T, H, dk, device='cuda').to(torch.bfloat16) for _ in range(2))
    v, do = (torch.randn(B, T, H, dv, device='cuda').to(torch.bfloat16) for _ in range(2))
    g = pow2_gammas(H)
    o = torch.empty_like(v)
    dq, dk_, dv_ = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    row = []
    for fl in (0, 1):
        R.set_flags(fl)
        row.append(ev(lambda: R.forward(q, k, v, g, o=o)))
    for fl in (0, 1):
        R.set_flags(fl)
        row.append(ev(lambda: R.backward(q, k, v, g, do, dq=dq, dk=dk_, dv=dv_)))
    R.set_flags(0)
    print(f"{name:<10}{B * H * dv // 64:>8}" + ''.join(f'{t:10.3f}' for t in (row[0], row[1], row[2], row[3])),
          flush=True)
