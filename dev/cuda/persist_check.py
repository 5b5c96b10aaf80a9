#!/usr/bin/env python3
"""The TMA kernel's persistent grid (wg_kernel<..., PER>: a block walks several (b, h, tile)
items) against its plain grid (lab flag 4096: a block an item), bit for bit: each item's
arithmetic is the same, so o, the final state and every gradient must be the same bits.
Shapes with more items than fit on the GPU at once (else the plain grid runs either way): the
benchmark's, a partial last chunk, a head count that makes consecutive items change head, an
initial state, the final state, and the backward (its passes in turn, lab flag 256, so that each
is persistent; beside each other they keep the plain grid).
  python3 dev/cuda/persist_check.py   (RETNET_CUDA_LIB picks the library; exit 1 on a difference)"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, inputs  # noqa: E402

R = Retention()
bad = 0
for B, T, H, dk, dv in ((16, 2048, 8, 256, 512), (8, 1000, 16, 128, 256), (5, 777, 6, 256, 512),
                        (40, 130, 3, 128, 256), (64, 64, 8, 64, 64)):
    q, k, v, do, g = inputs(B, T, H, dk, dv, seed=B + T)
    s0 = torch.randn(B, H, dk, dv, device='cuda') * 0.1
    out = {}
    for name, fl in (('persistent', 0), ('plain', 4096)):
        R.set_flags(fl | 256)
        o = torch.full((B, T, H, dv), float('nan'), device='cuda', dtype=torch.bfloat16)
        s1 = torch.full((B, H, dk, dv), float('nan'), device='cuda')
        R.forward(q, k, v, g, state_in=s0, state_out=s1, o=o)
        o2 = torch.full_like(o, float('nan'))
        R.forward(q, k, v, g, o=o2)  # no states: the other code path
        grads = [torch.full_like(x, float('nan')) for x in (q, k, v)]
        R.backward(q, k, v, g, do, state_in=s0, dq=grads[0], dk=grads[1], dv=grads[2])
        torch.cuda.synchronize()
        out[name] = [o, s1, o2] + grads
    R.set_flags(0)
    names = ('o', 'final state', 'o without states', 'dq', 'dk', 'dv')
    diffs = []
    for n, a, b in zip(names, out['persistent'], out['plain']):
        same = torch.equal(a.view(torch.int16) if a.dtype == torch.bfloat16 else a.view(torch.int32),
                           b.view(torch.int16) if b.dtype == torch.bfloat16 else b.view(torch.int32))
        nan = bool(torch.isnan(a.float()).any())
        if not same or nan:
            diffs.append(f"{n}: {'NaN left' if nan else 'differs'} (max |d| "
                         f"{(a.float() - b.float()).abs().nan_to_num(1e30).max().item():.3g})")
    items = B * H * ((dv + 63) // 64)
    print(f"B {B} T {T} H {H} dk {dk} dv {dv} ({items} items of 64 columns): "
          + ('same bits' if not diffs else 'FAIL ' + '; '.join(diffs)), flush=True)
    bad += bool(diffs)
print(f"{5 - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
