#!/usr/bin/python3
"""
pytorch_train.py: the CPU training peer of the retnet benchmarks. The same model as our `small`
preset (retnet_config_preset("small"): d_model 384, 6 layers, 3 heads, d_key 384, d_value 768,
d_ffn 768, vocab 260, LayerNorm, GroupNorm with affine per head, gelu FFN, paper rope, pow2
decays, the section-3 normalisations, eps 1e-6, tied embeddings, no embedding scale), written
the way a PyTorch user would (nn.Linear / LayerNorm / group_norm, the decay matrix as a buffer),
in float32, trained with the AdamW of retnet_adamw_step (torch.optim.AdamW, betas (0.9, 0.98),
eps 1e-8, weight decay 0.05 on the 2-D weights only, no clipping), loss = mean token
cross-entropy. It measures training tokens/s (B*T over the median step time, forward + backward
+ AdamW, after warm-up steps) and the peak RSS of the process (rss_runtime_mb: the part that is
Python + torch before the model), and prints one JSON line per point:

  {"impl":"pytorch","form":"parallel","B":8,"T":256,"tokens_per_s":...,"peak_rss_mb":...,...}

Forms: "parallel" (the T x T retention matrix per head, what torchscale trains with) and
"chunkwise" (chunks of --chunk tokens, default 64 as the preset: the T x T products only inside a
chunk, a recurrent state (S, key sums z) across chunks, in a Python loop over chunks).

Each point runs in its own process (so peak RSS is that point's). Commands (repository root,
Debian's python3-torch):

  /usr/bin/python3 bench/pytorch_train.py                      # (8, 256) and (1, 2048), both forms
  /usr/bin/python3 bench/pytorch_train.py --B 8 --T 256 --steps 5          # one point, in-process
  /usr/bin/python3 bench/pytorch_train.py --points 8x256,1x2048 --forms parallel --steps 8
  /usr/bin/python3 bench/pytorch_train.py --check      # this model == tests/pytorch/retnet_ref.py
  /usr/bin/python3 bench/pytorch_train.py --preset tiny --B 2 --T 32 --steps 2    # make report-smoke

--check compares, in float64 on a small config, this model's logits and gradients (both forms,
chunk lengths that do and do not divide T) with the independent reference of the C tests
(tests/pytorch/retnet_ref.py), so the peer computes the same function as the C library.

Data: byte windows of /work/shared/data/tinyshakespeare.txt when it exists (--data), else random
bytes; the timing does not depend on the data. Threads: torch.set_num_threads(--threads, 2).
The 1-minute load average at the start and end of a point is recorded: on a shared 2-core
machine, 2 OpenMP threads slow down many times over when another process takes a core (a
256x128x256 product: 39 GFLOP/s on 1 thread, 2.4 on 2 threads with the other core busy), so a
point with loadavg well above the thread count is not a measurement.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SMALL = dict(vocab=260, d_model=384, n_layer=6, n_head=3, d_key=384, d_value=768, d_ffn=768,
             rope_base=10000.0, eps=1e-6, chunk=64)
# the C presets of the same names (--preset; tiny: the smoke test of make report)
PRESETS = {"small": SMALL,
           "tiny": dict(SMALL, d_model=64, n_layer=2, n_head=2, d_key=64, d_value=128, d_ffn=128,
                        chunk=16)}
DEFAULT_POINTS = [(8, 256), (1, 2048)]
DEFAULT_DATA = "/work/shared/data/tinyshakespeare.txt"


# ------------------------------------------------------------------------- the model


class Retention(nn.Module):
    """Multi-scale retention (RETNET.md §2-4), paper variant: GroupNorm per head with affine,
    swish gate, §3 normalisations (decay rows by sqrt of their sum, scores by max(|row sum|, 1))."""

    def __init__(self, c):
        super().__init__()
        d, self.h = c["d_model"], c["n_head"]
        self.dk, self.dv = c["d_key"] // self.h, c["d_value"] // self.h
        self.eps = c["eps"]
        self.q_proj = nn.Linear(d, c["d_key"], bias=False)
        self.k_proj = nn.Linear(d, c["d_key"], bias=False)
        self.v_proj = nn.Linear(d, c["d_value"], bias=False)
        self.g_proj = nn.Linear(d, c["d_value"], bias=False)
        self.out_proj = nn.Linear(c["d_value"], d, bias=False)
        self.group_norm = nn.GroupNorm(self.h, c["d_value"], eps=self.eps, affine=True)

    def forward(self, x, rot, dec, form, chunk):
        B, T, _ = x.shape
        h, dk, dv = self.h, self.dk, self.dv
        q = rope(self.q_proj(x).view(B, T, h, dk), rot).transpose(1, 2)          # (B, h, T, dk)
        k = rope(self.k_proj(x).view(B, T, h, dk), rot).transpose(1, 2) * dk ** -0.5
        v = self.v_proj(x).view(B, T, h, dv).transpose(1, 2)                      # (B, h, T, dv)
        if form == "parallel":
            o = retention_parallel(q, k, v, dec)
        else:
            o = retention_chunkwise(q, k, v, dec, chunk)
        y = F.group_norm(o.transpose(1, 2).reshape(B * T, h * dv), h, self.group_norm.weight,
                         self.group_norm.bias, self.eps).view(B, T, h * dv)
        return self.out_proj(F.silu(self.g_proj(x)) * y)


def rope(x, rot):
    """x (B, T, h, dk); pairs (2j, 2j+1) rotated by n theta_j (paper convention)."""
    cos, sin = rot                                                # (T, dk/2) each
    a, b = x[..., 0::2], x[..., 1::2]
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.stack((a * cos - b * sin, b * cos + a * sin), -1).flatten(-2)


def retention_parallel(q, k, v, dec):
    """dec["D"]: (h, T, T) decay matrix with the decay-row normalisation folded in."""
    R = (q @ k.transpose(-1, -2)) * dec["D"]                      # (B, h, T, T)
    R = R / R.sum(-1, keepdim=True).abs().clamp(min=1.0)
    return R @ v                                                  # (B, h, T, dv)


def retention_chunkwise(q, k, v, dec, C):
    """Chunks of C tokens (the last may be shorter); the state S (B, h, dk, dv) and the key sums
    z (B, h, dk) carry the earlier chunks (RETNET.md §2 form 3, §3 as the C library does it)."""
    B, h, T, dk = q.shape
    dv = v.shape[-1]
    g = dec["gamma"]                                              # (h,) float64
    S = q.new_zeros(B, h, dk, dv)
    z = q.new_zeros(B, h, dk)
    outs = []
    for s in range(0, T, C):
        L = min(C, T - s)
        cd = dec["chunk"][L]                                      # constants of a chunk of L
        qc, kc, vc = q[:, :, s:s + L], k[:, :, s:s + L], v[:, :, s:s + L]
        Rin = (qc @ kc.transpose(-1, -2)) * cd["D"]               # (B, h, L, L)
        xi = cd["xi"][:, :, None]                                 # (h, L, 1): gamma^(j+1)
        num = Rin @ vc + (qc @ S) * xi
        rs = Rin.sum(-1) + (qc @ z[..., None])[..., 0] * cd["xi"]
        sc = dec["scale"][:, s:s + L]                             # (h, L): 1/sqrt(decay row sum)
        o = num * sc[..., None] / (rs * sc).abs().clamp(min=1.0)[..., None]
        outs.append(o)
        kz = kc * cd["zeta"][:, :, None]                          # gamma^(L-1-j)
        S = kz.transpose(-1, -2) @ vc + cd["gL"][:, None, None] * S
        z = kz.sum(2) + cd["gL"][:, None] * z
    return torch.cat(outs, 2)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["d_model"], c["eps"]
        self.retention_layer_norm = nn.LayerNorm(d, eps=eps)
        self.retention = Retention(c)
        self.final_layer_norm = nn.LayerNorm(d, eps=eps)
        self.ffn = nn.Module()
        self.ffn.fc1 = nn.Linear(d, c["d_ffn"], bias=False)
        self.ffn.fc2 = nn.Linear(c["d_ffn"], d, bias=False)

    def forward(self, x, rot, dec, form, chunk):
        x = x + self.retention(self.retention_layer_norm(x), rot, dec, form, chunk)
        return x + self.ffn.fc2(F.gelu(self.ffn.fc1(self.final_layer_norm(x))))


class RetNetLM(nn.Module):
    """Parameter names are ours (= torchscale's): embed_tokens.weight, layers.{l}...., layer_norm."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab"], c["d_model"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["n_layer"]))
        self.layer_norm = nn.LayerNorm(c["d_model"], eps=c["eps"])
        self._consts = {}

    def init_official(self, seed):
        """RETNET.md §5: q, k, v, g xavier-uniform gain 2^-2.5, out gain 2^-1, embedding (tied
        output) normal(0, d^-0.5); other projections xavier-uniform; norms 1 and 0."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() == 1:
                    continue
                if name == "embed_tokens.weight":
                    p.normal_(0.0, self.c["d_model"] ** -0.5, generator=gen)
                    continue
                gain = 2 ** -2.5 if any(s in name for s in ("q_proj", "k_proj", "v_proj", "g_proj")) \
                    else 2 ** -1 if "out_proj" in name else 1.0
                a = gain * math.sqrt(6.0 / (p.shape[0] + p.shape[1]))
                p.uniform_(-a, a, generator=gen)

    def consts(self, T, chunk, dtype):
        """Rotation angles and decay constants for length T (built once per T, in float64)."""
        key = (T, chunk, dtype)
        if key in self._consts:
            return self._consts[key]
        c = self.c
        h, dk = c["n_head"], c["d_key"] // c["n_head"]
        half = dk // 2
        j = torch.arange(half, dtype=torch.float64)
        theta = torch.ones(1, dtype=torch.float64) if half == 1 else c["rope_base"] ** (-(j / (half - 1)))
        ang = torch.arange(T, dtype=torch.float64)[:, None] * theta[None]
        rot = (torch.cos(ang).to(dtype), torch.sin(ang).to(dtype))
        g = torch.tensor([1.0 - 2.0 ** (-5 - i) for i in range(h)], dtype=torch.float64)
        n = torch.arange(T, dtype=torch.float64)
        rowsum = (1.0 - g[:, None] ** (n[None] + 1)) / (1.0 - g[:, None])          # (h, T)
        scale = rowsum.rsqrt()
        dec = {"gamma": g, "scale": scale.to(dtype)}

        def decay(L):
            m = torch.arange(L, dtype=torch.float64)
            diff = m[:, None] - m[None, :]
            return torch.where(diff >= 0, g[:, None, None] ** diff.clamp(min=0), torch.zeros((), dtype=torch.float64))

        dec["D"] = (decay(T) * scale[:, :, None]).to(dtype)       # parallel: D~ = D / sqrt(rowsum)
        dec["chunk"] = {}
        for L in {min(chunk, T), T % chunk} - {0}:
            m = torch.arange(L, dtype=torch.float64)
            dec["chunk"][L] = {"D": decay(L).to(dtype),
                               "xi": (g[:, None] ** (m[None] + 1)).to(dtype),
                               "zeta": (g[:, None] ** (L - 1 - m)[None]).to(dtype),
                               "gL": (g ** L).to(dtype)}
        self._consts[key] = (rot, dec)
        return rot, dec

    def forward(self, tokens, form="parallel", chunk=None):
        B, T = tokens.shape
        chunk = chunk or self.c["chunk"]
        rot, dec = self.consts(T, chunk, self.embed_tokens.weight.dtype)
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, rot, dec, form, chunk)
        return F.linear(self.layer_norm(x), self.embed_tokens.weight)   # tied output


def make_optimizer(model, lr, foreach):
    """AdamW as retnet_adamw_step: decay on the 2-D weights only (the norms' weights and biases
    are not decayed; the tied embedding is)."""
    dec = [p for p in model.parameters() if p.dim() == 2]
    nodec = [p for p in model.parameters() if p.dim() != 2]
    return torch.optim.AdamW([{"params": dec, "weight_decay": 0.05},
                              {"params": nodec, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-8, foreach=foreach)


# ------------------------------------------------------------------------- one point


def batches(B, T, data, seed):
    gen = torch.Generator().manual_seed(seed)
    buf = None
    if data and os.path.exists(data):
        with open(data, "rb") as f:
            buf = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    while True:
        if buf is not None and buf.numel() > T + 1:
            start = torch.randint(0, buf.numel() - T - 1, (B,), generator=gen)
            w = torch.stack([buf[s:s + T + 1] for s in start.tolist()])
        else:
            w = torch.randint(0, 256, (B, T + 1), generator=gen)
        yield w[:, :T], w[:, 1:]


def vmrss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_point(a):
    rss0 = vmrss_mb()   # the Python + torch runtime, before the model
    load0 = os.getloadavg()[0]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = dict(PRESETS[a.preset])
    model = RetNetLM(c)
    model.init_official(a.seed)
    opt = make_optimizer(model, a.lr, a.foreach)
    data = batches(a.B, a.T, a.data, a.seed + 1)
    times, losses = [], []
    for step in range(a.warmup + a.steps):
        x, y = next(data)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x, a.form, a.chunk)
        loss = F.cross_entropy(logits.view(-1, c["vocab"]), y.reshape(-1))
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= a.warmup:
            times.append(dt)
    med = statistics.median(times)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # ru_maxrss: KB
    print(json.dumps({
        "impl": "pytorch", "preset": a.preset, "form": a.form, "B": a.B, "T": a.T,
        "tokens_per_s": round(a.B * a.T / med, 1), "peak_rss_mb": round(rss_mb, 1),
        "median_step_s": round(med, 4), "min_step_s": round(min(times), 4),
        "steps": a.steps, "warmup": a.warmup, "threads": torch.get_num_threads(),
        "chunk": a.chunk if a.form == "chunkwise" else None,
        "params": sum(p.numel() for p in model.parameters()),
        "rss_runtime_mb": round(rss0, 1),
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "loadavg_start": round(load0, 2), "loadavg_end": round(os.getloadavg()[0], 2),
        "torch": torch.__version__, "adamw_foreach": a.foreach,
    }, separators=(",", ":")), flush=True)


# ------------------------------------------------------------------------- --check


def check():
    """This model against tests/pytorch/retnet_ref.py in float64: logits and gradients."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(here, "..", "tests", "pytorch"))
    import retnet_ref as R
    torch.manual_seed(0)
    c = dict(SMALL, vocab=50, d_model=32, n_layer=2, n_head=2, d_key=32, d_value=48, d_ffn=40,
             chunk=8)
    rc = dict(arch="retnet", vocab=c["vocab"], d_model=c["d_model"], n_layer=c["n_layer"],
              n_head=c["n_head"], d_key=c["d_key"], d_value=c["d_value"], d_ffn=c["d_ffn"],
              norm="layernorm", head_norm="groupnorm", head_norm_affine=True, ffn="gelu",
              ffn_act="gelu", rope="paper", rope_base=10000, decay="pow2", normalize=True,
              eps=c["eps"], tie_embeddings=True, embed_scale=False, chunk=c["chunk"])
    model = RetNetLM(c).double()
    with torch.no_grad():   # norms away from 1 and 0, so that a misplaced affine shows
        for n, p in model.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if n.endswith("norm.weight") else
                    0.1 * torch.randn_like(p) if p.dim() == 1 else torch.randn_like(p) / math.sqrt(p.shape[1]))
    names = [n for n, _ in R.param_table(rc)]
    sd = dict(model.named_parameters())
    assert sorted(names) == sorted(sd), "parameter names differ from retnet_ref.param_table"
    T = 21
    tok = torch.randint(0, c["vocab"], (2, T))
    tgt = torch.randint(0, c["vocab"], (2, T))
    params = {n: sd[n].detach() for n in names}
    loss_r, _, g_r = R.loss_and_grads(rc, params, tok, tgt)
    worst = 0.0
    for form, C in (("parallel", None), ("chunkwise", 1), ("chunkwise", 5), ("chunkwise", 8),
                    ("chunkwise", T), ("chunkwise", 64)):
        model.zero_grad(set_to_none=True)
        model._consts.clear()
        logits = model(tok, form, C)
        loss = F.cross_entropy(logits.view(-1, c["vocab"]), tgt.view(-1), reduction="sum")
        loss.backward()
        w = abs(loss.item() - loss_r) / loss_r
        for n in names:
            w = max(w, (sd[n].grad - g_r[n]).abs().max().item() / g_r[n].abs().max().item())
        print("check %-9s chunk %-4s: loss and every gradient within %.1e (relative) of "
              "retnet_ref" % (form, C, w))
        worst = max(worst, w)
    assert worst < 1e-10, "the benchmark model differs from the reference: %.3g" % worst
    print("check: ok")


# ------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--B", type=int, help="batch (with --T: one point, in this process)")
    ap.add_argument("--T", type=int, help="sequence length")
    ap.add_argument("--points", default=",".join("%dx%d" % p for p in DEFAULT_POINTS),
                    help="BxT list, each in its own process (default %(default)s)")
    ap.add_argument("--form", default="parallel", choices=("parallel", "chunkwise"))
    ap.add_argument("--forms", default="parallel,chunkwise", help="forms for --points")
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--chunk", type=int, help="chunk length (default: the preset's)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--foreach", type=int, default=1, help="torch.optim.AdamW(foreach=...)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--check", action="store_true", help="compare with tests/pytorch/retnet_ref.py")
    a = ap.parse_args()
    a.foreach = bool(a.foreach)
    if a.chunk is None:
        a.chunk = PRESETS[a.preset]["chunk"]
    if a.check:
        return check()
    if a.B is not None or a.T is not None:
        if a.B is None or a.T is None:
            ap.error("--B and --T go together")
        return run_point(a)
    rc = 0
    for form in a.forms.split(","):
        for pt in a.points.split(","):
            B, T = (int(v) for v in pt.lower().split("x"))
            cmd = [sys.executable, os.path.abspath(__file__), "--preset", a.preset,
                   "--B", str(B), "--T", str(T),
                   "--form", form, "--chunk", str(a.chunk), "--steps", str(a.steps),
                   "--warmup", str(a.warmup), "--threads", str(a.threads), "--lr", str(a.lr),
                   "--seed", str(a.seed), "--foreach", str(int(a.foreach)), "--data", a.data]
            rc |= subprocess.call(cmd)
    return rc


if __name__ == "__main__":
    sys.exit(main() or 0)
