#!/usr/bin/env python3
"""Why the H8 forward is slower per chunk at T = 2k than at 4k and 16k. The tile is fixed at
64 columns, so a block is one (b, h, 64 columns) and walks T / 64 chunks; a chunk-time is the
forward's time over (waves x chunks a block), waves = ceil(blocks / SMs). Each case with the
loads (lab flag 0) and without the loads after the first chunk (flag 1: wrong results, timing
only), so that a difference that goes away without loads is the loads'.
  python3 dev/cuda/fwd_waves.py   (RETNET_CUDA_LIB picks the library)"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, pow2_gammas  # noqa: E402

R = Retention()
SMS = torch.cuda.get_device_properties(0).multi_processor_count
H, dk, dv = 8, 256, 512
print(f"{'B':>3}{'T':>7}{'blocks':>8}{'waves':>6}{'chunks':>7}{'ms':>9}{'us/chunk-time':>15}"
      f"{'no loads ms':>13}{'us/chunk-time':>15}")
for B, T in ((16, 2048), (2, 2048), (8, 4096), (4, 8192), (2, 16384), (32, 1024), (64, 512)):
    torch.manual_seed(0)
    q, k = (torch.randn(B, T, H, dk, device='cuda').to(torch.bfloat16) for _ in range(2))
    v = torch.randn(B, T, H, dv, device='cuda').to(torch.bfloat16)
    g = pow2_gammas(H)
    o = torch.empty_like(v)
    blocks = B * H * dv // 64
    waves = math.ceil(blocks / SMS)
    chunks = T // 64
    R.set_tile(64)
    row = []
    for fl in (0, 1):
        R.set_flags(fl)
        row.append(ev(lambda: R.forward(q, k, v, g, o=o), reps=21, warm=3))
    R.set_flags(0)
    R.set_tile(0)
    ct = [t * 1e3 / (waves * chunks) for t in row]
    print(f"{B:3d}{T:7d}{blocks:8d}{waves:6d}{chunks:7d}{row[0]:9.3f}{ct[0]:15.3f}{row[1]:13.3f}"
          f"{ct[1]:15.3f}", flush=True)
