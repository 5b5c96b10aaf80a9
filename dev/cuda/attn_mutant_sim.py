#!/usr/bin/env python3
"""attn_mutant_sim.py (lab): how often test_cuda_attention's decode check with ctx = 17, B = 1,
H = 3 would see its off-by-one mutant pass (the reference with one key fewer inside the
bound of check_rows, split path) on a correct kernel, in float64, by q's amplitude (k and v
uniform in [-1, 1), as cache_append fills them). Needs numpy (/usr/bin/python3 with Debian's
python3-numpy).  python3 attn_mutant_sim.py [draws]"""
import sys
import numpy as np

R, U = 2.0 ** -8, 2.0 ** -24


def ref(q, K, V, n, scale):
    H = q.shape[0]
    dv = V.shape[2]
    o, A, B, M = (np.zeros((H, dv)) for _ in range(4))
    for h in range(H):
        s = scale * (K[:n, h] @ q[h])
        a = scale * np.abs(K[:n, h] * q[h]).sum(1)
        p = np.exp(s - s.max())
        p /= p.sum()
        o[h] = p @ V[:n, h]
        A[h] = (p * a) @ np.abs(V[:n, h] - o[h])
        B[h] = p @ np.abs(V[:n, h])
        M[h] = np.abs(V[:n, h]).max(0)
    return o, A, B, M


def trial(rng, qa, H=3, dk=128, dv=128, ctx=17):
    K = rng.uniform(-1, 1, (ctx, H, dk))
    V = rng.uniform(-1, 1, (ctx, H, dv))
    q = rng.uniform(-qa, qa, (H, dk))
    sc = 1 / np.sqrt(dk)
    o = ref(q, K, V, ctx, sc)[0]
    ml = ctx - 2  # the limit one key short
    om, A, B, M = ref(q, K, V, ml + 1, sc)
    tol = 2 * (R * A + R * B) + 4 * (dk + ml + 65) * U * (A + B) + 64 * U * M
    return (np.abs(o - om) / tol).max()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    rng = np.random.default_rng(1)
    for dk in (128, 64, 40):
        for qa in (3.0, 1.0):
            r = np.array([trial(rng, qa, dk=dk, dv=dk) for _ in range(n)])
            print(f"dk {dk:3d} q amplitude {qa}: mutant passes in {(r <= 1).mean():.4f} of "
                  f"{n} draws, least err/tol {r.min():.3f}")


if __name__ == "__main__":
    main()
