#!/usr/bin/env python3
"""The retention forward of several kernel builds and settings, timed against each other and
against fla's chunk_retention in one process, at the benchmark's shapes (B*T = 32768).

  PYTHONPATH=build/fla-src python3 dev/cuda/fwd_ab.py NAME=LIB[:TILE[:FLAGS[:PATH[:CLUSTER]]]] ...

Each setting is a library (dev/cuda/build.sh's output) with the lab's tile width (0 automatic,
32, 64), flags, kernel path (0 automatic, 2 wgmma + TMA, 3 wgmma + cp.async) and blocks per
cluster of the TMA kernel (1 none, the default; 2, 4, 8: Q and K multicast). Its o is
checked against the first setting's (relative L2; all must stay within 2^-8, each being within
~2^-9 of float64: retention_lab.py). Times: median of 15 CUDA events, ms; Mtok/s; and the
ratio to chunk_retention (when fla imports). Exit 1 when a setting's output is further than
2^-8 from the first's.
FWD_AB_SHAPES=N times only the first N shapes (1 for a profiler's run); FWD_AB_BWD=1 times
the backward too (a line under each shape); FWD_AB_SMALL=1 takes heads of dk 64 instead;
FWD_AB_F32=1 asks o and the gradients in fp32 (training's outputs).
For A/B only: the L2 is not flushed between calls (bench/gpu/retention_bench.py, the record,
flushes it), and the settings run in the order given at every shape, so a drift favours one
side: name a setting twice (a b a b) to see it.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, inputs  # noqa: E402

BWD = os.environ.get('FWD_AB_BWD') == '1'  # also the backward's ms (no check)
# FWD_AB_F32=1: o and the gradients in fp32 (as training asks them)
ODT = torch.float32 if os.environ.get('FWD_AB_F32') == '1' else torch.bfloat16
SHAPES = (('H16 dk128 dv256', 16, 2048, 16, 128, 256), ('H16 dk128 dv256', 8, 4096, 16, 128, 256),
          ('H16 dk128 dv256', 2, 16384, 16, 128, 256), ('H8 dk256 dv512', 16, 2048, 8, 256, 512),
          ('H8 dk256 dv512', 8, 4096, 8, 256, 512), ('H8 dk256 dv512', 2, 16384, 8, 256, 512))
# FWD_AB_SMALL=1: heads of 64 (KC = 64, the cp.async kernel's remaining size)
SMALL = (('H32 dk64 dv64', 16, 2048, 32, 64, 64), ('H16 dk64 dv128', 8, 4096, 16, 64, 128),
         ('H32 dk64 dv64', 2, 16384, 32, 64, 64))


def main():
    sets = []
    for a in sys.argv[1:]:
        name, spec = a.split('=', 1)
        parts = spec.split(':') + ['0', '0', '0', '1']
        R = Retention(parts[0])
        tile, flags, path = (int(x or 0) for x in parts[1:4])
        cluster = int(parts[4] or 1)
        if path and not R.has_paths:
            sys.exit(f'{name}: {parts[0]} has no kernel-path switch (path {path} asked)')
        sets.append((name, R, tile, flags, path, cluster))
    try:
        from fla.ops.retention import chunk_retention
    except Exception as e:  # noqa: BLE001
        print(f'fla not importable ({e}): no peer column')
        chunk_retention = None
    bad = False
    hdr = f"{'shape':<18}{'B':>3}{'T':>6}" + ''.join(f'{n:>14}' for n, *_ in sets)
    print(hdr + ('  chunk_ret' if chunk_retention else '') + '   (ms; then Mtok/s, x fla)')
    shapes = SMALL if os.environ.get('FWD_AB_SMALL') == '1' else SHAPES
    for name, B, T, H, dk, dv in shapes[:int(os.environ.get('FWD_AB_SHAPES', len(shapes)))]:
        q, k, v, do, gam = inputs(B, T, H, dk, dv)
        ref = None
        ms, bms = [], []
        for n, R, tile, flags, path, cluster in sets:
            R.set_cluster(cluster)
            R.set_tile(tile)
            R.set_flags(flags)
            R.set_path(path)
            o = torch.full((B, T, H, dv), float('nan'), device='cuda', dtype=ODT)
            R.forward(q, k, v, gam, o=o)
            torch.cuda.synchronize()
            if ref is None:
                ref = o.float()
            else:
                d = ((o.float() - ref).norm() / ref.norm()).item()
                if not d <= 2 ** -8:
                    print(f'  {n}: o is {d:.2e} from {sets[0][0]}\'s')
                    bad = True
            ms.append(ev(lambda: R.forward(q, k, v, gam, o=o), reps=15, warm=3))
            if BWD:
                gs = [torch.empty_like(x, dtype=ODT) for x in (q, k, v)]
                bms.append(ev(lambda: R.backward(q, k, v, gam, do, dq=gs[0], dk=gs[1], dv=gs[2]),
                              reps=9, warm=2))
            R.set_tile(0)
            R.set_flags(0)
            R.set_path(0)
            R.set_cluster(1)
        fla_ms = None
        if chunk_retention:
            # as bench/gpu/retention_bench.py calls it: (B, T, H, D), its own decays and scale
            def fla():
                with torch.no_grad():
                    chunk_retention(q, k, v)
            fla_ms = ev(fla, reps=15, warm=3)
        tok = B * T / 1e3
        line = f'{name:<18}{B:3d}{T:6d}' + ''.join(f'{m:14.3f}' for m in ms)
        if fla_ms:
            line += f'{fla_ms:11.3f}'
        line += '   ' + ' '.join(f'{tok / m:.1f}' + (f' ({fla_ms / m:.2f}x)' if fla_ms else '')
                                 for m in ms)
        print(line, flush=True)
        if BWD:
            print(f"{'  backward':<27}" + ''.join(f'{m:14.3f}' for m in bms), flush=True)
        del q, k, v, do
        torch.cuda.empty_cache()
    return not bad


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
