#!/usr/bin/env python3
"""sdpa_decode.py: the decoding peers of `retnet bench decode` (issue 6 (c)), on the GPU.

sdpa: a Llama-like Transformer of the same size as our RetNet config (d_model, layers and
  vocabulary read from our config JSON; heads of 128; pre-RMSNorm; rotary positions on halves;
  SwiGLU FFN whose width is chosen so that the parameter count matches the RetNet's within 1%;
  untied or tied embeddings as the config says) in bf16, written the way one writes a fast
  PyTorch decoder: fused qkv and gate/up projections, a static preallocated KV cache per layer
  (B, heads, capacity, 128), and a decoding step = projections, rope, the new key and value
  written into the cache, torch.nn.functional.scaled_dot_product_attention of the one query
  over the filled cache (PyTorch picks the backend), the FFN, the output projection and the
  argmax, which is the next step's input (greedy).
  The cache is filled with random values up to the context X (a position jump: no prefill is
  run, the step's cost does not depend on the values), then:
    graph  the step captured once in a CUDA graph at position X and replayed (each replay is
           the step at position X over X + 1 keys, rewriting slot X; the argmax fed back) --
           no launch overhead -- once per SDPA backend (PyTorch's default choice, flash,
           efficient, cudnn; --backends); the fastest is the number to compare with, and all
           are in the JSON;
    eager  the same step from Python, the position advancing from X (what an eager loop
           sees, launch overhead included), with the flash backend: measured on the H200
           (torch 2.11), PyTorch's default choice there took ~57 ms a step whatever the model
           size when the cache length changed every step (a per-length plan), against ~3 ms
           for the same step replayed at a fixed length.
  A (context, batch) whose cache does not fit in the free device memory is reported as
  {"fits": false, ...} (and an allocation that fails anyway as {"oom": true}), not run.

fla: fla's RetNetForCausalLM (the same config.json as fla_train.py, bf16 weights), decoding
  through its Hugging Face API: one sequence prefilled to X with model(..., use_cache=True)
  (fla's chunk kernels), its recurrent cache copied into every sequence of a batch of B, then
  greedy steps model(input_ids=next, past_key_values=cache, use_cache=True, logits_to_keep=1),
  eager (fla's own decoding path, fused_recurrent for one token).

Timing: CUDA events around each step after --warmup steps; the median of --steps. Memory per
sequence: the KV bytes at X (sdpa) or the bytes of fla's cache per sequence. The bound
(computed, not measured): bytes one step must read (each 2-D weight used in a product once in
bf16, the embedding row aside; the KV cache's X rows, or the recurrent state read and written)
over --bandwidth-gbs (4800, H200 HBM3e by the datasheet); --ceilings also measures a device copy
and a bf16 matmul in this run, for reference.

  python3 bench/gpu/sdpa_decode.py --config ours.json --impl sdpa --batch 1,8,64,256 \\
      --context 2048,8192,32768 --steps 32
  PYTHONPATH=build/fla-src python3 bench/gpu/sdpa_decode.py --impl fla --fla-config-dir DIR
  python3 bench/gpu/sdpa_decode.py --device cpu --dtype fp32 --d-model 64 --layers 2 \\
      --vocab 256 --head-dim 16 --batch 1,2 --context 32,64 --steps 3 --impl sdpa   # CPU check

Output: one JSON line per point on stdout; progress on stderr.
"""
import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

BW_GBS = 4800.0  # H200 HBM3e, datasheet


def log(msg):
    print(f'[sdpa_decode {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def emit(row, out):
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with open(out, 'a') as f:
            f.write(line + '\n')


# ----------------------------------------------------------------------------- sizes

def retnet_params(c):
    """Parameters of our RetNet config (retnet_config_param_count for the RMSNorm / GLU / gated
    variant that the fla-compatible configs use; layernorm adds biases, a negligible term)."""
    d, L, V = c['d_model'], c['n_layer'], c['vocab']
    glu = c.get('ffn', 'glu') == 'glu'
    gate = c.get('gate', True)
    per = 2 * d * c['d_key'] + (3 if gate else 2) * d * c['d_value']
    per += (3 if glu else 2) * d * c['d_ffn'] + 2 * d
    hn = c.get('head_norm', 'rmsnorm')
    if hn != 'none' and c.get('head_norm_affine', True):
        per += c['d_value'] if hn == 'groupnorm' else c['d_value'] // c['n_head']
    return L * per + V * d * (1 if c.get('tie_embeddings') else 2) + d


def llama_shape(c, head_dim):
    """The Llama-like Transformer matched to config c: same d, layers, vocabulary and
    embeddings; heads of head_dim; the SwiGLU width F chosen so that the parameter counts
    match (rounded to a multiple of 64; of 8 for the small models of CPU checks)."""
    d, L, V = c['d_model'], c['n_layer'], c['vocab']
    ffn_multiple = 64 if d >= 512 else 8
    tied = bool(c.get('tie_embeddings'))
    H = max(1, d // head_dim)
    D = d // H
    target = retnet_params(c)
    fixed = L * (4 * d * H * D + 2 * d) + V * d * (1 if tied else 2) + d
    F_ = max(ffn_multiple, round((target - fixed) / (3 * d * L) / ffn_multiple) * ffn_multiple)
    total = fixed + L * 3 * d * F_
    return dict(d=d, L=L, V=V, H=H, D=D, F=F_, tied=tied, params=total, retnet_params=target,
                mismatch=total / target - 1)


# ----------------------------------------------------------------------------- the Transformer

class Llama:
    """Weights as (in, out) matrices for x @ W; bf16 (or --dtype)."""

    def __init__(self, s, device, dtype, seed=0):
        g = torch.Generator(device=device).manual_seed(seed)
        d, L, V, H, D, F_ = s['d'], s['L'], s['V'], s['H'], s['D'], s['F']

        def w(i, o):
            return (torch.randn(i, o, device=device, dtype=torch.float32, generator=g)
                    * (i ** -0.5)).to(dtype)

        self.s = s
        self.emb = (torch.randn(V, d, device=device, generator=g) * 0.02).to(dtype)
        self.layers = [dict(n1=torch.ones(d, device=device, dtype=dtype), wqkv=w(d, 3 * H * D),
                            wo=w(H * D, d), n2=torch.ones(d, device=device, dtype=dtype),
                            w13=w(d, 2 * F_), w2=w(F_, d)) for _ in range(L)]
        self.norm = torch.ones(d, device=device, dtype=dtype)
        self.head = self.emb.t() if s['tied'] else w(d, V)
        self.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D // 2, device=device,
                                                        dtype=torch.float32) / (D // 2)))

    def weight_bytes(self):
        """Bytes of the 2-D weights used in products (the embedding table only looked up)."""
        n = sum(t.numel() * t.element_size() for l in self.layers
                for t in (l['wqkv'], l['wo'], l['w13'], l['w2']))
        return n + self.head.numel() * self.head.element_size()

    @staticmethod
    def rms(x, w, eps=1e-6):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w

    def rope(self, x, pos):
        """x (B, H, 1, D), rotary on halves (j, j + D/2) at position pos (a 1-element tensor)."""
        ang = pos.to(torch.float32)[:, None] * self.inv_freq[None, :]  # (1, D/2)
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1)

    def step(self, tok, pos, S, kc, vc):
        """One greedy step: tok (B,) ids at position pos (1-element long tensor); the cache
        holds S = pos + 1 rows after the write. Returns the argmax (B,)."""
        s = self.s
        B, H, D = tok.shape[0], s['H'], s['D']
        x = self.emb[tok][:, None, :]  # (B, 1, d)
        for l, lw in enumerate(self.layers):
            h = self.rms(x, lw['n1'])
            q, k, v = (h @ lw['wqkv']).view(B, 1, 3, H, D).permute(2, 0, 3, 1, 4)
            q, k = self.rope(q, pos), self.rope(k, pos)
            kc[l].index_copy_(2, pos, k)
            vc[l].index_copy_(2, pos, v)
            o = sdpa(q, kc[l][:, :, :S], vc[l][:, :, :S])
            x = x + o.transpose(1, 2).reshape(B, 1, H * D) @ lw['wo']
            h = self.rms(x, lw['n2'])
            a, b = (h @ lw['w13']).chunk(2, -1)
            x = x + (F.silu(a) * b) @ lw['w2']
        logits = self.rms(x, self.norm)[:, 0] @ self.head
        return logits.argmax(-1)


def sdpa(q, k, v):
    """PyTorch's fused attention; a plain softmax where it is missing (torch < 2.0: CPU checks
    on an old torch only)."""
    if hasattr(F, 'scaled_dot_product_attention'):
        return F.scaled_dot_product_attention(q, k, v)
    w = torch.softmax((q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1]), -1)
    return (w @ v.float()).to(q.dtype)


def events_time(fn, n, sync_each=False):
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(n + 1)]
    for i in range(n):
        ev[i].record()
        fn(i)
    ev[n].record()
    torch.cuda.synchronize()
    return [ev[i].elapsed_time(ev[i + 1]) for i in range(n)]


def wall_time(fn, n):
    ts = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        ts.append(1e3 * (time.perf_counter() - t))
    return ts


def backend(name):
    """A context that restricts SDPA to one backend ('default': PyTorch's own choice)."""
    if name == 'default':
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel({'flash': SDPBackend.FLASH_ATTENTION,
                        'efficient': SDPBackend.EFFICIENT_ATTENTION,
                        'cudnn': SDPBackend.CUDNN_ATTENTION}[name])


def eager_time(eager, name, args, cuda):
    """Warm-up, then per-step times of eager(i), i counting the steps from the first."""
    with backend(name):
        for i in range(args.warmup):
            eager(i)
        if not cuda:
            return wall_time(lambda i: eager(args.warmup + i), args.steps)
        torch.cuda.synchronize()
        return events_time(lambda i: eager(args.warmup + i), args.steps)


def graph_time(m, tok, X, kc, vc, args):
    """The step at position X captured in a CUDA graph (argmax fed back through a static
    token tensor), replayed: per-replay times after warm-up."""
    pos = torch.tensor([X], device=tok.device)
    tok_s = tok.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            tok_s.copy_(m.step(tok_s, pos, X + 1, kc, vc))
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        tok_s.copy_(m.step(tok_s, pos, X + 1, kc, vc))
    for _ in range(args.warmup):
        graph.replay()
    torch.cuda.synchronize()
    ts = events_time(lambda i: graph.replay(), args.steps)
    del graph
    return ts


def bench_sdpa(args, c, out):
    dev = torch.device(args.device)
    dtype = {'bf16': torch.bfloat16, 'fp32': torch.float32}[args.dtype]
    s = llama_shape(c, args.head_dim)
    log(f'sdpa: Llama-like d {s["d"]}, {s["L"]} layers, {s["H"]} heads of {s["D"]}, SwiGLU '
        f'{s["F"]}, vocab {s["V"]}: {s["params"]} parameters against the RetNet\'s '
        f'{s["retnet_params"]} ({100 * s["mismatch"]:+.2f}%)')
    if abs(s['mismatch']) > 0.01:
        raise SystemExit(f'parameter counts differ by {100 * s["mismatch"]:.2f}% (> 1%)')
    m = Llama(s, dev, dtype)
    wbytes = m.weight_bytes()
    esz = torch.tensor([], dtype=dtype).element_size()
    cuda = dev.type == 'cuda'
    gpu = torch.cuda.get_device_name(dev) if cuda else 'cpu'
    for X in args.contexts:
        for B in args.batches:
            cap = X + args.warmup + args.steps + 2
            kv_seq = 2 * s['L'] * X * s['H'] * s['D'] * esz         # KV bytes per sequence at X
            need = 2 * s['L'] * B * s['H'] * cap * s['D'] * esz
            row = dict(bench='decode', impl='sdpa', model='llama-matched', device=gpu,
                       params=s['params'], d_model=s['d'], n_layer=s['L'], n_head=s['H'],
                       head_dim=s['D'], d_ffn=s['F'], context=X, batch=B,
                       steps=args.steps, warmup=args.warmup, dtype=args.dtype,
                       state_bytes_per_seq=kv_seq, kv_cache_bytes=need,
                       weight_bytes_per_step=wbytes,
                       state_from='random KV cache filled to the context (position jump)')
            if cuda:
                free, _ = torch.cuda.mem_get_info(dev)
                if need > free - (2 << 30):
                    row.update(fits=False, free_bytes=free)
                    emit(row, args.out)
                    log(f'sdpa X={X} B={B}: the cache needs {need / 1e9:.1f} GB, '
                        f'{free / 1e9:.1f} GB free: not run')
                    continue
            kc = vc = None
            try:
                kc = [torch.empty(B, s['H'], cap, s['D'], device=dev, dtype=dtype).normal_()
                      for _ in range(s['L'])]
                vc = [torch.empty(B, s['H'], cap, s['D'], device=dev, dtype=dtype).normal_()
                      for _ in range(s['L'])]
                tok = torch.randint(0, s['V'], (B,), device=dev)
                res = {}
                with torch.no_grad():
                    if cuda and not args.no_graph:
                        # the step at position X in a CUDA graph, once per SDPA backend
                        for name in args.backends:
                            try:
                                with backend(name):
                                    res[name] = graph_time(m, tok, X, kc, vc, args)
                            except torch.cuda.OutOfMemoryError:
                                raise
                            except Exception as exc:  # that backend cannot: say why, go on
                                row.setdefault('backend_errors', {})[name] = repr(exc)[:200]
                    # eager: the position advances from X (flash backend on the GPU: a new
                    # cache length each step must not rebuild a plan)
                    state = {'tok': tok.clone()}
                    positions = torch.arange(X, cap, device=dev)

                    def eager(i):
                        state['tok'] = m.step(state['tok'], positions[i:i + 1], X + i + 1, kc, vc)
                    eager_backend = 'flash' if cuda else 'default'
                    try:
                        ts = eager_time(eager, eager_backend, args, cuda)
                    except torch.cuda.OutOfMemoryError:
                        raise
                    except Exception as exc:
                        row['eager_error'] = f'{eager_backend}: {exc!r}'[:200]
                        eager_backend = 'default'
                        ts = eager_time(eager, eager_backend, args, cuda)
                graphs = {k: statistics.median(v) for k, v in res.items()}
                if graphs:
                    best = min(graphs, key=graphs.get)
                    main, times = 'graph', res[best]
                    row['graph_ms_per_step'] = {k: round(v, 4) for k, v in graphs.items()}
                    row['sdpa_backend'] = best
                else:
                    main, times = 'eager', ts
                    row['sdpa_backend'] = eager_backend
                med = statistics.median(times)
                row.update(fits=True, mode=main, ms_per_step=round(med, 4),
                           ms_per_step_min=round(min(times), 4),
                           ms_per_step_max=round(max(times), 4),
                           tokens_per_s=round(B / (med * 1e-3), 1),
                           eager_ms_per_step=round(statistics.median(ts), 4),
                           eager_backend=eager_backend)
                bytes_ = wbytes + B * (kv_seq + 2 * s['L'] * s['H'] * s['D'] * esz)
                row.update(bytes_per_step=bytes_, bandwidth_gbs=args.bandwidth_gbs,
                           bound_ms=round(1e3 * bytes_ / (args.bandwidth_gbs * 1e9), 4))
                row['of_bound'] = round(row['bound_ms'] / med, 4)
                if cuda:
                    row['max_memory_allocated'] = torch.cuda.max_memory_allocated(dev)
                log(f'sdpa X={X} B={B}: {med:.3f} ms/step ({main}, {row["sdpa_backend"]}; '
                    f'eager {row["eager_ms_per_step"]:.3f}), {row["tokens_per_s"]:.0f} '
                    f'tokens/s, KV {kv_seq / 1e6:.0f} MB/seq, bound {row["bound_ms"]:.3f} ms')
            except torch.cuda.OutOfMemoryError as exc:
                row.update(oom=True, error=str(exc).split('\n')[0][:300])
                log(f'sdpa X={X} B={B}: out of memory')
            finally:
                kc = vc = None
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(dev)
            emit(row, args.out)


# ----------------------------------------------------------------------------- fla

def map_cache(obj, fn):
    if torch.is_tensor(obj):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: map_cache(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_cache(v, fn) for v in obj)
    return obj


def cache_bytes(obj):
    n = [0]
    map_cache(obj, lambda t: n.__setitem__(0, n[0] + t.numel() * t.element_size()))
    return n[0]


def bench_fla(args, out):
    import fla  # noqa: F401  (from PYTHONPATH)
    from fla.models.retnet import RetNetConfig, RetNetForCausalLM
    from fla.models.utils import Cache
    with open(os.path.join(args.fla_config_dir, 'config.json')) as f:
        d = json.load(f)
    for k in ('architectures', 'model_type', 'transformers_version', 'torch_dtype', 'dtype'):
        d.pop(k, None)
    cfg = RetNetConfig(**d)
    torch.manual_seed(0)
    with torch.device('cuda'):
        model = RetNetForCausalLM(cfg)
    model = model.to(torch.bfloat16).eval()
    gpu = torch.cuda.get_device_name(0)
    emb = model.get_input_embeddings().weight
    wbytes = sum(p.numel() * p.element_size() for p in model.parameters()
                 if p.dim() == 2 and (p is not emb or cfg.tie_word_embeddings))
    nparams = sum(p.numel() for p in model.parameters())
    log(f'fla: RetNetForCausalLM {nparams} parameters, bf16, {gpu}')
    with torch.no_grad():
        # compile fla's kernels (chunk prefill, one-token step) before anything is timed
        w = model(input_ids=torch.randint(0, cfg.vocab_size, (1, 128), device='cuda'),
                  use_cache=True, logits_to_keep=1)
        model(input_ids=w.logits[:, -1].argmax(-1, keepdim=True), past_key_values=w.past_key_values,
              use_cache=True, logits_to_keep=1)
        del w
        torch.cuda.synchronize()
        log('fla: kernels compiled')
        for X in args.contexts:
            g = torch.Generator(device='cuda').manual_seed(X)
            prompt = torch.randint(0, cfg.vocab_size, (1, X), device='cuda', generator=g)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            o = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
            first = o.logits[:, -1].argmax(-1)
            torch.cuda.synchronize()
            prefill_s = time.perf_counter() - t0
            legacy = o.past_key_values.to_legacy_cache()
            del o
            seq_bytes = cache_bytes(legacy)
            emit(dict(bench='prefill', impl='fla', device=gpu, context=X, seconds=round(prefill_s, 4),
                      tokens_per_s=round(X / prefill_s, 1),
                      note='one forward of X tokens (fla chunk mode)'), args.out)
            for B in args.batches:
                row = dict(bench='decode', impl='fla', model='fla-retnet', device=gpu,
                           params=nparams, context=X, batch=B, steps=args.steps,
                           warmup=args.warmup, dtype='bf16', state_bytes_per_seq=seq_bytes,
                           weight_bytes_per_step=wbytes, mode='eager (Hugging Face API)',
                           state_from='one sequence prefilled to the context, its cache copied '
                                      'to all')
                try:
                    rep = map_cache(legacy, lambda t: t.repeat(B, *([1] * (t.dim() - 1)))
                                    if t.dim() > 0 and t.shape[0] == 1 else t)
                    cache = Cache.from_legacy_cache(rep, seen_tokens=X)
                    state = {'tok': first.repeat(B)[:, None]}

                    def step(i):
                        r = model(input_ids=state['tok'], past_key_values=cache, use_cache=True,
                                  logits_to_keep=1)
                        state['tok'] = r.logits[:, -1].argmax(-1, keepdim=True)
                    for i in range(args.warmup):
                        step(i)
                    torch.cuda.synchronize()
                    ts = events_time(step, args.steps)
                    med = statistics.median(ts)
                    bytes_ = wbytes + 2 * B * seq_bytes
                    row.update(ms_per_step=round(med, 4), ms_per_step_min=round(min(ts), 4),
                               ms_per_step_max=round(max(ts), 4),
                               tokens_per_s=round(B / (med * 1e-3), 1), bytes_per_step=bytes_,
                               bandwidth_gbs=args.bandwidth_gbs,
                               bound_ms=round(1e3 * bytes_ / (args.bandwidth_gbs * 1e9), 4),
                               max_memory_allocated=torch.cuda.max_memory_allocated())
                    row['of_bound'] = round(row['bound_ms'] / med, 4)
                    log(f'fla X={X} B={B}: {med:.3f} ms/step, {row["tokens_per_s"]:.0f} tokens/s, '
                        f'state {seq_bytes / 1e6:.1f} MB/seq')
                    del cache, rep
                except torch.cuda.OutOfMemoryError as exc:
                    row.update(oom=True, error=str(exc).split('\n')[0][:300])
                except Exception as exc:  # report, go on with the other points
                    row.update(error=repr(exc)[:400])
                    log(f'fla X={X} B={B}: {exc!r}')
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                emit(row, args.out)


# ----------------------------------------------------------------------------- ceilings

def ceilings(out):
    """A device-to-device copy (bytes read + written per second) and a bf16 8192^3 matmul."""
    src = torch.empty(2 ** 30, device='cuda', dtype=torch.bfloat16).normal_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    ts = events_time(lambda i: dst.copy_(src), 20)
    copy_gbs = 2 * src.numel() * 2 / (statistics.median(ts) * 1e-3) / 1e9
    del src, dst
    n = 8192
    a = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    b = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    ts = events_time(lambda i: a @ b, 20)
    tflops = 2 * n ** 3 / (statistics.median(ts) * 1e-3) / 1e12
    del a, b
    torch.cuda.empty_cache()
    emit(dict(bench='ceilings', device=torch.cuda.get_device_name(0),
              copy_gbs_read_plus_write=round(copy_gbs, 1), matmul_bf16_tflops=round(tflops, 1),
              note='median of 20 after 3 warm-ups; random data'), out)
    log(f'ceilings: copy {copy_gbs:.0f} GB/s (read + write), bf16 matmul {tflops:.0f} TFLOP/s')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--config', help='our config JSON (d_model, n_layer, vocab, d_key, d_value, '
                    'd_ffn, ...): the RetNet the Transformer is matched to')
    ap.add_argument('--d-model', type=int, default=2048)
    ap.add_argument('--layers', type=int, default=24)
    ap.add_argument('--vocab', type=int, default=32000)
    ap.add_argument('--heads', type=int, default=8, help='the RetNet\'s heads (for its size)')
    ap.add_argument('--d-ffn', type=int, default=2816, help='the RetNet\'s SwiGLU width')
    ap.add_argument('--head-dim', type=int, default=128)
    ap.add_argument('--impl', default='sdpa', help='sdpa, fla, or sdpa,fla')
    ap.add_argument('--fla-config-dir', help="fla's config.json directory (for --impl fla)")
    ap.add_argument('--batch', default='1,8,64,256')
    ap.add_argument('--context', default='2048,8192,32768')
    ap.add_argument('--steps', type=int, default=32)
    ap.add_argument('--warmup', type=int, default=4)
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--dtype', default='bf16', choices=['bf16', 'fp32'])
    ap.add_argument('--no-graph', action='store_true', help='eager only (no CUDA graph)')
    ap.add_argument('--backends', default='default,flash,efficient,cudnn',
                    help='SDPA backends to time in CUDA graphs (the fastest is reported)')
    ap.add_argument('--bandwidth-gbs', type=float, default=BW_GBS)
    ap.add_argument('--ceilings', action='store_true', help='also measure copy and matmul rates')
    ap.add_argument('--out', help='also append the JSON lines to this file')
    args = ap.parse_args()
    args.batches = [int(x) for x in args.batch.split(',') if x]
    args.contexts = [int(x) for x in args.context.split(',') if x]
    args.backends = [x for x in args.backends.split(',') if x]
    if args.config:
        with open(args.config) as f:
            c = json.load(f)
    else:
        d = args.d_model
        c = dict(d_model=d, n_layer=args.layers, vocab=args.vocab, n_head=args.heads,
                 d_key=d, d_value=2 * d, d_ffn=args.d_ffn, ffn='glu', gate=True,
                 head_norm='rmsnorm', head_norm_affine=True, tie_embeddings=False)
    impls = [x for x in args.impl.split(',') if x]
    if args.ceilings and args.device.startswith('cuda'):
        ceilings(args.out)
    if 'sdpa' in impls:
        bench_sdpa(args, c, args.out)
    if 'fla' in impls:
        if not args.fla_config_dir:
            raise SystemExit('--impl fla needs --fla-config-dir DIR (fla\'s config.json)')
        bench_fla(args, args.out)


if __name__ == '__main__':
    main()
