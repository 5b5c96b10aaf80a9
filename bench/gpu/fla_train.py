#!/usr/bin/env python3
"""fla_train.py: the fla peer of `retnet bench train` (issue 6 (b)), on the GPU.

fla's own RetNet language model (fla.models.RetNetForCausalLM, flash-linear-attention), random
initialised by fla (its _init_weights), trained the way a PyTorch user trains it: fp32
parameters, torch.autocast(bfloat16), fla's defaults otherwise (chunk retention kernels, fused
RMSNorm, fused SwiGLU, its fused cross-entropy through `labels=`), torch.optim.AdamW(fused=True)
with betas (0.9, 0.98), eps 1e-8, weight decay 0.05, and clipping of the global gradient norm at
1.0 -- the step of `retnet bench train`. One fixed batch of B x T random tokens for every step
(the loss falls visibly; a step's cost does not depend on the tokens).

Timing: CUDA events recorded at the start of each step; a step is the interval between two
successive starts (after --warmup untimed steps; the first ones include Triton's compilation
and autotuning); the median of --steps intervals. Memory: torch.cuda.max_memory_allocated()
over that shape's steps (parameters, gradients, AdamW moments, activations), and the reserved
peak beside it.

MFU uses the FLOP count of tools/cmd_bench.c, mirrored in flops_per_token() below: 6 P + 3 R
per token, P = every 2-D weight except the embedding table when it is only looked up, R = the
retention's forward work per token for the chunkwise form with chunk C = min(64, T):
n_layer * n_head * (4 dk dv + 2 C (dk + dv)); peak 989 TFLOP/s (dense bf16, H100/H200 SXM).
fla's labels are shifted inside the model, so B (T - 1) targets are counted against our B T;
the FLOPs are counted per input token for both.

Config: --config-dir DIR with fla's config.json (`retnet convert --to fla` writes one), or the
explicit sizes below (defaults: the 1.3B shape of fla-hub/retnet-1.3B-100B: hidden 2048, 24
layers, 8 heads, expand_k 1, expand_v 2, intermediate 2816, vocab 32000).

Output: one JSON line per shape on stdout ({"bench": "train", "impl": "fla", ...}); progress on
stderr. fla is imported from PYTHONPATH (e.g. PYTHONPATH=build/fla-src).

  PYTHONPATH=build/fla-src python3 bench/gpu/fla_train.py --config-dir DIR --seq 2048,8192 \\
      --tokens 16384 --steps 10 --warmup 3
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

CHUNK = 64                # the chunk of the chunkwise kernels, ours and fla's
PEAK_TFLOPS = 989.0       # dense bf16, H100/H200 SXM (datasheet), as tools/cmd_bench.c


def log(msg):
    print(f'[fla_train {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def flops_per_token(product_params, n_layer, n_head, d_key, d_value, T, chunk=CHUNK):
    """Model FLOPs per trained token, mirrored from tools/cmd_bench.c (train_flops_per_token):
    6 P + 3 R, with P the parameters that take part in products and R the retention's own
    forward work per token (chunkwise, chunk C = min(64, T)): per layer and head
    4 dk dv (state update k^T v, state read q S) + 2 C (dk + dv) (intra-chunk q k^T and its
    product with v over full C x C blocks); x3 for forward + backward as 6 P = 3 x 2 P.
    Returns (flops per token, R)."""
    C = min(chunk, T)
    dk = d_key / n_head
    dv = d_value / n_head
    R = n_layer * n_head * (4 * dk * dv + 2 * C * (dk + dv))
    return 6.0 * product_params + 3.0 * R, R


def product_params(model):
    """Every 2-D weight, except the embedding table when it is only looked up (untied); a tied
    table is the output projection and is counted once (named_parameters dedups it)."""
    emb = model.get_input_embeddings().weight
    tied = bool(getattr(model.config, 'tie_word_embeddings', False))
    n = 0
    for _, p in model.named_parameters():
        if p.dim() != 2 or (p is emb and not tied):
            continue
        n += p.numel()
    return n


def product_params_config(cfg):
    """The same count from the config (a check of product_params on fla's modules)."""
    d, L = cfg.hidden_size, cfg.num_hidden_layers
    dk, dv = int(d * cfg.expand_k), int(d * cfg.expand_v)
    F = cfg.intermediate_size
    if F is None:
        F = int(d * (cfg.hidden_ratio or 4) * 2 / 3)
        F = 256 * ((F + 255) // 256)
    per = 2 * d * dk + (3 if cfg.use_output_gate else 2) * d * dv + 3 * d * F
    return L * per + cfg.vocab_size * d


def load_config(args):
    from fla.models.retnet import RetNetConfig
    if args.config_dir:
        with open(os.path.join(args.config_dir, 'config.json')) as f:
            d = json.load(f)
        for k in ('architectures', 'model_type', 'transformers_version', 'torch_dtype', 'dtype'):
            d.pop(k, None)
        return RetNetConfig(**d), args.config_dir
    cfg = RetNetConfig(hidden_size=args.hidden_size, num_hidden_layers=args.layers,
                       num_heads=args.heads, expand_k=args.expand_k, expand_v=args.expand_v,
                       intermediate_size=args.intermediate_size, vocab_size=args.vocab,
                       attn_mode='chunk', fuse_norm=True, tie_word_embeddings=False)
    name = f'd{args.hidden_size}-L{args.layers}-h{args.heads}'
    return cfg, name


def build_model(cfg):
    from fla.models.retnet import RetNetForCausalLM
    torch.manual_seed(0)
    try:  # initialise on the GPU (a 1.3B model initialised on the CPU takes long)
        with torch.device('cuda'):
            model = RetNetForCausalLM(cfg)
    except Exception as exc:  # pragma: no cover - depends on transformers' version
        log(f'init under torch.device("cuda") failed ({exc!r}); initialising on the CPU')
        model = RetNetForCausalLM(cfg).cuda()
    model = model.float().train()
    return model


def run_shape(model, opt, cfg, B, T, steps, warmup, lr, seed, label, P):
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator(device='cuda').manual_seed(seed)
    x = torch.randint(0, cfg.vocab_size, (B, T), device='cuda', generator=g)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(warmup + steps + 1)]
    losses = []
    t_wall = None
    log(f'{label} B={B} T={T}: first step (the first shape compiles and autotunes fla\'s '
        f'Triton kernels: minutes)')
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize()
            t_wall = time.perf_counter()
        starts[i].record()
        with torch.autocast('cuda', dtype=torch.bfloat16):
            out = model(input_ids=x, labels=x)
        out.loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.detach())
        del out
        if i < warmup or i == warmup + steps - 1:
            torch.cuda.synchronize()
            log(f'{label} B={B} T={T}: step {i + 1}/{warmup + steps}'
                f'{" (warm-up)" if i < warmup else ""} loss {losses[-1].item():.4f} '
                f'grad norm {gn.item():.3f}')
    starts[warmup + steps].record()
    torch.cuda.synchronize()
    wall = time.perf_counter() - t_wall
    dts = [starts[i].elapsed_time(starts[i + 1]) for i in range(warmup, warmup + steps)]
    med = statistics.median(dts)
    tokens = B * T
    tps = tokens / (med * 1e-3)
    fpt, R = flops_per_token(P, cfg.num_hidden_layers, cfg.num_heads,
                             int(cfg.hidden_size * cfg.expand_k),
                             int(cfg.hidden_size * cfg.expand_v), T)
    tflops = fpt * tps / 1e12
    loss_first, loss_last = losses[0].item(), losses[-1].item()
    if not (math.isfinite(loss_first) and math.isfinite(loss_last)):
        raise RuntimeError(f'loss is not finite ({loss_first}, {loss_last})')
    return {
        'bench': 'train', 'impl': 'fla', 'model': label, 'device': torch.cuda.get_device_name(0),
        'params': sum(p.numel() for p in model.parameters()), 'product_params': P,
        'batch': B, 'seq': T, 'tokens_per_step': tokens, 'warmup': warmup, 'steps': steps,
        'ms_per_step': round(med, 3), 'ms_per_step_min': round(min(dts), 3),
        'ms_per_step_max': round(max(dts), 3), 'ms_per_step_mean': round(1e3 * wall / steps, 3),
        'tokens_per_s': round(tps, 1), 'flops_per_token': fpt, 'mixer_flops_per_token_fwd': R,
        'model_tflops': round(tflops, 2), 'peak_tflops': PEAK_TFLOPS,
        'mfu': round(tflops / PEAK_TFLOPS, 4),
        'max_memory_allocated': torch.cuda.max_memory_allocated(),
        'max_memory_reserved': torch.cuda.max_memory_reserved(),
        'loss_first': round(loss_first, 5), 'loss_last': round(loss_last, 5), 'chunk': min(CHUNK, T),
        'lr': lr, 'precision': 'fp32 params, autocast bf16, AdamW(fused=True), clip 1.0',
        'targets_per_step': B * (T - 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--config-dir', help="a directory with fla's config.json")
    ap.add_argument('--hidden-size', type=int, default=2048)
    ap.add_argument('--layers', type=int, default=24)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--expand-k', type=float, default=1.0)
    ap.add_argument('--expand-v', type=float, default=2.0)
    ap.add_argument('--intermediate-size', type=int, default=2816)
    ap.add_argument('--vocab', type=int, default=32000)
    ap.add_argument('--seq', default='2048,8192', help='window lengths T, comma-separated')
    ap.add_argument('--tokens', type=int, default=16384,
                    help='tokens per step: B = tokens // T (default 16384)')
    ap.add_argument('--batch', type=int, default=0, help='a fixed B instead of --tokens // T')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', help='also append the JSON lines to this file')
    args = ap.parse_args()

    import fla  # noqa: F401  (from PYTHONPATH)
    cfg, label = load_config(args)
    t0 = time.perf_counter()
    model = build_model(cfg)
    P = product_params(model)
    P_cfg = product_params_config(cfg)
    if P != P_cfg:
        log(f'warning: product parameters {P} from the modules, {P_cfg} from the config')
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-8,
                            weight_decay=0.05, fused=True)
    log(f'fla {getattr(fla, "__version__", "?")}, torch {torch.__version__}, '
        f'{torch.cuda.get_device_name(0)}; {label}: '
        f'{sum(p.numel() for p in model.parameters())} parameters ({P} in products), '
        f'built in {time.perf_counter() - t0:.1f} s')
    for T in [int(t) for t in args.seq.split(',') if t]:
        B = args.batch or max(1, args.tokens // T)
        try:
            row = run_shape(model, opt, cfg, B, T, args.steps, args.warmup, args.lr, args.seed,
                            label, P)
        except Exception as exc:  # out of memory, a non-finite loss: report, go on
            oom = isinstance(exc, torch.cuda.OutOfMemoryError)
            row = {'bench': 'train', 'impl': 'fla', 'model': label, 'batch': B, 'seq': T,
                   'oom': oom, 'error': (str(exc).split('\n')[0] if oom else repr(exc))[:300]}
            log(f'{label} B={B} T={T}: {row["error"]}')
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
        row['fla_version'] = getattr(fla, '__version__', '?')
        row['torch'] = torch.__version__
        line = json.dumps(row)
        print(line, flush=True)
        if args.out:
            with open(args.out, 'a') as f:
                f.write(line + '\n')
        if 'ms_per_step' in row:
            log(f'{label} B={B} T={T}: {row["ms_per_step"]:.1f} ms/step, '
                f'{row["tokens_per_s"]:.0f} tokens/s, MFU {100 * row["mfu"]:.1f}%, '
                f'peak {row["max_memory_allocated"] / 1e9:.1f} GB, loss {row["loss_first"]:.3f} '
                f'-> {row["loss_last"]:.3f}')


if __name__ == '__main__':
    main()
