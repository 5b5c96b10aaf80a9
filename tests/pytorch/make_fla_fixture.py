#!/usr/bin/env python3
"""
make_fla_fixture.py: the parity fixture of fla's RetNetForCausalLM (issue: run real pretrained
RetNets). Run on the GPU machine, where torch, transformers and triton are installed, with a
fetched fla checkout on PYTHONPATH (never committed here):

    PYTHONPATH=build/fla-src python3 tests/pytorch/make_fla_fixture.py OUTDIR

It builds a small RetNetForCausalLM with random weights (seeded; projections drawn with a std
large enough that every nonlinearity matters, norm weights around 1), saves it with
save_pretrained (config.json + model.safetensors, float32) into OUTDIR/model, and records
fla's own logits for fixed token sequences:

    OUTDIR/logits-T{T}-{dtype}.f32   float32 (T, vocab), row-major
    OUTDIR/tokens.json               the sequences, and how each was computed

T = 100 runs fla's chunk kernels (its default mode for sequences longer than 64 tokens), T =
40 its fused_recurrent kernels; float32 and bfloat16 (the model cast with .to(bfloat16), as a
bf16 checkpoint runs). tests/test_hf.c loads OUTDIR/model and compares its logits, in every
form, with these (tolerances stated there).
"""
import json
import os
import sys

import torch

import fla  # noqa: F401  (registers the model with transformers)
from fla.models.retnet import RetNetConfig, RetNetForCausalLM


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fla_fixture"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1234)
    cfg = RetNetConfig(hidden_size=64, num_hidden_layers=2, num_heads=2, expand_k=1.0,
                       expand_v=2.0, intermediate_size=128, vocab_size=128, norm_eps=1e-6,
                       tie_word_embeddings=False, fuse_cross_entropy=False)
    model = RetNetForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                fan_in = p.shape[1]
                p.copy_(torch.randn_like(p) * (1.5 / fan_in ** 0.5))
            else:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    # What save_pretrained writes (config.json + model.safetensors), done directly: some
    # transformers releases fail on fla's _tied_weights_keys in save_pretrained.
    from safetensors.torch import save_file
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    cfg.save_pretrained(os.path.join(out, "model"))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "model", "model.safetensors"), metadata={"format": "pt"})
    dev = "cuda"
    g = torch.Generator().manual_seed(99)
    meta = {"torch": torch.__version__, "fla_commit": os.environ.get("FLA_COMMIT", ""),
            "gpu": torch.cuda.get_device_name(0), "sequences": []}
    for T in (100, 40):
        tokens = torch.randint(0, cfg.vocab_size, (1, T), generator=g)
        for dtype in (torch.float32, torch.bfloat16):
            m = RetNetForCausalLM(cfg)
            m.load_state_dict(model.state_dict())
            m = m.to(dev, dtype).eval()
            with torch.no_grad():
                logits = m(input_ids=tokens.to(dev)).logits.float().cpu()[0]
            name = f"logits-T{T}-{'f32' if dtype == torch.float32 else 'bf16'}.f32"
            logits.contiguous().numpy().tofile(os.path.join(out, name))
            meta["sequences"].append({"file": name, "T": T, "dtype": str(dtype),
                                      "mode": "chunk" if T > 64 else "fused_recurrent",
                                      "tokens": tokens[0].tolist(),
                                      "max_abs_logit": float(logits.abs().max())})
            print(name, "max |logit|", float(logits.abs().max()))
    with open(os.path.join(out, "tokens.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
