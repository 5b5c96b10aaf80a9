#!/usr/bin/env python3
"""Where a block of the forward's wgmma kernel spends its time, from stamps the kernel writes
itself (a library built with NVCC_EXTRA=-DRET_WG_TRACE: the SM, %globaltimer and clock64 at its
phases; src/cuda/retention.cu, wg_stamp). Per case, in us (clock64 cycles converted by the
%globaltimer over each block's life):
  tables  entry -> the decay tables built and the first loads asked for; iss: entry -> the
          first loads asked for (the issuing thread free again)
  first   -> chunk 0 in (the first load's latency); of it, bar: the barrier before the wait
          (warpgroup 1's start), and w1st: wave 1's blocks (first on their SM) apart
  wg1s    warpgroup 1's start (entry -> its state's first store done); of it, st: entry -> the
          first store asked for
  c0      chunk 0's work; wait1: the wait for chunk 1 at its top
  chunk   a middle chunk's time, mean; lastw: the last chunk's wait; last: its work
  drain   the O stores' completion at the end (bulk_wait_all); wg1: warpgroup 1 later than that
  gap     the SM's idle time between a block's end and the next block's entry
  python3 dev/cuda/fwd_trace.py   (RETNET_CUDA_LIB: the traced library)"""
import ctypes
import os
import statistics as st
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, pow2_gammas  # noqa: E402

R = Retention()
L = R.lib
L.retention_cuda_lab_trace.argtypes = [ctypes.c_void_p, ctypes.c_int]
L.retention_cuda_lab_trace.restype = ctypes.c_int
NS = L.retention_cuda_lab_trace(None, 0)  # slots a block (RET_TRACE_N)
if NS < 32:
    sys.exit(f"{R.path}: not a traced library (build it with NVCC_EXTRA=-DRET_WG_TRACE)")


def trace(n):
    buf = (ctypes.c_ulonglong * (n * NS))()
    got = L.retention_cuda_lab_trace(buf, n)
    if got != n:
        sys.exit(f"retention_cuda_lab_trace gave {got} of {n} blocks: not a traced library?")
    return [list(buf[i * NS:(i + 1) * NS]) for i in range(n)]


def med(xs):
    return st.median(xs) if xs else float('nan')


# the table's columns: per-block phases (medians), then the per-SM ones
COLS = ('tables', 'iss', 'bar', 'wg1s', 'st', 'first', 'w1st', 'c0', 'wait1', 'chunk', 'lastw',
        'last', 'drain', 'wg1', 'block', 'gap', 'blk/SM', 'head', 'tail')
print(f"{'case':<24}{'ms':>7}" + "".join(f"{c:>7}" for c in COLS))
CASES = [("H8 16x2k", 16, 2048, 8, 256, 512, 0),
         ("H8 2x16k", 2, 16384, 8, 256, 512, 0),
         ("H16 16x2k", 16, 2048, 16, 128, 256, 0)]
# TRACE_FLAGS=a,b: the same cases again under each of these lab flags
for EXTRA in [int(f) for f in os.environ.get('TRACE_FLAGS', '').split(',') if f]:
    CASES += [(n + f" f{EXTRA}", B, T, H, dk, dv, EXTRA) for n, B, T, H, dk, dv, _ in CASES[:3]]
for name, B, T, H, dk, dv, flags in CASES:
    torch.manual_seed(0)
    q, k = (torch.randn(B, T, H, dk, device='cuda').to(torch.bfloat16) for _ in range(2))
    v = torch.randn(B, T, H, dv, device='cuda').to(torch.bfloat16)
    g = pow2_gammas(H)
    o = torch.empty_like(v)
    R.set_tile(64)
    R.set_flags(flags)
    ms = ev(lambda: R.forward(q, k, v, g, o=o), reps=11, warm=3)
    R.forward(q, k, v, g, o=o)
    torch.cuda.synchronize()
    n = B * H * dv // 64
    tr = trace(n)
    R.set_flags(0)
    nchunk = T // 64
    # cycles -> ns: each block's %globaltimer over its clock64 span
    rates = [(t[11] - t[1]) / (t[10] - t[2]) for t in tr if t[10] > t[2] and t[11] > t[1]]
    ns = med(rates)
    us = lambda c: c * ns / 1e3  # noqa: E731
    ph = {k: [] for k in COLS[:15] if k != 'w1st'}
    for t in tr:
        end = max(t[10], t[14])
        ph['tables'].append(us(t[3] - t[2]))
        ph['iss'].append(us(t[16] - t[2]))
        ph['bar'].append(us(t[15] - t[3]))
        ph['wg1s'].append(us(t[12] - t[2]))
        ph['st'].append(us(t[17] - t[2]))
        ph['first'].append(us(t[4] - t[3]))
        ph['c0'].append(us(t[5] - t[4]))
        ph['wait1'].append(us(t[6] - t[5]))
        ph['chunk'].append(us(t[7] - t[6]) / max(1, nchunk - 2))
        ph['lastw'].append(us(t[8] - t[7]))
        ph['last'].append(us(t[9] - t[8]))
        ph['drain'].append(us(t[10] - t[9]))
        ph['wg1'].append(us(max(0, t[14] - t[10])))
        ph['block'].append(us(end - t[2]))
    by_sm = {}
    for t in tr:
        by_sm.setdefault(t[0], []).append(t)
    gaps, heads, tails, w1 = [], [], [], []
    g0 = min(t[1] for t in tr)
    g1 = max(t[11] for t in tr)
    for sm, bl in by_sm.items():
        bl.sort(key=lambda t: t[2])
        w1.append(us(bl[0][4] - bl[0][3]))
        for a, b_ in zip(bl, bl[1:]):
            gaps.append(us(b_[2] - max(a[10], a[14])))
        heads.append((bl[0][1] - g0) / 1e3)
        tails.append((g1 - bl[-1][11]) / 1e3)
    ph['w1st'], ph['gap'], ph['head'], ph['tail'] = w1, gaps, heads, tails
    row = [n / len(by_sm) if c == 'blk/SM' else med(ph[c]) for c in COLS]
    print(f"{name:<24}{ms:7.3f}" + "".join(f"{x:7.2f}" for x in row), flush=True)
    # chunk 2 from inside, us after warpgroup 0 has it (stamp 24), medians: warpgroup 0's
    # products asked for, S in, Q R in (P built), P V in, done (O's store asked for, at the
    # top of chunk 3); warpgroup 1 at its top (before the barrier), past it, zeta V written and
    # its barrier, the state decayed, K^T (zeta V) in, the bf16 state stored
    if nchunk > 3:
        rel = lambda k: med([us(t[k] - t[24]) for t in tr])  # noqa: E731
        print(f"{'':<24}chunk 2: wg0 ask {rel(20):.2f} S {rel(21):.2f} QR {rel(22):.2f}"
              f" PV {rel(23):.2f} done {rel(25):.2f} | wg1 top {rel(26):.2f} in {rel(27):.2f}"
              f" zv {rel(28):.2f} dec {rel(29):.2f} kv {rel(30):.2f} st {rel(31):.2f}", flush=True)
        print(f"{'':<24}chunk 2's O: staging buffer free {rel(32):.2f}, staged and sent {rel(33):.2f}",
              flush=True)
    # the spread, for the T = 2k cases: gaps' quartiles and the share of an SM's time
    if gaps:
        qs = st.quantiles(gaps, n=4)
        busy = sum(ph['block']) / len(by_sm)
        print(f"{'':<24}gap quartiles {qs[0]:.2f} {qs[1]:.2f} {qs[2]:.2f} us, max {max(gaps):.2f};"
              f" an SM's blocks {busy:.1f} us, its gaps {sum(gaps) / len(by_sm):.1f} us,"
              f" kernel span {(g1 - g0) / 1e3:.1f} us; ns/cycle {ns:.4f}", flush=True)
