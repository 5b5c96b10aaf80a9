#!/usr/bin/python3
"""
pytorch_decode.py: the CPU decoding peer of `make report` (bench/report.sh, section d). The
model of bench/pytorch_train.py (our `small` or `tiny` preset written the way a PyTorch user
would), decoded token by token with the recurrent form of RETNET.md §2 (form 2) and the §3
normalisations carried as the C library carries them: per layer and head a state S (dk x dv)
and key sums z (dk),

    S = gamma S + k^T v,   z = gamma z + k,   o = q S / sqrt(r_n) / max(|q z| / sqrt(r_n), 1)

with r_n = sum_{i<=n} gamma^(n-i), then GroupNorm per head, the swish gate and the output
projection. One step is one call of `step` on B sequences under torch.no_grad(), followed by
a draw from softmax(logits / 0.8) (the C benchmark's retnet_sample draws with top-k 40,
top-p 0.95; on 260 logits either costs microseconds). It measures tokens/s: B over the median
step time of --tokens timed steps after --warmup, from position --pos (the cost of a step
does not depend on the position) and prints one JSON line per batch size:

  {"impl":"pytorch","kind":"decode","preset":"small","B":1,"tokens_per_s":...,...}

Commands (repository root, Debian's python3-torch):

  /usr/bin/python3 bench/pytorch_decode.py --preset small --batches 1,8 --tokens 64
  /usr/bin/python3 bench/pytorch_decode.py --check     # recurrent steps == the parallel forward

--check decodes 23 tokens one at a time in float64 on a small config (from position 0, so the
§3 scalings at the first positions are exercised) and compares every step's logits with the
parallel form of bench/pytorch_train.py on the whole sequence (itself checked against the C
tests' reference, tests/pytorch/retnet_ref.py, by pytorch_train.py --check).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_train as PT  # noqa: E402  (the model and the presets)


class Decoder:
    """Recurrent decoding of a PT.RetNetLM: per layer S (B, h, dk, dv) and z (B, h, dk)."""

    def __init__(self, model):
        c = model.c
        self.m, self.c = model, c
        self.h, self.dk, self.dv = c["n_head"], c["d_key"] // c["n_head"], c["d_value"] // c["n_head"]
        dt = model.embed_tokens.weight.dtype
        half = self.dk // 2
        j = torch.arange(half, dtype=torch.float64)
        self.theta = torch.ones(1, dtype=torch.float64) if half == 1 else \
            c["rope_base"] ** (-(j / (half - 1)))
        self.g64 = torch.tensor([1.0 - 2.0 ** (-5 - i) for i in range(self.h)], dtype=torch.float64)
        self.g = self.g64.to(dt)
        self.dt = dt

    def new_state(self, B):
        L = self.c["n_layer"]
        S = [torch.zeros(B, self.h, self.dk, self.dv, dtype=self.dt) for _ in range(L)]
        z = [torch.zeros(B, self.h, self.dk, dtype=self.dt) for _ in range(L)]
        return S, z

    def rot(self, pos):
        ang = pos * self.theta
        return torch.cos(ang).to(self.dt)[None], torch.sin(ang).to(self.dt)[None]   # (1, dk/2)

    def step(self, tok, state, pos):
        """tok (B,) ids at absolute position pos; updates state in place; returns (B, V)."""
        m, h, dk, dv = self.m, self.h, self.dk, self.dv
        S, z = state
        B = tok.shape[0]
        cos, sin = self.rot(pos)
        rs = (1.0 - self.g64 ** (pos + 1)) / (1.0 - self.g64)                     # r_n (h,)
        sc = rs.sqrt().to(self.dt)[None, :]                                       # (1, h)
        gS, gz = self.g[None, :, None, None], self.g[None, :, None]
        x = m.embed_tokens(tok)                                                   # (B, d)
        for l, layer in enumerate(m.layers):
            r = layer.retention
            xn = layer.retention_layer_norm(x)
            q = PT.rope(r.q_proj(xn).view(B, 1, h, dk), (cos, sin))[:, 0]        # (B, h, dk)
            k = PT.rope(r.k_proj(xn).view(B, 1, h, dk), (cos, sin))[:, 0] * dk ** -0.5
            v = r.v_proj(xn).view(B, h, dv)
            S[l].mul_(gS).add_(k[..., :, None] * v[..., None, :])
            z[l].mul_(gz).add_(k)
            o = (q[..., None, :] @ S[l])[..., 0, :]                               # (B, h, dv)
            rsum = (q * z[l]).sum(-1) / sc                                        # (B, h)
            o = o / sc[..., None] / rsum.abs().clamp(min=1.0)[..., None]
            y = F.group_norm(o.reshape(B, h * dv), h, r.group_norm.weight, r.group_norm.bias, r.eps)
            x = x + r.out_proj(F.silu(r.g_proj(xn)) * y)
            x = x + layer.ffn.fc2(F.gelu(layer.ffn.fc1(layer.final_layer_norm(x))))
        return F.linear(m.layer_norm(x), m.embed_tokens.weight)


def vmrss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = PT.RetNetLM(dict(PT.PRESETS[a.preset]))
    model.init_official(a.seed)
    model.eval()
    dec = Decoder(model)
    gen = torch.Generator().manual_seed(a.seed)
    for B in (int(b) for b in a.batches.split(",")):
        load0 = os.getloadavg()[0]
        state = dec.new_state(B)
        tok = torch.randint(0, model.c["vocab"], (B,), generator=gen)
        times = []
        with torch.no_grad():
            for i in range(a.warmup + a.tokens):
                t0 = time.perf_counter()
                logits = dec.step(tok, state, a.pos + i)
                tok = torch.multinomial(torch.softmax(logits / 0.8, -1), 1, generator=gen)[:, 0]
                dt = time.perf_counter() - t0
                if i >= a.warmup:
                    times.append(dt)
        med = statistics.median(times)
        state_bytes = sum(t.numel() * t.element_size() for t in state[0] + state[1]) // B
        print(json.dumps({
            "impl": "pytorch", "kind": "decode", "preset": a.preset, "B": B, "pos": a.pos,
            "tokens": a.tokens, "warmup": a.warmup, "median_step_ms": round(1e3 * med, 4),
            "min_step_ms": round(1e3 * min(times), 4), "tokens_per_s": round(B / med, 1),
            "state_mb": round(state_bytes / 1e6, 3), "vmrss_mb": round(vmrss_mb(), 1),
            "threads": torch.get_num_threads(), "loadavg_start": round(load0, 2),
            "loadavg_end": round(os.getloadavg()[0], 2), "torch": torch.__version__,
        }, separators=(",", ":")), flush=True)


def check():
    torch.manual_seed(0)
    c = dict(PT.SMALL, vocab=50, d_model=32, n_layer=2, n_head=2, d_key=32, d_value=48, d_ffn=40,
             chunk=8)
    model = PT.RetNetLM(c).double()
    with torch.no_grad():   # norms away from 1 and 0, so that a misplaced affine shows
        for n, p in model.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if n.endswith("norm.weight") else
                    0.1 * torch.randn_like(p) if p.dim() == 1 else torch.randn_like(p) / math.sqrt(p.shape[1]))
    T, B = 23, 2
    tok = torch.randint(0, c["vocab"], (B, T))
    dec = Decoder(model)
    with torch.no_grad():
        ref = model(tok, "parallel")
        state = dec.new_state(B)
        worst = 0.0
        for t in range(T):
            out = dec.step(tok[:, t], state, t)
            worst = max(worst, ((out - ref[:, t]).abs().max() / ref[:, t].abs().max()).item())
    print("check: %d recurrent steps against the parallel forward: logits within %.1e (relative)"
          % (T, worst))
    assert worst < 1e-10, "the recurrent decoder differs from the parallel form: %.3g" % worst
    print("check: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small", choices=sorted(PT.PRESETS))
    ap.add_argument("--batches", default="1,8", help="batch sizes, each measured in turn")
    ap.add_argument("--tokens", type=int, default=64, help="timed steps (median)")
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--pos", type=int, default=0, help="position of the first step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="recurrent steps == parallel forward")
    a = ap.parse_args()
    if a.check:
        return check()
    run(a)


if __name__ == "__main__":
    sys.exit(main() or 0)
