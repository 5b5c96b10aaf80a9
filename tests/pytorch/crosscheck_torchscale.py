"""
crosscheck_torchscale.py: checks retnet_ref.py against Microsoft's own RetNetDecoder (torchscale)
on the "torchscale" fixture. Optional (needs a torchscale checkout, not installed here):

    git clone https://github.com/microsoft/torchscale /tmp/torchscale
    /usr/bin/python3 tests/pytorch/crosscheck_torchscale.py /tmp/torchscale

torchscale's optional imports (fairscale, einops, timm) are stubbed, and its float32 casts
(RMSNorm and GLU compute in x.float(); the decay buffer is float32) are lifted so that both
sides run in float64. Expected: with eps = 0 the logits agree to ~1e-14 (the §3 normalisations
differ, torchscale's score sum is of absolute values and ours signed, but with eps = 0 any
positive row scale cancels in the head norm); with eps = 1e-6 they differ by ~5e-5, the effect of
that eps on the differently scaled rows.
"""
import json
import os
import struct
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")


def stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__")
    p = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        assert v["dtype"] == "F32"
        a = np.frombuffer(b[8 + n + s:8 + n + e], "<f4").astype(np.float64).reshape(v["shape"])
        p[k] = torch.from_numpy(a)
    return json.loads(meta["config"]), p


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: crosscheck_torchscale.py PATH_TO_TORCHSCALE_CHECKOUT")
    sys.dont_write_bytecode = True
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, HERE)
    stub("fairscale")
    stub("fairscale.nn", checkpoint_wrapper=lambda x: x, wrap=lambda x: x)
    stub("einops", rearrange=None)
    stub("timm")
    stub("timm.models")
    stub("timm.models.layers", drop_path=None)
    torch.set_default_dtype(torch.float64)
    import retnet_ref as R
    from torchscale.architecture.config import RetNetConfig
    from torchscale.architecture.retnet import RetNetDecoder
    from torchscale.component import gate_linear_unit, rms_norm

    def rms_forward(self, x):  # RMSNorm.forward without the float32 cast
        out = self._norm(x)
        return out * self.weight if self.weight is not None else out

    def glu_forward(self, x):  # GLU.forward without the float32 cast
        return self.fc2(self.activation_fn(self.fc1(x)) * self.gate(x))

    rms_norm.RMSNorm.forward = rms_forward
    gate_linear_unit.GLU.forward = glu_forward

    cfg, p = load_safetensors(os.path.join(FIX, "torchscale.safetensors"))
    with open(os.path.join(FIX, "torchscale.tokens")) as f:
        tok = torch.tensor([[int(x) for x in line.split(",")] for line in f.read().split()])
    ok = True
    for eps, tol in ((0.0, 1e-12), (float(np.float32(cfg["eps"])), 1e-3)):
        a = RetNetConfig(decoder_embed_dim=cfg["d_model"], decoder_value_embed_dim=cfg["d_value"],
                         decoder_retention_heads=cfg["n_head"], decoder_ffn_embed_dim=cfg["d_ffn"],
                         decoder_layers=cfg["n_layer"], vocab_size=cfg["vocab"], layernorm_eps=eps,
                         activation_fn=cfg["ffn_act"], no_scale_embedding=not cfg["embed_scale"])
        dec = RetNetDecoder(a, embed_tokens=torch.nn.Embedding(cfg["vocab"], cfg["d_model"]))
        sd = dec.state_dict()
        for k in sd:
            if not k.startswith("retnet_rel_pos"):
                sd[k] = p[k]
        assert set(p) <= set(sd), set(p) - set(sd)
        dec.load_state_dict(sd)
        dec.eval()
        rp = dec.retnet_rel_pos
        rp.decay = torch.log(1 - 2 ** (-5 - torch.arange(cfg["n_head"], dtype=torch.float64)))
        with torch.no_grad():
            theirs, _ = dec(tok)
        ours, _ = R.RetNet(dict(cfg, eps=eps), p).forward(tok)
        d = (theirs - ours).abs().max().item() / ours.abs().max().item()
        print("eps=%g: torchscale vs retnet_ref: max relative difference %.3g (limit %g)" % (eps, d, tol))
        ok = ok and d < tol
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
