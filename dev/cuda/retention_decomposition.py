#!/usr/bin/env python3
"""The algebra behind src/cuda/retention.cu, checked in float64 on the CPU (no GPU needed).

The CUDA file has one chunkwise kernel, `run` below: the forward of RETNET.md §2 (chunkwise
form) with a scale on q.k, time optionally reversed, an initial state and a state mode. Its
backward is three such runs with the operands swapped:
  dq = run(q := dO, k := V,  v := K,  forward,  initial S0^T)
  dk = run(q := V,  k := dO, v := Q,  reversed, initial dS_T^T / (scale gamma))
  dv = run(q := K,  k := Q,  v := dO, reversed, initial dS_T   / (scale gamma)),
       dS0 = scale gamma * (final state of that run)
This script checks these against torch autograd of the recurrent form, loss = <o, dO> +
<S_T, dS_T>, for T = 37 and chunk lengths 1, 2, 5, 8, 64: every difference is ~1e-15.
It also checks the lab's contraction split (lab flag 32 in retention.cu): a run over the
columns [0, a) of q and k and then over [a, Kc), each with its rows of the initial state, gives
o as the sum of the two o's and the final state as the two final states' rows stacked.
  python3 dev/cuda/retention_decomposition.py      (torch CPU, e.g. Debian's python3-torch)
"""
import torch

D = torch.float64


def run(q, k, v, g, scale, reverse, X, C, grad_state=False):
    """o (T, Vo), final state (Kc, Vo): the chunkwise kernel, one head."""
    T, Kc = q.shape
    Vo = v.shape[1]
    if reverse:
        q, k, v = q.flip(0), k.flip(0), v.flip(0)
    if X is None:
        S = torch.zeros(Kc, Vo, dtype=D)
    else:
        S = X / (scale * g) if grad_state else X.clone()
    o = torch.zeros(T, Vo, dtype=D)
    for c0 in range(0, T, C):
        L = min(C, T - c0)
        Q, K, V = q[c0:c0 + L], k[c0:c0 + L], v[c0:c0 + L]
        n = torch.arange(L)
        Dm = torch.where(n[:, None] >= n[None, :], g ** (n[:, None] - n[None, :]).double(),
                         torch.zeros(1, dtype=D))
        xi = g ** (n + 1).double()
        zeta = g ** (L - 1 - n).double()
        o[c0:c0 + L] = scale * (Q @ K.T * Dm) @ V + scale * xi[:, None] * (Q @ S)
        S = g ** L * S + K.T @ (zeta[:, None] * V)
    if reverse:
        o = o.flip(0)
    return o, (scale * g * S if grad_state else S)


def run_split(q, k, v, g, scale, reverse, X, C, grad_state=False, at=1):
    """run() as two runs over the contraction's columns [0, at) and [at, Kc) (lab flag 32)"""
    oa, Sa = run(q[:, :at], k[:, :at], v, g, scale, reverse, None if X is None else X[:at], C,
                 grad_state)
    ob, Sb = run(q[:, at:], k[:, at:], v, g, scale, reverse, None if X is None else X[at:], C,
                 grad_state)
    return oa + ob, torch.cat((Sa, Sb), 0)


def main():
    torch.manual_seed(0)
    T, dk, dv, g = 37, 6, 5, 0.9
    sc = dk ** -0.5
    q, k = (torch.randn(T, dk, dtype=D, requires_grad=True) for _ in range(2))
    v = torch.randn(T, dv, dtype=D, requires_grad=True)
    S0 = torch.randn(dk, dv, dtype=D, requires_grad=True)
    S, os_ = S0, []
    for t in range(T):                       # recurrent form: S = g S + k^T v, o = scale q S
        S = g * S + k[t][:, None] * v[t][None, :]
        os_.append(sc * q[t] @ S)
    o_ref, S_ref = torch.stack(os_), S
    do, dST = torch.randn(T, dv, dtype=D), torch.randn(dk, dv, dtype=D)
    ((o_ref * do).sum() + (S_ref * dST).sum()).backward()
    worst = 0.0
    for C in (1, 2, 5, 8, 64):
        with torch.no_grad():
            o, ST = run(q, k, v, g, sc, False, S0, C)
            dq, _ = run(do, v, k, g, sc, False, S0.T, C)
            dk_, _ = run(v, do, q, g, sc, True, dST.T, C, grad_state=True)
            dv_, dS0 = run(k, q, do, g, sc, True, dST, C, grad_state=True)
        errs = [float((a - b).abs().max()) for a, b in
                ((o, o_ref), (ST, S_ref), (dq, q.grad), (dk_, k.grad), (dv_, v.grad), (dS0, S0.grad))]
        worst = max(worst, max(errs))
        print(f'C={C:<3} max|diff| o, S_T, dq, dk, dv, dS0: ' + ' '.join(f'{e:.1e}' for e in errs))
        for at in (1, 2, 4):  # the split: contraction dk = 6 (forward, dv pass), dv = 5 (dq, dk)
            with torch.no_grad():
                o, ST = run_split(q, k, v, g, sc, False, S0, C, at=at)
                dq, _ = run_split(do, v, k, g, sc, False, S0.T, C, at=at)
                dk_, _ = run_split(v, do, q, g, sc, True, dST.T, C, grad_state=True, at=at)
                dv_, dS0 = run_split(k, q, do, g, sc, True, dST, C, grad_state=True, at=at)
            errs = [float((a - b).abs().max()) for a, b in
                    ((o, o_ref), (ST, S_ref), (dq, q.grad), (dk_, k.grad), (dv_, v.grad),
                     (dS0, S0.grad))]
            worst = max(worst, max(errs))
            print(f'      split at {at}: ' + ' '.join(f'{e:.1e}' for e in errs))
    print('ok' if worst < 1e-12 else 'FAILED')
    return 0 if worst < 1e-12 else 1


if __name__ == '__main__':
    raise SystemExit(main())
