"""
retnet_ref.py: an independent RetNet in PyTorch, written from /work/shared/RETNET.md only
(never from the C code), used to make the committed test fixtures (make_fixtures.py).

Everything here is deliberately naive: the PARALLEL form materialises the T x T retention
matrix per head and is the primary definition; the recurrent and chunkwise forms exist only
to check it (self_check() asserts that the three forms agree to ~1e-12 in float64).

Conventions (RETNET.md):
  - tokens (B, T) int, activations (B, T, d); per head dk = d_key / h, dv = d_value / h.
  - Linear weights are (out, in) as in PyTorch: y = x @ W.T; no biases in projections.
  - Parameter names and order are those of src/params.h (torchscale's names).
  - Positions are absolute and 0-based (a pass may start at pos0 > 0 from a recurrent state).

Config: a dict with the keys of our checkpoint metadata (docs/FILE_FORMAT.md):
  arch, vocab, d_model, n_layer, n_head, d_key, d_value, d_ffn, norm (layernorm|rmsnorm),
  head_norm (groupnorm|rmsnorm), head_norm_affine, ffn (gelu|glu), ffn_act (gelu|swish),
  rope (paper|half), rope_base, decay (pow2|linspace), normalize, eps, tie_embeddings,
  embed_scale, chunk.
"""
import math

import torch

# ------------------------------------------------------------------------- parameters


def param_table(cfg):
    """[(name, shape)] in checkpoint order, exactly as src/params.h declares it."""
    d, dk, dv, h = cfg["d_model"], cfg["d_key"], cfg["d_value"], cfg["n_head"]
    ln = cfg["norm"] == "layernorm"
    gn = cfg["head_norm"] == "groupnorm"
    glu = cfg["ffn"] == "glu"
    out = [("embed_tokens.weight", (cfg["vocab"], d))]
    for l in range(cfg["n_layer"]):
        p = "layers.%d." % l
        rows = [
            ("retention_layer_norm.weight", (d,), True),
            ("retention_layer_norm.bias", (d,), ln),
            ("retention.q_proj.weight", (dk, d), True),
            ("retention.k_proj.weight", (dk, d), True),
            ("retention.v_proj.weight", (dv, d), True),
            ("retention.g_proj.weight", (dv, d), True),
            ("retention.out_proj.weight", (d, dv), True),
            ("retention.group_norm.weight", (dv,) if gn else (dv // h,), cfg["head_norm_affine"]),
            ("retention.group_norm.bias", (dv,), cfg["head_norm_affine"] and gn),
            ("final_layer_norm.weight", (d,), True),
            ("final_layer_norm.bias", (d,), ln),
            ("ffn.fc1.weight", (cfg["d_ffn"], d), True),
            ("ffn.gate.weight", (cfg["d_ffn"], d), glu),
            ("ffn.fc2.weight", (d, cfg["d_ffn"]), True),
        ]
        out += [(p + n, s) for (n, s, present) in rows if present]
    out.append(("layer_norm.weight", (d,)))
    if ln:
        out.append(("layer_norm.bias", (d,)))
    if not cfg["tie_embeddings"]:
        out.append(("output_projection.weight", (cfg["vocab"], d)))
    return out


# ------------------------------------------------------------------------- building blocks


def gammas(cfg, dtype=torch.float64):
    """Per-head decay (RETNET.md §2), computed in float64."""
    h = cfg["n_head"]
    if cfg["decay"] == "pow2":
        g = [1.0 - 2.0 ** (-5 - i) for i in range(h)]
    elif cfg["decay"] == "linspace":
        a, b = math.log(1 / 32), math.log(1 / 512)
        if h == 1:
            g = [1.0 - math.exp(a)]
        else:
            g = [1.0 - math.exp(a + (b - a) * i / (h - 1)) for i in range(h)]
    else:
        raise ValueError(cfg["decay"])
    return torch.tensor(g, dtype=torch.float64).to(dtype)


def thetas(cfg):
    """Rotation frequencies theta_j, j = 0 .. dk/2-1 (float64)."""
    dk = cfg["d_key"] // cfg["n_head"]
    half = dk // 2
    base = float(cfg["rope_base"])
    j = torch.arange(half, dtype=torch.float64)
    if cfg["rope"] == "paper":
        if half == 1:
            return torch.ones(1, dtype=torch.float64)     # dk == 2: theta = 1
        return base ** (-(j / (half - 1)))
    elif cfg["rope"] == "half":
        return base ** (-2.0 * j / dk)
    raise ValueError(cfg["rope"])


def rotate(x, pos0, cfg):
    """x (B, T, h, dk) at absolute positions pos0 .. pos0+T-1; pair (a, b) rotated by n*theta:
    (a cos - b sin, b cos + a sin). paper: pairs (2j, 2j+1); half: pairs (j, j + dk/2)."""
    T, dk = x.shape[1], x.shape[3]
    n = torch.arange(pos0, pos0 + T, dtype=torch.float64)
    ang = n[:, None] * thetas(cfg)[None, :]                  # (T, dk/2), float64
    cos = torch.cos(ang).to(x.dtype)[None, :, None, :]
    sin = torch.sin(ang).to(x.dtype)[None, :, None, :]
    if cfg["rope"] == "paper":
        a, b = x[..., 0::2], x[..., 1::2]
        ra, rb = a * cos - b * sin, b * cos + a * sin
        return torch.stack([ra, rb], dim=-1).reshape(x.shape)
    else:
        a, b = x[..., : dk // 2], x[..., dk // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def norm(x, w, b, cfg):
    """Pre-norm / final norm over the last dim (RETNET.md §5)."""
    eps = cfg["eps"]
    if cfg["norm"] == "layernorm":
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * w + b
    ms = (x * x).mean(-1, keepdim=True)
    return x / torch.sqrt(ms + eps) * w


def head_norm(o, w, b, cfg):
    """o (B, T, h, dv): normalised per head over dv (RETNET.md §4); returns (B, T, h*dv)."""
    eps = cfg["eps"]
    B, T, h, dv = o.shape
    if cfg["head_norm"] == "groupnorm":
        mu = o.mean(-1, keepdim=True)
        var = ((o - mu) ** 2).mean(-1, keepdim=True)
        y = ((o - mu) / torch.sqrt(var + eps)).reshape(B, T, h * dv)
        if cfg["head_norm_affine"]:
            y = y * w + b                                    # weight, bias of width d_value
        return y
    ms = (o * o).mean(-1, keepdim=True)
    y = o / torch.sqrt(ms + eps)
    if cfg["head_norm_affine"]:
        y = y * w                                            # weight of width dv, shared by heads
    return y.reshape(B, T, h * dv)


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # exact (erf) gelu


def swish(x):
    return x * torch.sigmoid(x)


def linear(x, w):
    return x @ w.t()


# ------------------------------------------------------------------------- retention, 3 forms
# q, k: (B, T, h, dk) already rotated (k scaled); v: (B, T, h, dv); gamma: (h,).
# All return o: (B, T, h, dv) and the final state: S (B, h, dk, dv), z (B, h, dk) (the key sums
# that the §3 score normalisation needs), after absolute position pos0 + T.


def decay_rowsum(gamma, pos):
    """sum_{i<=n} gamma^(n-i) over i = 0 .. n for absolute positions pos (tensor of ints):
    (1 - gamma^(n+1)) / (1 - gamma). Shape (len(pos), h). Float64."""
    g = gamma.to(torch.float64)
    n = pos.to(torch.float64)[:, None]
    return (1.0 - g[None, :] ** (n + 1)) / (1.0 - g[None, :])


def retention_parallel(q, k, v, gamma, normalize, pos0=0, state=None, stats=None):
    """The primary definition (RETNET.md §2 form 1, §3): materialise Q K^T ⊙ D per head.
    A nonzero start state (S, z) at pos0 contributes the terms of the earlier tokens."""
    B, T, h, dk = q.shape
    dt = q.dtype
    n = torch.arange(T)
    diff = (n[:, None] - n[None, :]).to(torch.float64)
    D = torch.where(diff[None] >= 0, gamma.to(torch.float64)[:, None, None] ** diff[None].clamp(min=0),
                    torch.zeros((), dtype=torch.float64)).to(dt)            # (h, T, T)
    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # (B, h, T, .)
    R = (qh @ kh.transpose(-1, -2)) * D[None]                               # (B, h, T, T)
    num = R @ vh                                                            # (B, h, T, dv)
    rowsum = R.sum(-1)                                                      # (B, h, T)
    if state is not None:
        S0, z0 = state
        # earlier tokens i < pos0 seen through the state: sum_i gamma^(n-i) K_i V_i
        # = gamma^(n-pos0+1) S0 for n >= pos0 (local row j: gamma^(j+1))
        xi = (gamma.to(torch.float64)[:, None] ** (n.to(torch.float64)[None, :] + 1)).to(dt)  # (h, T)
        num = num + (qh @ S0) * xi[None, :, :, None]
        rowsum = rowsum + (qh @ z0[..., None])[..., 0] * xi[None]
    if normalize:
        # D~ = D / sqrt(sum_{i<=n} D[n,i]) (absolute rows), R~ = R / max(|rowsum R|, 1)
        dsum = decay_rowsum(gamma, torch.arange(pos0, pos0 + T)).t().to(dt)  # (h, T)
        scale = torch.sqrt(dsum)[None]                                      # (1, h, T)
        num = num / scale[..., None]
        rowsum = rowsum / scale
        num = num / torch.clamp(rowsum.abs(), min=1.0)[..., None]
        if stats is not None:  # how many rows the max(|.|, 1) clamp leaves alone / divides
            stats["rows"] = stats.get("rows", 0) + rowsum.numel()
            stats["divided"] = stats.get("divided", 0) + int((rowsum.abs() > 1).sum())
            # distance to the clamp's kink (where a gradient is discontinuous)
            stats["margin"] = min(stats.get("margin", math.inf),
                                  (rowsum.abs() - 1.0).abs().min().item())
    # final state: S_T = sum_m gamma^(T-1-m) K_m^T V_m (+ gamma^T S0)
    zeta = (gamma.to(torch.float64)[:, None] ** (T - 1 - n.to(torch.float64))[None, :]).to(dt)  # (h, T)
    kz = kh * zeta[None, :, :, None]
    S = kz.transpose(-1, -2) @ vh
    z = kz.sum(2)
    if state is not None:
        gT = (gamma.to(torch.float64) ** T).to(dt)
        S = S + gT[None, :, None, None] * state[0]
        z = z + gT[None, :, None] * state[1]
    return num.transpose(1, 2), (S, z)


def retention_recurrent(q, k, v, gamma, normalize, pos0=0, state=None):
    """RETNET.md §2 form 2: S_n = gamma S_{n-1} + K_n^T V_n, o_n = Q_n S_n; with §3 the same
    scalars carried recurrently (z_n = gamma z_{n-1} + K_n, row sum of R = Q_n z_n / sqrt(dsum))."""
    B, T, h, dk = q.shape
    dv = v.shape[-1]
    dt = q.dtype
    g = gamma.to(dt)[None, :, None, None]
    if state is None:
        S = torch.zeros(B, h, dk, dv, dtype=dt)
        z = torch.zeros(B, h, dk, dtype=dt)
    else:
        S, z = state[0].clone(), state[1].clone()
    outs = []
    for t in range(T):
        qt, kt, vt = q[:, t], k[:, t], v[:, t]                 # (B, h, dk|dv)
        S = g * S + kt[..., :, None] * vt[..., None, :]
        z = g[..., 0] * z + kt
        o = (qt[..., None, :] @ S)[..., 0, :]                 # (B, h, dv)
        if normalize:
            dsum = decay_rowsum(gamma, torch.tensor([pos0 + t]))[0].to(dt)  # (h,)
            sc = torch.sqrt(dsum)[None, :]
            rs = (qt * z).sum(-1) / sc
            o = o / sc[..., None] / torch.clamp(rs.abs(), min=1.0)[..., None]
        outs.append(o)
    return torch.stack(outs, 1), (S, z)


def retention_chunkwise(q, k, v, gamma, normalize, C, pos0=0, state=None):
    """RETNET.md §2 form 3 (corrected form), chunks of C tokens, last chunk may be shorter."""
    B, T, h, dk = q.shape
    dv = v.shape[-1]
    dt = q.dtype
    if state is None:
        S = torch.zeros(B, h, dk, dv, dtype=dt)
        z = torch.zeros(B, h, dk, dtype=dt)
    else:
        S, z = state
    outs = []
    for s in range(0, T, C):
        L = min(C, T - s)
        o, (S, z) = _chunk(q[:, s:s + L], k[:, s:s + L], v[:, s:s + L], gamma, normalize, pos0 + s, S, z)
        outs.append(o)
    return torch.cat(outs, 1), (S, z)


def _chunk(q, k, v, gamma, normalize, pos, S, z):
    B, L, h, dk = q.shape
    dt = q.dtype
    g64 = gamma.to(torch.float64)
    j = torch.arange(L, dtype=torch.float64)
    diff = j[:, None] - j[None, :]
    D = torch.where(diff[None] >= 0, g64[:, None, None] ** diff[None].clamp(min=0),
                    torch.zeros((), dtype=torch.float64)).to(dt)            # (h, L, L)
    xi = (g64[:, None] ** (j[None, :] + 1)).to(dt)                          # (h, L)
    zeta = (g64[:, None] ** (L - j - 1)[None, :]).to(dt)                    # (h, L)
    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    Rin = (qh @ kh.transpose(-1, -2)) * D[None]
    num = Rin @ vh + (qh @ S) * xi[None, :, :, None]
    rowsum = Rin.sum(-1) + (qh @ z[..., None])[..., 0] * xi[None]
    if normalize:
        dsum = decay_rowsum(gamma, torch.arange(pos, pos + L)).t().to(dt)
        sc = torch.sqrt(dsum)[None]
        num = num / sc[..., None] / torch.clamp((rowsum / sc).abs(), min=1.0)[..., None]
    gL = (g64 ** L).to(dt)
    kz = kh * zeta[None, :, :, None]
    S = kz.transpose(-1, -2) @ vh + gL[None, :, None, None] * S
    z = kz.sum(2) + gL[None, :, None] * z
    return num.transpose(1, 2), (S, z)


# ------------------------------------------------------------------------- the network


class RetNet:
    """params: dict name -> tensor (any float dtype; cast to `dtype` here)."""

    def __init__(self, cfg, params, dtype=torch.float64):
        self.cfg = cfg
        self.dtype = dtype
        names = [n for n, _ in param_table(cfg)]
        assert sorted(names) == sorted(params.keys()), "parameter set does not match the config"
        for n, s in param_table(cfg):
            assert tuple(params[n].shape) == tuple(s), (n, params[n].shape, s)
        self.p = {n: t.to(dtype) for n, t in params.items()}
        self.gamma = gammas(cfg)
        self.stats = None   # set to a dict to count the §3 clamp's branches (parallel form)

    def _get(self, name):
        return self.p.get(name)

    def forward(self, tokens, form="parallel", chunk=None, states=None, pos0=0, trace=None):
        """tokens (B, T) int64. states: None or a list (per layer) of (S, z) to start from at
        absolute position pos0. Returns logits (B, T, vocab) and the per-layer final states.
        trace: optional list that receives each layer's raw retention output (B, T, h, dv),
        before the head norm."""
        cfg, p = self.cfg, self.p
        d, h = cfg["d_model"], cfg["n_head"]
        dk, dv = cfg["d_key"] // h, cfg["d_value"] // h
        B, T = tokens.shape
        x = p["embed_tokens.weight"][tokens]
        if cfg["embed_scale"]:
            x = x * math.sqrt(d)
        new_states = []
        for l in range(cfg["n_layer"]):
            pre = "layers.%d." % l
            g = lambda n: p.get(pre + n)
            xn = norm(x, g("retention_layer_norm.weight"), g("retention_layer_norm.bias"), cfg)
            q = linear(xn, g("retention.q_proj.weight")).reshape(B, T, h, dk)
            k = linear(xn, g("retention.k_proj.weight")).reshape(B, T, h, dk)
            v = linear(xn, g("retention.v_proj.weight")).reshape(B, T, h, dv)
            q = rotate(q, pos0, cfg)
            k = rotate(k, pos0, cfg) * (dk ** -0.5)
            st = None if states is None else states[l]
            if form == "parallel":
                o, st = retention_parallel(q, k, v, self.gamma, cfg["normalize"], pos0, st, self.stats)
            elif form == "recurrent":
                o, st = retention_recurrent(q, k, v, self.gamma, cfg["normalize"], pos0, st)
            elif form == "chunkwise":
                o, st = retention_chunkwise(q, k, v, self.gamma, cfg["normalize"],
                                            chunk or cfg["chunk"], pos0, st)
            else:
                raise ValueError(form)
            if trace is not None:
                trace.append(o)
            new_states.append(st)
            y = head_norm(o, g("retention.group_norm.weight"), g("retention.group_norm.bias"), cfg)
            y = swish(linear(xn, g("retention.g_proj.weight"))) * y
            x = x + linear(y, g("retention.out_proj.weight"))
            xn = norm(x, g("final_layer_norm.weight"), g("final_layer_norm.bias"), cfg)
            if cfg["ffn"] == "gelu":
                f = gelu(linear(xn, g("ffn.fc1.weight")))
            else:
                act = gelu if cfg["ffn_act"] == "gelu" else swish
                f = act(linear(xn, g("ffn.fc1.weight"))) * linear(xn, g("ffn.gate.weight"))
            x = x + linear(f, g("ffn.fc2.weight"))
        x = norm(x, p["layer_norm.weight"], p.get("layer_norm.bias"), cfg)
        wout = p["embed_tokens.weight"] if cfg["tie_embeddings"] else p["output_projection.weight"]
        return linear(x, wout), new_states


# ------------------------------------------------------------------------- self-checks


def _maxdiff(a, b):
    return (a - b).abs().max().item() / max(b.abs().max().item(), 1e-300)


def self_check(cfg, params, tokens, tol=1e-12, verbose=False):
    """Asserts, in float64, that the three forms agree (raw retention outputs before the head
    norm with eps = 0 and with the config's eps, the logits, and the final states), for several
    chunk lengths, and that a split run (parallel/chunkwise prefill, then recurrent decoding from
    the state) matches the one-pass logits. Returns the largest relative difference seen."""
    worst = 0.0
    _check_blocks(cfg)
    for eps, normalize in ((0.0, cfg["normalize"]), (cfg["eps"], cfg["normalize"]),
                           (0.0, not cfg["normalize"])):
        c2 = dict(cfg, eps=eps, normalize=normalize)
        m = RetNet(c2, params, torch.float64)
        tr_p = []
        ref, st_p = m.forward(tokens, "parallel", trace=tr_p)
        T = tokens.shape[1]
        runs = [("recurrent", None)] + [("chunkwise", C) for C in (1, 2, 3, 5, 8, T, T + 5)]
        for form, C in runs:
            tr = []
            lg, st = m.forward(tokens, form, chunk=C, trace=tr)
            for a, b in zip(tr, tr_p):
                worst = max(worst, _maxdiff(a, b))
            for (S, z), (S0, z0) in zip(st, st_p):
                worst = max(worst, _maxdiff(S, S0), _maxdiff(z, z0))
            worst = max(worst, _maxdiff(lg, ref))
            if verbose:
                print("  eps=%g %s C=%s: worst so far %.3g" % (eps, form, C, worst))
        # split: prefill T1 tokens, continue from the state
        T1 = T // 3 + 1
        for pre_form, cont_form in (("parallel", "recurrent"), ("chunkwise", "recurrent"),
                                    ("recurrent", "parallel"), ("parallel", "chunkwise")):
            lg1, st = m.forward(tokens[:, :T1], pre_form, chunk=4)
            lg2, _ = m.forward(tokens[:, T1:], cont_form, chunk=3, states=st, pos0=T1)
            worst = max(worst, _maxdiff(torch.cat([lg1, lg2], 1), ref))
    assert worst < tol, "forms disagree: %.3g" % worst
    return worst


def _check_blocks(cfg):
    """The building blocks against PyTorch's own modules and the definitions' properties."""
    import torch.nn.functional as F
    gen = torch.Generator().manual_seed(1)
    d, h = cfg["d_model"], cfg["n_head"]
    dk, dv = cfg["d_key"] // h, cfg["d_value"] // h
    x = torch.randn(2, 5, d, generator=gen, dtype=torch.float64)
    w = 1 + 0.1 * torch.randn(d, generator=gen, dtype=torch.float64)
    b = 0.1 * torch.randn(d, generator=gen, dtype=torch.float64)
    eps = 1e-5
    c = dict(cfg, eps=eps, norm="layernorm")
    assert _maxdiff(norm(x, w, b, c), F.layer_norm(x, (d,), w, b, eps)) < 1e-13
    o = torch.randn(2, 5, h, dv, generator=gen, dtype=torch.float64)
    wv = 1 + 0.1 * torch.randn(h * dv, generator=gen, dtype=torch.float64)
    bv = 0.1 * torch.randn(h * dv, generator=gen, dtype=torch.float64)
    c = dict(cfg, eps=eps, head_norm="groupnorm", head_norm_affine=True)
    gn = F.group_norm(o.reshape(10, h * dv), h, wv, bv, eps).reshape(2, 5, h * dv)
    assert _maxdiff(head_norm(o, wv, bv, c), gn) < 1e-13
    assert _maxdiff(gelu(x), F.gelu(x)) < 1e-14
    assert _maxdiff(swish(x), F.silu(x)) < 1e-14
    # rotation: q_n . k_m depends on n - m only, and preserves norms
    qv = torch.randn(1, 1, 1, dk, generator=gen, dtype=torch.float64)
    kv = torch.randn(1, 1, 1, dk, generator=gen, dtype=torch.float64)
    rq = rotate(qv.expand(1, 12, 1, dk).contiguous(), 0, cfg)
    rk = rotate(kv.expand(1, 12, 1, dk).contiguous(), 0, cfg)
    dots = (rq[0, :, 0] @ rk[0, :, 0].t())
    for n in range(3, 12):
        assert abs(dots[n, n - 3] - dots[3, 0]) < 1e-12
    assert _maxdiff(rq.norm(dim=-1), qv.norm(dim=-1).expand(1, 12, 1)) < 1e-13
    # pair convention: position 1 rotates pair 0 by theta_0 (= 1 rad in both conventions)
    e = torch.zeros(1, 2, 1, dk, dtype=torch.float64)
    e[0, :, 0, 0] = 1.0
    r = rotate(e, 0, cfg)[0, 1, 0]
    partner = 1 if cfg["rope"] == "paper" else dk // 2
    assert abs(r[0] - math.cos(1.0)) < 1e-15 and abs(r[partner] - math.sin(1.0)) < 1e-15


# ------------------------------------------------------------------------- training
# The training objective of retnet_forward_backward (include/retnet.h) and the AdamW of
# retnet_adamw_step, for the gradient fixtures (make_fixtures.py, grad_*). Gradients come from
# PyTorch's autograd through the parallel form above (the definition); grad_self_check shows
# that autograd through the recurrent and chunkwise forms gives the same gradients and that
# they are the derivative of the loss (central differences).


def token_loss_sum(logits, targets):
    """Sum over counted positions (target >= 0) of -log softmax(logits)[target], and the count.
    logits (B, T, V), targets (B, T) int64 with -1 = not counted."""
    mask = targets >= 0
    lse = torch.logsumexp(logits, -1)
    picked = logits.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return ((lse - picked) * mask.to(logits.dtype)).sum(), int(mask.sum())


def leaves(params, dtype=torch.float64):
    """Fresh leaf tensors (requires_grad) of the given dtype, same names."""
    return {n: t.detach().clone().to(dtype).requires_grad_(True) for n, t in params.items()}


def loss_and_grads(cfg, params, tokens, targets, form="parallel", chunk=None, dtype=torch.float64):
    """(loss_sum, count, {name: d loss_sum / d param}) by autograd, computing in `dtype`."""
    p = leaves(params, dtype)
    logits, _ = RetNet(cfg, p, dtype).forward(tokens, form, chunk=chunk)
    loss, count = token_loss_sum(logits, targets)
    loss.backward()
    return loss.item(), count, {n: t.grad.detach().clone() for n, t in p.items()}


def decayed(name, shape):
    """AdamW weight decay applies to the 2-D weights (projections, embedding, output
    projection), not to the norms' weights and biases (include/retnet.h)."""
    return len(shape) == 2


def adamw_run(cfg, params, tokens, targets, steps, lr, betas, eps, weight_decay,
              dtype=torch.float64, manual=False, visit=None):
    """`steps` AdamW steps on the same batch, loss = mean over counted targets (grad_scale =
    1/count), no clipping. Returns (losses before each step, final params); visit(params), if
    given, sees the parameters before each step. manual=False uses
    torch.optim.AdamW; manual=True the formula of include/retnet.h written out:
        p -= lr*wd*p (decayed only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)"""
    p = leaves(params, dtype)
    names = list(p.keys())
    dec = [n for n in names if decayed(n, p[n].shape)]
    nodec = [n for n in names if not decayed(n, p[n].shape)]
    if not manual:
        opt = torch.optim.AdamW([{"params": [p[n] for n in dec], "weight_decay": weight_decay},
                                 {"params": [p[n] for n in nodec], "weight_decay": 0.0}],
                                lr=lr, betas=betas, eps=eps)
    m1 = {n: torch.zeros_like(p[n]) for n in names}
    m2 = {n: torch.zeros_like(p[n]) for n in names}
    b1, b2 = betas
    losses = []
    for t in range(1, steps + 1):
        for n in names:
            p[n].grad = None
        if visit is not None:
            visit({n: t.detach() for n, t in p.items()})
        logits, _ = RetNet(cfg, p, dtype).forward(tokens, "parallel")
        loss_sum, count = token_loss_sum(logits, targets)
        loss = loss_sum / count
        losses.append(loss.item())
        loss.backward()
        if not manual:
            opt.step()
            continue
        with torch.no_grad():
            for n in names:
                g = p[n].grad
                if n in dec:
                    p[n].mul_(1.0 - lr * weight_decay)
                m1[n] = b1 * m1[n] + (1.0 - b1) * g
                m2[n] = b2 * m2[n] + (1.0 - b2) * g * g
                mh = m1[n] / (1.0 - b1 ** t)
                vh = m2[n] / (1.0 - b2 ** t)
                p[n].sub_(lr * mh / (torch.sqrt(vh) + eps))
    return losses, {n: t.detach().clone() for n, t in p.items()}


def clamp_margin(cfg, params, tokens):
    """min over layers, heads and rows of | |row sum of R~| - 1 |, the distance to the kink of
    the §3 clamp max(|.|, 1): a gradient is discontinuous there, so a float32 run could take
    the other branch if this were near 0. inf when the §3 normalisations are off."""
    if not cfg["normalize"]:
        return math.inf
    m = RetNet(cfg, params, torch.float64)
    m.stats = {}
    with torch.no_grad():
        m.forward(tokens, "parallel")
    return m.stats["margin"]


def head_norm_margin(cfg, params, tokens):
    """min over layers, heads and rows of (the per-head norm's statistic) / eps: the variance
    (groupnorm) or mean square (rmsnorm) of a raw retention output row over its dv channels.
    Where it is not >> 1 the norm does not divide the row's scale out, and a row that is small
    by cancellation (e.g. o_0 = (q_0 . k_0) v_0 with q_0 . k_0 ~ 0) is then ill-conditioned: a
    float32 run's relative error of that row reaches its output."""
    tr = []
    with torch.no_grad():
        RetNet(cfg, params, torch.float64).forward(tokens, "parallel", trace=tr)
    worst = math.inf
    for o in tr:
        if cfg["head_norm"] == "groupnorm":
            s = ((o - o.mean(-1, keepdim=True)) ** 2).mean(-1)
        else:
            s = (o * o).mean(-1)
        worst = min(worst, s.min().item())
    return worst / cfg["eps"]


def grad_self_check(cfg, params, tokens, targets, tol=1e-10, n_dir=4, seed=0):
    """Asserts, in float64: (1) the loss agrees with torch.nn.functional.cross_entropy
    (ignore_index=-1, reduction sum); (2) autograd through the recurrent and chunkwise forms
    (C = 1, 3, 8, T) gives the parallel form's gradients; (3) central differences along random
    directions match the gradient (directional derivatives, h = 1e-4 with Richardson
    extrapolation). Returns the worst
    relative differences (forms, finite differences)."""
    import torch.nn.functional as F
    loss, count, g = loss_and_grads(cfg, params, tokens, targets)
    with torch.no_grad():
        logits, _ = RetNet(cfg, params, torch.float64).forward(tokens, "parallel")
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                             ignore_index=-1, reduction="sum").item()
    assert abs(ce - loss) <= 1e-13 * abs(loss), (ce, loss)
    T = tokens.shape[1]
    worst_forms = 0.0
    for form, C in [("recurrent", None)] + [("chunkwise", C) for C in (1, 3, 8, T)]:
        l2, c2, g2 = loss_and_grads(cfg, params, tokens, targets, form, C)
        assert c2 == count
        worst_forms = max(worst_forms, abs(l2 - loss) / abs(loss))
        for n in g:
            worst_forms = max(worst_forms, _maxdiff(g2[n], g[n]))
    assert worst_forms < tol, "gradients of the forms disagree: %.3g" % worst_forms
    gen = torch.Generator().manual_seed(seed)
    worst_fd = 0.0
    h = 1e-4
    for _ in range(n_dir):
        dirs = {n: torch.randn(t.shape, generator=gen, dtype=torch.float64) for n, t in params.items()}
        with torch.no_grad():
            def f(s):
                pp = {n: params[n].to(torch.float64) + s * dirs[n] for n in params}
                lg, _ = RetNet(cfg, pp, torch.float64).forward(tokens, "parallel")
                return token_loss_sum(lg, targets)[0].item()

            def cd(s):
                return (f(s) - f(-s)) / (2 * s)
            fd = (4 * cd(h / 2) - cd(h)) / 3      # Richardson: error O(h^4)
        an = sum((g[n] * dirs[n]).sum().item() for n in g)
        worst_fd = max(worst_fd, abs(fd - an) / max(abs(an), 1e-300))
    assert worst_fd < 1e-7, "finite differences disagree with autograd: %.3g" % worst_fd
    return worst_forms, worst_fd
