"""
make_fixtures.py: writes the committed test fixtures tests/fixtures/<name>.{safetensors,tokens,logits}
from the float64 PyTorch reference (retnet_ref.py). Run from the repository root:

    /usr/bin/python3 tests/pytorch/make_fixtures.py

Deterministic: weights and tokens come from numpy's RandomState (whose streams are fixed across
numpy versions), so the files regenerate byte-identical. Each model is first checked with
retnet_ref.self_check (the three forms agree in float64), then its logits are computed in
float64 from exactly the weights stored in the file (F32, or BF16 for *_bf16) and rounded to
float32 once.

Files per fixture:
  <name>.safetensors  weights in src/params.h order; __metadata__ {"format": "retnet",
                      "format_version": "1", "config": "<our config JSON>"}
  <name>.tokens       B lines (one sequence each) of T comma-separated token ids
  <name>.logits       raw little-endian float32 (B, T, vocab)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retnet_ref as R  # noqa: E402

OUT = os.path.join("tests", "fixtures")
B, T = 2, 40

# Our config keys, in the order of docs/FILE_FORMAT.md.
KEYS = ["arch", "vocab", "d_model", "n_layer", "n_head", "d_key", "d_value", "d_ffn", "norm",
        "head_norm", "head_norm_affine", "ffn", "ffn_act", "rope", "rope_base", "decay",
        "normalize", "eps", "tie_embeddings", "embed_scale", "chunk"]


def config(**kw):
    c = dict(arch="retnet", vocab=64, d_model=32, n_layer=2, n_head=2, d_key=32, d_value=64,
             d_ffn=64, norm="layernorm", head_norm="groupnorm", head_norm_affine=True,
             ffn="gelu", ffn_act="gelu", rope="paper", rope_base=10000, decay="pow2",
             normalize=True, eps=1e-6, tie_embeddings=True, embed_scale=True, chunk=8)
    for k in kw:
        assert k in c, k
    c.update(kw)
    return c


FIXTURES = [
    # The paper's variant: LayerNorm, GroupNorm with affine, gelu FFN, d_value = d_ffn = 2d,
    # tied embeddings scaled by sqrt(d), §3 normalisations on.
    ("paper", 101, config()),
    # torchscale's RetNetDecoder: RMSNorm, per-head RMSNorm without affine, GLU(gelu), untied,
    # no embedding scale; h = 3 heads, dv = 20 != dk = 12.
    ("torchscale", 102, config(vocab=96, d_model=36, n_head=3, d_key=36, d_value=60, d_ffn=60,
                               norm="rmsnorm", head_norm="rmsnorm", head_norm_affine=False,
                               ffn="glu", ffn_act="gelu", tie_embeddings=False, embed_scale=False,
                               chunk=16)),
    # fla's RetNet: RMSNorm, per-head RMSNorm with a weight (dv, shared), SwiGLU, rope "half",
    # no §3 normalisations, eps 1e-5, dv = 24 != 2 dk = 32.
    ("fla", 103, config(vocab=90, d_model=32, n_head=2, d_key=32, d_value=48, d_ffn=72,
                        norm="rmsnorm", head_norm="rmsnorm", head_norm_affine=True, ffn="glu",
                        ffn_act="swish", rope="half", normalize=False, eps=1e-5,
                        tie_embeddings=False, embed_scale=False, chunk=4)),
    # linspace decay, 4 heads (dk = 8), a vocab that is not a power of 2, GroupNorm without
    # affine, LayerNorm pre-norms, GLU(swish), rope "half", tied without scale.
    ("linspace", 104, config(vocab=77, d_model=32, n_head=4, d_key=32, d_value=64, d_ffn=48,
                             head_norm="groupnorm", head_norm_affine=False, ffn="glu",
                             ffn_act="swish", rope="half", decay="linspace", eps=1e-5,
                             embed_scale=False, chunk=5)),
    # Narrow keys: d_key = 8 over 4 heads (dk = 2, the rope "paper" special case theta = 1),
    # dv = 12, d_key != d_model; RMSNorm pre-norms with GroupNorm affine, gelu FFN, untied.
    ("narrowkey", 105, config(vocab=50, d_model=40, n_head=4, d_key=8, d_value=48, d_ffn=72,
                              norm="rmsnorm", tie_embeddings=False, chunk=7)),
]
BF16_OF = "fla"   # also written as <name>_bf16 with BF16 weights


def make_weights(cfg, seed):
    """float32 numpy arrays in params.h order; norm weights 1 + 0.1 randn and biases 0.1 randn
    so that an ignored or misplaced affine parameter changes the logits."""
    rs = np.random.RandomState(seed)
    out = {}
    for name, shape in R.param_table(cfg):
        if name.endswith("_norm.weight") or name == "layer_norm.weight" or "group_norm.weight" in name:
            w = 1.0 + 0.1 * rs.randn(*shape)
        elif name.endswith(".bias"):
            w = 0.1 * rs.randn(*shape)
        elif name == "embed_tokens.weight":
            w = 0.5 * rs.randn(*shape)
        else:  # Linear (out, in)
            w = rs.randn(*shape) / math.sqrt(shape[1])
        out[name] = w.astype(np.float32)
    return out


def to_bf16(w32):
    """Round float32 to bfloat16 (nearest, ties to even); returns (uint16 bits, float32 value)."""
    u = w32.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r, (r.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, cfg, tensors, dtype):
    """tensors: [(name, array)] in order; dtype "F32" (float32 arrays) or "BF16" (uint16 bits)."""
    meta = {"format": "retnet", "format_version": "1",
            "config": json.dumps({k: cfg[k] for k in KEYS}, separators=(",", ":"))}
    header = {"__metadata__": meta}
    off = 0
    blobs = []
    for name, a in tensors:
        b = a.astype("<f4" if dtype == "F32" else "<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)      # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    todo = []
    for name, seed, cfg in FIXTURES:
        w = make_weights(cfg, seed)
        rs = np.random.RandomState(seed + 1000)
        tok = rs.randint(0, cfg["vocab"], size=(B, T)).astype(np.int64)
        tok[0, 0], tok[1, T - 1] = 0, cfg["vocab"] - 1        # both ends of the id range
        todo.append((name, cfg, w, tok, "F32", None))
        if name == BF16_OF:
            bits = {}
            wb = {}
            for n, a in w.items():
                bits[n], wb[n] = to_bf16(a)
            todo.append((name + "_bf16", cfg, wb, tok, "BF16", bits))

    report = []
    for name, cfg, w, tok, dtype, bits in todo:
        # the computing config: eps as the float32 the C library holds
        ccfg = dict(cfg, eps=float(np.float32(cfg["eps"])))
        params = {n: torch.from_numpy(a.astype(np.float64)) for n, a in w.items()}
        tokens = torch.from_numpy(tok)
        worst = R.self_check(ccfg, params, tokens)
        m = R.RetNet(ccfg, params, torch.float64)
        m.stats = {}
        logits, _ = m.forward(tokens, "parallel")
        # what a float32 implementation of the same math achieves (for the C test's tolerance)
        lg32, _ = R.RetNet(ccfg, params, torch.float32).forward(tokens, "parallel")
        lg32 = lg32.double()
        e32 = (lg32 - logits).abs().max().item()
        nmse32 = ((lg32 - logits) ** 2).sum().item() / (logits ** 2).sum().item()
        base = os.path.join(OUT, name)
        order = [n for n, _ in R.param_table(cfg)]
        src = bits if dtype == "BF16" else w
        write_safetensors(base + ".safetensors", cfg, [(n, src[n]) for n in order], dtype)
        with open(base + ".tokens", "w") as f:
            for row in tok:
                f.write(",".join(str(int(t)) for t in row) + "\n")
        with open(base + ".logits", "wb") as f:
            f.write(logits.numpy().astype("<f4").tobytes())
        clamp = ("%d/%d rows divided" % (m.stats["divided"], m.stats["rows"])) if m.stats else "off"
        report.append("%-14s %s forms agree %.1e; max|logit| %.2f; fp32 torch: max_abs %.2e nmse %.2e; "
                      "§3 clamp: %s" % (name, dtype, worst, logits.abs().max().item(), e32, nmse32, clamp))
    for r in report:
        print(r)


if __name__ == "__main__":
    main()
