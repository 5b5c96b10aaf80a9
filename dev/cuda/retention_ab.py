#!/usr/bin/env python3
"""Two settings of the lab flags (retention_cuda_lab_set_flags; retention.h) timed against each
other in one process at the benchmark's shapes, with how far their outputs are apart.

  python3 dev/cuda/retention_ab.py A B       e.g. 16 0 (the TMA store's gain), 32 0 (the split)

Only for flags that keep the results right (16, 32, 128, 256): for those, "apart" is the relative L2
distance of o, dq, dk, dv between the two settings, which must stay within 2^-8 (each is within
about 2^-9 of float64 at these shapes: bench/gpu/retention-h200.md; the float64 check of a
setting is `RETNET_CUDA_LAB_FLAGS=B python3 dev/cuda/retention_lab.py --no-time`). Exit 1 if any
distance is larger.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, inputs  # noqa: E402

BF16 = torch.bfloat16
R = Retention()


def outputs(flags, q, k, v, do, gam, dt):
    """o, dq, dk, dv with these flags; NaN-filled first, so a row never written shows"""
    R.set_flags(flags)
    B, T, H, _ = q.shape
    o = torch.full((B, T, H, v.shape[-1]), float('nan'), device='cuda', dtype=dt)
    R.forward(q, k, v, gam, o=o)
    gs = [torch.full(x.shape, float('nan'), device='cuda', dtype=dt) for x in (q, k, v)]
    R.backward(q, k, v, gam, do, dq=gs[0], dk=gs[1], dv=gs[2])
    torch.cuda.synchronize()
    R.set_flags(0)
    return [o] + gs


def main():
    fa, fb = int(sys.argv[1]), int(sys.argv[2])
    worst = 0.0
    print(f"{'shape':<26}{'out':>6}{'fwd ' + str(fa):>10}{'fwd ' + str(fb):>10}{'ratio':>7}"
          f"{'bwd ' + str(fa):>10}{'bwd ' + str(fb):>10}{'ratio':>7}  max rel L2 apart (ms, median of 9)")
    for name, B, T, H, dk, dv in (('H8 dk256 dv512 B16 T2k', 16, 2048, 8, 256, 512),
                                  ('H8 dk256 dv512 B2 T16k', 2, 16384, 8, 256, 512),
                                  ('H16 dk128 dv256 B16 T2k', 16, 2048, 16, 128, 256),
                                  ('H16 dk128 dv256 B2 T16k', 2, 16384, 16, 128, 256),
                                  ('1.3B layer B8 T2k', 8, 2048, 8, 256, 512),
                                  ('dk512 dv512 B4 T1000', 4, 1000, 4, 512, 512)):
        q, k, v, do, gam = inputs(B, T, H, dk, dv)
        for dt in ((BF16, torch.float32) if name.startswith('1.3B') else (BF16,)):
            A = outputs(fa, q, k, v, do, gam, dt)
            Bo = outputs(fb, q, k, v, do, gam, dt)
            dists = [((a.float() - b.float()).norm() / b.float().norm()).item()
                     for a, b in zip(A, Bo)]
            # a NaN anywhere (an unwritten row) makes its distance NaN: count it as infinite
            apart = max(float('inf') if d != d else d for d in dists)
            worst = max(worst, apart)
            o = torch.empty(B, T, H, dv, device='cuda', dtype=dt)
            gs = [torch.empty(x.shape, device='cuda', dtype=dt) for x in (q, k, v)]
            row = []
            for fl in (fa, fb):
                R.set_flags(fl)
                row.append(ev(lambda: R.forward(q, k, v, gam, o=o)))
                row.append(ev(lambda: R.backward(q, k, v, gam, do, dq=gs[0], dk=gs[1], dv=gs[2])))
            R.set_flags(0)
            print(f"{name:<26}{'fp32' if dt == torch.float32 else 'bf16':>6}{row[0]:10.3f}{row[2]:10.3f}"
                  f"{row[0] / row[2]:7.2f}{row[1]:10.3f}{row[3]:10.3f}{row[1] / row[3]:7.2f}  {apart:.2e}",
                  flush=True)
        del q, k, v, do
        torch.cuda.empty_cache()
    print(f'worst relative L2 distance between flags {fa} and {fb}: {worst:.2e} (limit 2^-8 = 3.9e-3)')
    return worst <= 2 ** -8


if __name__ == '__main__':
    if os.environ.get('RETNET_CUDA_LAB_FLAGS'):  # ORed into both settings: they would be equal
        sys.exit('retention_ab.py: unset RETNET_CUDA_LAB_FLAGS first')
    sys.exit(0 if main() else 1)
