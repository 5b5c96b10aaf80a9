#!/usr/bin/env python3
"""Kernel lab for src/cuda/retention.cu: correctness against float64, then timings.

  python3 dev/cuda/retention_lab.py [--lib build/ret-cuda/libretention_cuda.so] [--no-time]

Correctness. Inputs are fresh random bf16 values (seed printed; RETNET_LAB_SEED repeats a
run); the reference is the parallel form (RETNET.md §2) in float64 on the GPU, on the same
bf16 values, and torch autograd of it for the gradients (loss = <o, dO> + <S_T, dS_T>).
Outputs are poisoned with NaN before each call, so an unwritten element fails.
Error: rel = ||x - ref||_2 / ||ref||_2, and max|x - ref| / max|ref|.
Tolerance rule: the kernels round to bf16 (u = 2^-9, half of bf16's epsilon 2^-8) at most
three times on any path inside (decayed scores, the state as an operand, zeta * v), plus the
output when it is bf16; independent roundings add in quadrature, so rel stays near 2u. We
require rel <= 2^-7 (= 4u, twice that) and max-error <= 2^-4 of max|ref|, and no NaN.
The recurrent step is pure fp32: rel <= 1e-5 against float64.

Timings: CUDA events, median of repeats, at the benchmark's shapes (B*T = 32768).
Results: $OUT/lab.json (or ./lab.json) and a table on stdout.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retention_ctypes import Retention, ev, pow2_gammas  # noqa: E402

DEV = 'cuda'
F64, BF16, F32 = torch.float64, torch.bfloat16, torch.float32
TOL_REL, TOL_MAX, TOL_STEP = 2.0 ** -7, 2.0 ** -4, 1e-5
RES = {'meta': {}, 'checks': [], 'timings': []}


def errs(x, ref):
    x, ref = x.double(), ref.double()
    d = x - ref
    nan = bool(torch.isnan(x).any())
    rel = (d.norm() / ref.norm().clamp_min(1e-300)).item()
    mx = (d.abs().max() / ref.abs().max().clamp_min(1e-300)).item()
    return rel, mx, nan


PREFIX = ['']  # the kernel path under test, prepended to check names


def check(name, x, ref, tol_rel=TOL_REL, tol_max=TOL_MAX):
    name = PREFIX[0] + name
    rel, mx, nan = errs(x, ref)
    ok = (not nan) and rel <= tol_rel and mx <= tol_max
    RES['checks'].append({'name': name, 'rel_l2': rel, 'max_rel': mx, 'nan': nan, 'ok': ok,
                          'tol_rel': tol_rel, 'tol_max': tol_max})
    print(f"  {'ok ' if ok else 'BAD'} {name:<44} rel {rel:.2e}  max {mx:.2e}"
          f"{'  NaN!' if nan else ''}", flush=True)
    return ok


def ref_forward(q, k, v, gam, scale, S0):
    """float64 parallel form. q, k (B,T,H,dk), v (B,T,H,dv), S0 (B,H,dk,dv) or None."""
    B, T, H, dk = q.shape
    n = torch.arange(T, device=q.device, dtype=F64)
    lg = torch.log(gam.double())                                       # (H)
    diff = n[:, None] - n[None, :]
    D = torch.where(diff >= 0, torch.exp(diff[None] * lg[:, None, None]),
                    torch.zeros((), device=q.device, dtype=F64))      # (H, T, T)
    qh, kh, vh = (x.permute(0, 2, 1, 3) for x in (q, k, v))
    o = (scale * (qh @ kh.transpose(-1, -2)) * D) @ vh
    ST = (torch.exp((T - 1 - n)[None, :] * lg[:, None])[None, :, :, None] * kh).transpose(-1, -2) @ vh
    if S0 is not None:
        o = o + scale * torch.exp((n + 1)[None, :] * lg[:, None])[None, :, :, None] * (qh @ S0)
        ST = ST + torch.exp(T * lg)[None, :, None, None] * S0
    return o.permute(0, 2, 1, 3), ST


def case(R, name, B, T, H, dk, dv, init=True, dfinal=True, tile=0, odt=BF16, gdt=BF16,
         accumulate=False):
    print(f"case {name}: B{B} T{T} H{H} dk{dk} dv{dv} init={init} dS_T={dfinal} tile={tile or 'auto'} "
          f"o {odt} grads {gdt}{' accumulate' if accumulate else ''}", flush=True)
    R.set_tile(tile)
    gam = pow2_gammas(H)
    scale = dk ** -0.5
    q = torch.randn(B, T, H, dk, device=DEV).to(BF16)
    k = torch.randn(B, T, H, dk, device=DEV).to(BF16)
    v = torch.randn(B, T, H, dv, device=DEV).to(BF16)
    do = torch.randn(B, T, H, dv, device=DEV).to(BF16)
    S0 = torch.randn(B, H, dk, dv, device=DEV) * 2 if init else None
    dST = torch.randn(B, H, dk, dv, device=DEV) * 0.1 if dfinal else None
    # reference
    q64, k64, v64 = (x.double().requires_grad_() for x in (q, k, v))
    S064 = S0.double().requires_grad_() if init else None
    o_ref, ST_ref = ref_forward(q64, k64, v64, gam, scale, S064)
    loss = (o_ref * do.double()).sum()
    if dfinal:
        loss = loss + (ST_ref * dST.double()).sum()
    loss.backward()
    # ours
    o = torch.full((B, T, H, dv), float('nan'), device=DEV, dtype=odt)
    ST = torch.full((B, H, dk, dv), float('nan'), device=DEV)
    R.forward(q, k, v, gam, scale, state_in=S0, state_out=ST, o=o)
    shp_q, shp_v = (B, T, H, dk), (B, T, H, dv)
    if accumulate:
        base = [torch.randn(s, device=DEV).to(gdt) for s in (shp_q, shp_q, shp_v)]
        dq, dk_, dv_ = (x.clone() for x in base)
        dS0 = torch.randn(B, H, dk, dv, device=DEV)
        dS0_base = dS0.clone()
    else:
        dq, dk_, dv_ = (torch.full(s, float('nan'), device=DEV, dtype=gdt)
                        for s in (shp_q, shp_q, shp_v))
        dS0 = torch.full((B, H, dk, dv), float('nan'), device=DEV)
    R.backward(q, k, v, gam, do, scale, state_in=S0, dstate_out=dST, dq=dq, dk=dk_, dv=dv_,
               dstate_in=dS0, accumulate=accumulate)
    torch.cuda.synchronize()
    if accumulate:
        dq, dk_, dv_ = (x.double() - b.double() for x, b in zip((dq, dk_, dv_), base))
        dS0 = dS0 - dS0_base
    ok = True
    if not accumulate:
        if T > 0:
            ok &= check(f'{name}: o', o, o_ref.detach())
        ok &= check(f'{name}: final state', ST, ST_ref.detach())
    if T > 0:
        ok &= check(f'{name}: dq', dq, q64.grad)
        ok &= check(f'{name}: dk', dk_, k64.grad)
        ok &= check(f'{name}: dv', dv_, v64.grad)
    if init:
        ok &= check(f'{name}: d initial state', dS0, S064.grad)
    R.set_tile(0)
    return ok


def step_cases(R):
    ok = True
    print('case step: one decoding step against float64 (B3 H8 dk256 dv512)', flush=True)
    B, H, dk, dv = 3, 8, 256, 512
    gam = pow2_gammas(H)
    scale = dk ** -0.5
    q = torch.randn(B, H, dk, device=DEV).to(BF16)
    k = torch.randn(B, H, dk, device=DEV).to(BF16)
    v = torch.randn(B, H, dv, device=DEV).to(BF16)
    S = torch.randn(B, H, dk, dv, device=DEV)
    S_ref = gam.double()[None, :, None, None] * S.double() + k.double()[..., None] * v.double()[..., None, :]
    o_ref = scale * (q.double()[..., None, :] @ S_ref)[..., 0, :]
    o = torch.full((B, H, dv), float('nan'), device=DEV, dtype=F32)
    R.step(q, k, v, gam, S, scale, o=o)
    torch.cuda.synchronize()
    ok &= check('step: state', S, S_ref, TOL_STEP, TOL_STEP)
    ok &= check('step: o (fp32)', o, o_ref, TOL_STEP, TOL_STEP)

    print('case step x T = chunkwise: B2 T130 H4 dk128 dv256 from a random state', flush=True)
    B, T, H, dk, dv = 2, 130, 4, 128, 256
    gam = pow2_gammas(H)
    scale = dk ** -0.5
    q = torch.randn(B, T, H, dk, device=DEV).to(BF16)
    k = torch.randn(B, T, H, dk, device=DEV).to(BF16)
    v = torch.randn(B, T, H, dv, device=DEV).to(BF16)
    S0 = torch.randn(B, H, dk, dv, device=DEV)
    o_ref, ST_ref = ref_forward(q.double(), k.double(), v.double(), gam, scale, S0.double())
    oc = torch.full((B, T, H, dv), float('nan'), device=DEV, dtype=F32)
    STc = torch.full((B, H, dk, dv), float('nan'), device=DEV)
    R.forward(q, k, v, gam, scale, state_in=S0, state_out=STc, o=oc)
    S = S0.clone()
    os_ = []
    for t in range(T):
        os_.append(R.step(q[:, t].contiguous(), k[:, t].contiguous(), v[:, t].contiguous(), gam, S,
                          scale, o_dtype=F32))
    orr = torch.stack(os_, 1)
    torch.cuda.synchronize()
    ok &= check('steps: o vs float64', orr, o_ref, 1e-4, 1e-4)
    ok &= check('steps: final state vs float64', S, ST_ref, 1e-4, 1e-4)
    ok &= check('chunkwise vs steps: o', oc, orr)
    ok &= check('chunkwise vs steps: final state', STc, S)
    ok &= check('chunkwise: o vs float64', oc, o_ref)

    print('case prefill then decode: chunkwise over 255 tokens, a step, against 256 tokens', flush=True)
    T0 = 255
    qf, kf, vf = (torch.randn(B, T0 + 1, H, d, device=DEV).to(BF16) for d in (dk, dk, dv))
    o_ref, _ = ref_forward(qf.double(), kf.double(), vf.double(), gam, scale, None)
    S = torch.full((B, H, dk, dv), float('nan'), device=DEV)
    R.forward(qf[:, :T0].contiguous(), kf[:, :T0].contiguous(), vf[:, :T0].contiguous(), gam,
              scale, state_out=S, o_dtype=F32)
    o_last = R.step(qf[:, T0].contiguous(), kf[:, T0].contiguous(), vf[:, T0].contiguous(), gam, S,
                    scale, o_dtype=F32)
    torch.cuda.synchronize()
    ok &= check('prefill 255 + step: o of token 256', o_last, o_ref[:, T0])
    return ok


def error_cases(R):
    """Bad arguments are refused with a message, before any work."""
    ok = True
    q = torch.zeros(1, 4, 1, 12, device=DEV, dtype=BF16)
    g = pow2_gammas(1)
    try:
        R.forward(q, q, q, g)
        ok = False
        print('  BAD dk = 12 was accepted')
    except RuntimeError as e:
        print(f'  ok  refused dk = 12: {e}')
    RES['checks'].append({'name': 'refuses dk = 12', 'ok': ok})
    return ok


SELFTEST = ['Q K^T (A, B K-major)', 'Q R (A K-major, B MN-major)', 'K^T Vz (A, B MN-major)',
            'P V (A registers, B MN-major)', 'stmatrix of Q R, read back',
            'Q K^T, 128B swizzle', 'K^T Vz, 128B swizzle', 'Q R, A 128B swizzle',
            'P V, B 64B swizzle, N 32', 'P V, B 128B swizzle', 'K^T Vz, A 128B, B 64B swizzle, N 32']


def wgmma_selftest(R):
    """One wgmma per operand arrangement of the Hopper kernel (layouts written by threads,
    not by TMA) against float64: a wrong descriptor or layout shows here by name."""
    a = torch.randn(64, 64, device=DEV).to(BF16)
    b = torch.randn(64, 64, device=DEV).to(BF16)
    ref = a.double() @ b.double()
    ref32 = ref.clone()
    ref32[:, 32:] = 0
    ref32[:, :32] = a.double() @ b.double()[:, :32]
    print('wgmma self-test (64 x 64 x 64, rel error against float64):', flush=True)
    ok_all = True
    for v, name in enumerate(SELFTEST):
        d = R.wgmma_selftest(v, a, b)
        torch.cuda.synchronize()
        r = ref.to(BF16).double() if v == 4 else ref32 if v in (8, 10) else ref
        rel, mx, nan = errs(d, r)
        ok = (not nan) and rel < (2e-3 if v == 4 else 1e-5)
        ok_all &= ok
        RES['checks'].append({'name': f'wgmma self-test {v}: {name}', 'ok': ok, 'rel_l2': rel})
        print(f"  {'ok ' if ok else 'BAD'} {v:2d} {name:<44} rel {rel:.2e}", flush=True)
    return ok_all


def timings(R, path, tiles=(0, 32, 64), label=None):
    def ev_time(fn):
        return ev(fn, reps=10, warm=2)

    R.set_path(path)
    pname = label or {0: 'auto', 1: 'mma.sync', 2: 'wgmma+TMA', 3: 'wgmma+cp.async'}[path]
    print(f'TIMINGS {pname} (ms, median of 10; Mtok/s = B*T / time)', flush=True)
    for name, H, dk, dv in (('H8-K256-V512', 8, 256, 512), ('H16-K128-V256', 16, 128, 256)):
        for B, T in ((16, 2048), (8, 4096), (2, 16384)):
            gam = pow2_gammas(H)
            q = torch.randn(B, T, H, dk, device=DEV).to(BF16)
            k = torch.randn(B, T, H, dk, device=DEV).to(BF16)
            v = torch.randn(B, T, H, dv, device=DEV).to(BF16)
            do = torch.randn(B, T, H, dv, device=DEV).to(BF16)
            o = torch.empty(B, T, H, dv, device=DEV, dtype=BF16)
            dq, dk_ = torch.empty_like(q), torch.empty_like(k)
            dv_ = torch.empty_like(v)
            row = {'path': pname, 'cfg': name, 'B': B, 'T': T}
            for tile in tiles:
                R.set_tile(tile)
                row[f'fwd_ms_tile{tile}'] = ev_time(lambda: R.forward(q, k, v, gam, o=o))
                row[f'bwd_ms_tile{tile}'] = ev_time(
                    lambda: R.backward(q, k, v, gam, do, dq=dq, dk=dk_, dv=dv_))
            R.set_tile(0)
            f, b_ = row['fwd_ms_tile0'], row['bwd_ms_tile0']
            row['fwd_ms'], row['bwd_ms'] = f, b_
            row['fwd_Mtok_s'] = B * T / f / 1e3
            row['fwdbwd_Mtok_s'] = B * T / (f + b_) / 1e3
            RES['timings'].append(row)
            alt = ''.join(f" t{t} {row[f'fwd_ms_tile{t}']:6.3f}/{row[f'bwd_ms_tile{t}']:6.3f}"
                          for t in tiles if t)
            print(f"  {pname:<8} {name} B{B:<3} T{T:<6} fwd {f:7.3f} bwd {b_:7.3f} (fwd/bwd{alt})"
                  f" | fwd {row['fwd_Mtok_s']:6.2f} Mtok/s, fwd+bwd {row['fwdbwd_Mtok_s']:6.2f} Mtok/s",
                  flush=True)
            del q, k, v, do, o, dq, dk_, dv_
            torch.cuda.empty_cache()
    R.set_path(0)


CASES = (
    dict(name='paper dims, tile 32', B=2, T=1000, H=4, dk=256, dv=512, tile=32),
    dict(name='paper dims, tile 64, fp32 out', B=2, T=1000, H=4, dk=256, dv=512, tile=64,
         odt=F32, gdt=F32),
    dict(name='H16 dims, no dS_T, tile 64', B=2, T=777, H=6, dk=128, dv=256, dfinal=False,
         tile=64),
    dict(name='H16 dims, accumulate', B=2, T=300, H=3, dk=128, dv=256, gdt=F32,
         accumulate=True),
    dict(name='odd dims 72/40, T 37', B=1, T=37, H=3, dk=72, dv=40, odt=F32, gdt=F32),
    dict(name='T 1', B=3, T=1, H=2, dk=64, dv=64, odt=F32, gdt=F32),
    dict(name='dk 512, no state', B=1, T=300, H=2, dk=512, dv=128, init=False,
         dfinal=False, odt=F32, gdt=F32),
    dict(name='dk 512 dv 384 with states, fp32', B=2, T=200, H=2, dk=512, dv=384, odt=F32,
         gdt=F32),
    dict(name='dk 384 dv 512 with states, bf16', B=1, T=150, H=3, dk=384, dv=512),
    dict(name='dk 24 dv 512 tile 64', B=1, T=130, H=2, dk=24, dv=512, tile=64),
    dict(name='dk 200 dv 136, T 64', B=2, T=64, H=2, dk=200, dv=136, odt=F32, gdt=F32),
    dict(name='T 0 (state only)', B=2, T=0, H=2, dk=128, dv=128, odt=F32, gdt=F32),
    dict(name='dk 64 dv 64, T 200 (whole chunks of KC 64)', B=2, T=200, H=2, dk=64, dv=64),
)


def correctness(R):
    ok = True
    for c in CASES:
        try:
            ok &= case(R, **c)
        except Exception as exc:  # keep going: report every case
            ok = False
            print(f"  BAD {PREFIX[0]}{c['name']}: {exc!r}", flush=True)
            RES['checks'].append({'name': PREFIX[0] + c['name'], 'ok': False, 'error': repr(exc)})
    try:
        ok &= step_cases(R)
        ok &= error_cases(R)
    except Exception as exc:
        ok = False
        print(f'  BAD step cases: {exc!r}', flush=True)
        RES['checks'].append({'name': PREFIX[0] + 'step cases', 'ok': False, 'error': repr(exc)})
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lib', default=None)
    ap.add_argument('--no-time', action='store_true')
    ap.add_argument('--all-tiles', action='store_true', help='time tiles 32 and 64 on mma.sync too')
    ap.add_argument('--cluster-check', action='store_true',
                    help='also check and time the Hopper kernel without clusters (no multicast)')
    args = ap.parse_args()
    seed = int(os.environ.get('RETNET_LAB_SEED', int(time.time()) % 100000))
    torch.manual_seed(seed)
    R = Retention(args.lib)
    RES['meta'] = {'seed': seed, 'gpu': torch.cuda.get_device_name(0), 'lib': R.path,
                   'torch': torch.__version__,
                   'date_utc': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()),
                   'tolerances': {'rel_l2': TOL_REL, 'max_rel': TOL_MAX, 'step': TOL_STEP}}
    have = R.have_wgmma()
    RES['meta']['have_wgmma'] = have
    print(f"seed {seed}, {RES['meta']['gpu']}, {R.path}, wgmma kernel: {have}", flush=True)
    ok = True
    paths = {}
    if have:
        st_ok = wgmma_selftest(R)
        ok &= st_ok
        PREFIX[0] = 'wgmma+TMA: '
        R.set_path(2)
        paths['wgmma+TMA'] = correctness(R)
        ok &= paths['wgmma+TMA']
        if R.lib_has_cp_path():
            PREFIX[0] = 'wgmma+cp.async: '
            R.set_path(3)
            paths['wgmma+cp.async'] = correctness(R)
            ok &= paths['wgmma+cp.async']
        if args.cluster_check:  # the same cases without clusters (no multicast)
            PREFIX[0] = 'wgmma, no cluster: '
            R.set_cluster(1)
            paths['wgmma-nocluster'] = correctness(R)
            ok &= paths['wgmma-nocluster']
            R.set_cluster(0)
    PREFIX[0] = 'mma.sync: ' if have else ''
    R.set_path(1)
    paths['mma.sync'] = correctness(R)
    ok &= paths['mma.sync']
    R.set_path(0)
    PREFIX[0] = ''
    RES['paths_ok'] = paths
    n_ok = sum(1 for c in RES['checks'] if c.get('ok'))
    print(f"CORRECTNESS: {n_ok} passed, {len(RES['checks']) - n_ok} failed; by path {paths}",
          flush=True)
    RES['all_ok'] = bool(ok)
    if not args.no_time:
        if have:
            timings(R, 0, label='auto')
            timings(R, 2, (0,), label='wgmma+TMA')
            if R.lib_has_cp_path():
                timings(R, 3, (0,), label='wgmma+cp.async')
            if args.cluster_check:
                R.set_cluster(1)
                timings(R, 2, (0,), label='wgmma-nocluster')
                R.set_cluster(0)
        timings(R, 1, (0,) if have and not args.all_tiles else (0, 32, 64))
    out = os.environ.get('OUT') or '.'
    with open(os.path.join(out, 'lab.json'), 'w') as f:
        json.dump(RES, f, indent=1)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
