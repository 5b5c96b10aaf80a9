#!/usr/bin/env python3
"""O written by TMA from a staged tile (the default) against O written from the accumulator
registers (lab flag 16, the previous way): the same values must land, bit for bit.

  python3 dev/cuda/retention_store.py            identity checks
  python3 dev/cuda/retention_ab.py 16 0          the timings of both (and their distance: 0)

Identity: both ways store the same fp32 accumulators (rounded to bf16 the same way, or added
in fp32 to what is there), so any difference is a wrong address, a dropped or extra row, or a
race. Every kernel is reached: automatic choice, path 2 (TMA loads, every contraction width)
and path 3 (cp.async loads); odd T (short last chunks, forward and backward in time), value
widths that leave a tile part empty, few blocks (32-column tiles), fp32 and bf16 outputs,
accumulating fp32 gradients (TMA's reduce-add; a bf16 sum takes the register stores both ways,
so it is not compared). bf16 outputs are compared without the contraction split (lab flag 32):
the split's second half adds by a bf16 TMA reduce (two roundings) where the register stores add
in fp32 (one), so those differ by design (retention_ab.py 32 0 measures the distance).
Exits 1 on any difference.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, inputs  # noqa: E402

BF16 = torch.bfloat16
R = Retention()


def run(flags, q, k, v, do, gam, dt, acc):
    """forward o and backward dq, dk, dv (accumulating onto fixed random values if acc)"""
    R.set_flags(flags)
    B, T, H, dk = q.shape
    dv = v.shape[-1]
    g = torch.Generator(device='cuda').manual_seed(7)
    o = torch.full((B, T, H, dv), float('nan'), device='cuda', dtype=dt)
    if acc:
        grads = [torch.randn(x.shape, device='cuda', generator=g).to(dt) for x in (q, k, v)]
    else:
        grads = [torch.full(x.shape, float('nan'), device='cuda', dtype=dt) for x in (q, k, v)]
    R.forward(q, k, v, gam, o=o)
    R.backward(q, k, v, gam, do, dq=grads[0], dk=grads[1], dv=grads[2], accumulate=acc)
    torch.cuda.synchronize()
    R.set_flags(0)
    return [o] + grads


def same(a, b):
    """bit-identical, NaNs included (a NaN left means a row or column never written)"""
    return torch.equal(a.view(torch.int32) if a.dtype == torch.float32 else a.view(torch.int16),
                       b.view(torch.int32) if b.dtype == torch.float32 else b.view(torch.int16))


def checks():
    shapes = [(2, 200, 3, 64, 96), (1, 130, 2, 128, 40), (2, 100, 2, 256, 64),
              (1, 77, 1, 512, 512), (2, 300, 4, 256, 512), (1, 65, 2, 40, 24),
              (3, 64, 2, 128, 256), (1, 1, 1, 16, 8), (2, 129, 8, 256, 512)]
    paths = [0, 2, 3] if R.have_wgmma() else [0]
    bad = n = 0
    # tiles: the automatic choice (mostly 32 at these sizes), then 64 forced: the dedicated
    # staging buffer at VT = 64, fp32 tiles of two boxes, a second box wholly past dv (dv 96)
    for path, tile in [(p, t) for p in paths for t in (0, 64)]:
        R.set_path(path)
        R.set_tile(tile)
        for (B, T, H, dk, dv) in shapes:
            q, k, v, do, gam = inputs(B, T, H, dk, dv, seed=B * 1000 + T)
            for dt, acc in ((BF16, False), (torch.float32, False), (torch.float32, True)):
                # bf16 without the contraction split (32): its second half adds by a bf16 TMA
                # reduce, which the register stores do as fp32 read-add-round (values differ)
                base = 32 if dt == BF16 else 0
                new = run(base, q, k, v, do, gam, dt, acc)
                old = run(base | 16, q, k, v, do, gam, dt, acc)
                for name, a, b in zip(('o', 'dq', 'dk', 'dv'), new, old):
                    n += 1
                    ok = same(a, b) and not torch.isnan(b).any()
                    if not ok:
                        bad += 1
                        d = (a.float() - b.float()).abs()
                        print(f'DIFF path {path} tile {tile} B{B} T{T} H{H} dk{dk} dv{dv} {dt} acc {acc} {name}: '
                              f'max|d| {d.nan_to_num(float("inf")).max().item():.3g}, '
                              f'NaN new {torch.isnan(a).sum().item()} old {torch.isnan(b).sum().item()}')
    R.set_path(0)
    R.set_tile(0)
    print(f'TMA store against register store: {n - bad} of {n} outputs bit-identical')
    return bad == 0


if __name__ == '__main__':
    if os.environ.get('RETNET_CUDA_LAB_FLAGS'):  # ORed into both settings: they would be equal
        sys.exit('retention_store.py: unset RETNET_CUDA_LAB_FLAGS first')
    sys.exit(0 if checks() else 1)
