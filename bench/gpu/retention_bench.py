#!/usr/bin/env python3
"""Our CUDA retention kernels (src/cuda/retention.cu) against the best existing kernels, one run.

Extends ../shared/peers/fla_retention_bench.py (the peer measurements) with our kernels, called
through ctypes (dev/cuda/retention_ctypes.py; build: dev/cuda/build.sh), timed with the same
CUDA-event code, on the same GPU, in the same process:
  ours       retention_cuda_forward / _backward (prefill, same shapes and inputs as fla's) and
             retention_cuda_step (decode, CUDA-graph replay like fla's); our outputs and gradients
             against fla's on the same inputs (rel = ||ours - fla|| / ||fla||)
  summary    the table of bench/gpu/retention-h200.md (markdown, also in the JSON)
Run: PYTHONPATH=<fla checkout> python3 bench/gpu/retention_bench.py [--lib SO] [--only ...]

What the peer script measures:

What it measures (bf16, random inputs, median of CUDA-event timings after warm-up):
  ceilings   bf16 8192^3 torch matmul (TFLOP/s) and a device-to-device copy (GB/s)
  prefill    fla chunk_retention forward and forward+backward, B*T = 32768 tokens per call,
             two configs (paper 1.3B: H=8 K=256 V=512; common: H=16 K=128 V=256);
             torch scaled_dot_product_attention, causal, flash backend (and cuDNN when it runs),
             same B, T, H, head dim 256 / 128 for q, k and v
  decode     one token: fla fused_recurrent retention (T=1, carried fp32 state) against SDPA over a
             KV cache of 1k..64k tokens, batch 1, 8, 64; per-step microseconds and bytes per sequence
  check      chunk_retention (bf16) against fla's naive fp32 reference, output and gradients, and
             chunkwise prefill -> recurrent step consistency
  extras     fla fused_chunk_retention and parallel_retention at T=4096, when time is left

fla (flash-linear-attention) is imported at run time only: put its source on PYTHONPATH.
Results go to $OUT/results.json (or ./results.json); a compact table is printed last.

FLOP formulas (per call; C = chunk size 64; causal; see FORMULAS below and in the JSON).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import traceback

T_START = time.time()

FORMULAS = {
    'retention_fwd': 'B*T*H*(4*K*V + 2*C*(K+V)): per token and head, state update k^T v (2KV), '
                     'inter-chunk q S (2KV), intra-chunk q k^T over the full CxC block (2CK) and '
                     'A v (2CV); C = 64',
    'retention_bwd': 'B*T*H*(10*K*V + 6*C*K + 4*C*V): fla backward = recompute chunk states (2KV), '
                     'dS pass q^T dO (2KV), dq/dk kernel (dO v^T 2CV, dO S^T 2KV, v dS^T 2KV, '
                     'dA k 2CK, dA^T q 2CK), dv kernel (k q^T 2CK, k dS 2KV, A^T dO 2CV); '
                     'redundant recomputation across V/K tiles is not counted',
    'retention_fwdbwd': 'retention_fwd + retention_bwd = B*T*H*(14*K*V + 8*C*K + 6*C*V)',
    'attention_fwd': '2*B*H*T^2*D (causal half of 4*B*H*T^2*D), FlashAttention convention',
    'attention_fwdbwd': '3.5 * attention_fwd (backward = 2.5 * forward), FlashAttention convention',
    'matmul': '2*N^3',
    'copy_GBps': 'bytes read + bytes written per second (2 * buffer size / time), 1e9 bytes',
    'decode_traffic': 'retention: state read + state write (fp32) + q,k,v,o; attention: K and V '
                      'cache read (bf16) + q,o',
    'ours_rates': 'our TFLOP/s use the retention_fwd / retention_fwdbwd formulas above (fla\'s '
                  'useful work), so rates compare directly; ours_executed_* is what our kernels '
                  'execute: per pass B*T*H*(ntiles*2*C*Kc*f + 2*C*Vo*f + 4*Kc*Vo), f = causal '
                  'fraction of 16x16 blocks (10/16 for C=64, 3/4 for C=32; 1 for the wgmma kernels, '
                  'which multiply whole 64x64 blocks with C=64), ntiles = ceil(Vo/VT): '
                  'the score block is recomputed per output tile; backward = 3 such passes',
}

RET_CFGS = [
    {'name': 'paper-1.3B', 'H': 8, 'K': 256, 'V': 512},
    {'name': 'common', 'H': 16, 'K': 128, 'V': 256},
]
ATTN_CFGS = [
    {'name': 'H8-D256', 'H': 8, 'D': 256},
    {'name': 'H16-D128', 'H': 16, 'D': 128},
]
BT_PAIRS = [(16, 2048), (8, 4096), (2, 16384)]
DECODE_B = [1, 8, 64]
DECODE_L = [1024, 4096, 16384, 65536]
CHUNK = 64
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'dev', 'cuda'))

RES = {'meta': {}, 'formulas': FORMULAS, 'ceilings': {}, 'prefill': [], 'decode': [],
       'correctness': {}, 'autotune': {}, 'extras': [], 'errors': [], 'timeline': [],
       'ours_vs_fla': []}


def elapsed():
    return time.time() - T_START


def log(msg):
    print(f'[{elapsed():7.1f}s] {msg}', flush=True)
    RES['timeline'].append([round(elapsed(), 1), msg])


def out_dir():
    d = os.environ.get('OUT') or '.'
    os.makedirs(d, exist_ok=True)
    return d


def save():
    with open(os.path.join(out_dir(), 'results.json'), 'w') as f:
        json.dump(RES, f, indent=1, default=str)


def record_error(where, exc):
    tb = traceback.format_exc(limit=6)
    RES['errors'].append({'where': where, 'error': repr(exc)[:800], 'traceback': tb[-3000:]})
    log(f'ERROR in {where}: {repr(exc)[:300]}')


# ----------------------------------------------------------------------------- timing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DEV = 'cuda'
BF16 = torch.bfloat16
_FLUSH = []


def flush_l2():
    if not _FLUSH:
        _FLUSH.append(torch.empty(256 * 2**20, dtype=torch.int8, device=DEV))
    _FLUSH[0].zero_()


def _ev():
    return torch.cuda.Event(enable_timing=True)


def _q(sorted_vals, p):
    i = min(len(sorted_vals) - 1, max(0, int(round(p * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def time_events(fn, pre=None, target_ms=200.0, min_iters=5, max_iters=500, warmup=2, flush=True):
    """Per-call CUDA-event timing, L2 flushed before each call (as triton's do_bench does)."""
    for _ in range(warmup):
        if pre:
            pre()
        fn()
    torch.cuda.synchronize()
    if pre:
        pre()
    s, e = _ev(), _ev()
    s.record()
    fn()
    e.record()
    torch.cuda.synchronize()
    est = max(s.elapsed_time(e), 1e-3)
    n = int(min(max_iters, max(min_iters, target_ms / est)))
    starts = [_ev() for _ in range(n)]
    ends = [_ev() for _ in range(n)]
    for i in range(n):
        if pre:
            pre()
        if flush:
            flush_l2()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    ts = sorted(a.elapsed_time(b) for a, b in zip(starts, ends))
    return {'median_ms': _q(ts, 0.5), 'p20_ms': _q(ts, 0.2), 'p80_ms': _q(ts, 0.8),
            'min_ms': ts[0], 'iters': n}


def time_graph(fn, **kw):
    """Capture fn once in a CUDA graph, then time replays (no CPU launch overhead)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    r = time_events(g.replay, **kw)
    del g
    return r


def time_wall(fn, n=200, warmup=10):
    """Back-to-back Python calls, wall clock per call (what a Python decode loop sees)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e3


def rate(row_part, tokens, flops):
    ms = row_part['median_ms']
    row_part['tok_per_s'] = tokens / (ms * 1e-3)
    row_part['tflops'] = flops / (ms * 1e-3) / 1e12
    row_part['flops'] = flops
    return row_part


# ----------------------------------------------------------------------------- fla import

def import_fla():
    """Import fla's retention ops. If fla/__init__ fails (it also imports layers/models, which
    need transformers), fall back to stub parent packages so only the ops are loaded."""
    info = {}
    try:
        import fla.ops.retention as R  # noqa: F401
        info['import'] = 'normal'
    except Exception as exc:  # pragma: no cover - depends on the machine
        info['import'] = 'stubbed after: ' + repr(exc)[:300]
        import importlib.util
        import re
        import types
        for m in [m for m in list(sys.modules) if m == 'fla' or m.startswith('fla.')]:
            del sys.modules[m]
        spec = importlib.util.find_spec('fla')
        root = os.path.dirname(spec.origin)
        ver = re.search(r'__version__\s*=\s*"([^"]+)"', open(spec.origin).read())
        for name, path in (('fla', root), ('fla.ops', os.path.join(root, 'ops'))):
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            mod.__package__ = name
            if name == 'fla':
                mod.__version__ = ver.group(1) if ver else 'unknown'
            sys.modules[name] = mod
        import fla.ops.retention as R  # noqa: F401,F811
    import fla
    import fla.ops.retention as R
    from fla.ops.retention.naive import naive_retention
    from fla.ops.simple_gla.fused_recurrent import fused_recurrent_simple_gla
    info['version'] = getattr(fla, '__version__', 'unknown')
    info['path'] = os.path.dirname(os.path.abspath(R.__file__))
    return R, naive_retention, fused_recurrent_simple_gla, info


def fla_autotuners():
    from triton.runtime.autotuner import Autotuner
    mods = {}
    try:
        import fla.ops.common.chunk_h as ch
        import fla.ops.common.chunk_o as co
        import fla.ops.common.fused_chunk as fc
        import fla.ops.common.fused_recurrent as fr
        import fla.ops.simple_gla.parallel as sp
        mods = {
            'chunk_fwd_kernel_h': ch.chunk_fwd_kernel_h,
            'chunk_bwd_kernel_dh': ch.chunk_bwd_kernel_dh,
            'chunk_fwd_kernel_o': co.chunk_fwd_kernel_o,
            'chunk_bwd_kernel_dqkwg': co.chunk_bwd_kernel_dqkwg,
            'chunk_bwd_kernel_dv': co.chunk_bwd_kernel_dv,
            'fused_recurrent_fwd_kernel': fr.fused_recurrent_fwd_kernel,
            'fused_chunk_fwd_kernel': fc.fused_chunk_fwd_kernel,
            'fused_chunk_bwd_kernel': fc.fused_chunk_bwd_kernel,
            'parallel_simple_gla_fwd_kernel': sp.parallel_simple_gla_fwd_kernel,
        }
    except Exception as exc:
        record_error('fla_autotuners', exc)
    out = {}
    for name, obj in mods.items():
        o, depth = obj, 0
        while o is not None and not isinstance(o, Autotuner) and depth < 5:
            o, depth = getattr(o, 'fn', None), depth + 1
        if isinstance(o, Autotuner):
            out[name] = o
    return out


def autotune_snapshot(tag):
    snap = {}
    for name, at in fla_autotuners().items():
        if at.cache:
            snap[name] = {'n_configs': len(at.configs),
                          'last_bench_s': getattr(at, 'bench_time', None),
                          'chosen': {str(k): str(v) for k, v in at.cache.items()}}
    RES['autotune'][tag] = snap


def force_retune_h_kernels():
    """The chunk-state kernels' autotune key holds no shape (K, V, T), so without this the second
    config would reuse the tiles tuned on the first. Clear them (and skip the disk cache)."""
    ats = fla_autotuners()
    for name in ('chunk_fwd_kernel_h', 'chunk_bwd_kernel_dh'):
        at = ats.get(name)
        if at is not None:
            at.cache.clear()
            at.cache_results = False


# ----------------------------------------------------------------------------- sections

def meta(fla_info):
    import triton
    p = torch.cuda.get_device_properties(0)
    m = RES['meta']
    m.update({
        'date_utc': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()),
        'gpu': torch.cuda.get_device_name(0),
        'sm_count': p.multi_processor_count,
        'capability': f'{p.major}.{p.minor}',
        'total_mem_GiB': round(p.total_memory / 2**30, 1),
        'l2_MB': round(getattr(p, 'L2_cache_size', 0) / 1e6, 1),
        'torch': torch.__version__, 'torch_cuda': torch.version.cuda,
        'cudnn': torch.backends.cudnn.version(), 'triton': triton.__version__,
        'python': sys.version.split()[0], 'fla': fla_info,
    })
    try:
        import importlib.util
        m['tilelang_installed'] = importlib.util.find_spec('tilelang') is not None
    except Exception:
        pass
    commit_file = os.path.join(os.environ.get('PYTHONPATH', '').split(':')[0], 'FLA_COMMIT')
    if os.path.exists(commit_file):
        m['fla_commit'] = open(commit_file).read().strip()
    try:
        m['nvidia_smi'] = subprocess.run(
            ['nvidia-smi', '--query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit',
             '--format=csv,noheader'], capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as exc:
        m['nvidia_smi'] = repr(exc)


def ceilings(tag='start'):
    n = 8192
    a = torch.randn(n, n, device=DEV, dtype=BF16)
    b = torch.randn(n, n, device=DEV, dtype=BF16)
    c = torch.empty(n, n, device=DEV, dtype=BF16)
    r = time_events(lambda: torch.matmul(a, b, out=c), target_ms=300, flush=False, warmup=5)
    r['tflops'] = 2 * n**3 / (r['median_ms'] * 1e-3) / 1e12
    RES['ceilings'][f'matmul_bf16_8192_{tag}'] = r
    del a, b, c
    nbytes = 2**31  # 2 GiB buffer
    src = torch.randn(nbytes // 2, device=DEV, dtype=BF16)
    dst = torch.empty_like(src)
    r = time_events(lambda: dst.copy_(src), target_ms=300, flush=False, warmup=3)
    r['GBps_read_plus_write'] = 2 * nbytes / (r['median_ms'] * 1e-3) / 1e9
    r['GBps_copy_size'] = nbytes / (r['median_ms'] * 1e-3) / 1e9
    r['bytes'] = nbytes
    RES['ceilings'][f'd2d_copy_{tag}'] = r
    del src, dst
    torch.cuda.empty_cache()
    log(f"ceilings[{tag}]: matmul {RES['ceilings'][f'matmul_bf16_8192_{tag}']['tflops']:.0f} TFLOP/s, "
        f"copy {RES['ceilings'][f'd2d_copy_{tag}']['GBps_read_plus_write']:.0f} GB/s (r+w)")


def ret_flops(B, T, H, K, V, C=CHUNK):
    fwd = B * T * H * (4 * K * V + 2 * C * (K + V))
    bwd = B * T * H * (10 * K * V + 6 * C * K + 4 * C * V)
    return fwd, fwd + bwd


def attn_flops(B, T, H, D):
    fwd = 2 * B * H * T * T * D
    return fwd, 3.5 * fwd


def bench_retention_prefill(op, kind, cfg, B, T):
    H, K, V = cfg['H'], cfg['K'], cfg['V']
    q = torch.randn(B, T, H, K, device=DEV, dtype=BF16, requires_grad=True)
    k = torch.randn(B, T, H, K, device=DEV, dtype=BF16, requires_grad=True)
    v = torch.randn(B, T, H, V, device=DEV, dtype=BF16, requires_grad=True)
    do = torch.randn(B, T, H, V, device=DEV, dtype=BF16)

    def zero():
        q.grad = k.grad = v.grad = None

    def fwd():
        with torch.no_grad():
            op(q, k, v)

    def fwdbwd():
        o = op(q, k, v)[0]
        o.backward(do)

    row = {'kind': kind, 'cfg': cfg['name'], 'B': B, 'T': T, 'H': H, 'K': K, 'V': V, 'tokens': B * T}
    f_fwd, f_fb = ret_flops(B, T, H, K, V)
    t = time.perf_counter()
    fwd()
    torch.cuda.synchronize()
    row['fwd_first_call_s'] = time.perf_counter() - t
    row['fwd'] = rate(time_events(fwd), B * T, f_fwd)
    zero()
    t = time.perf_counter()
    fwdbwd()
    torch.cuda.synchronize()
    row['fwdbwd_first_call_s'] = time.perf_counter() - t
    zero()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fwdbwd()
    torch.cuda.synchronize()
    row['fwdbwd_peak_extra_MiB'] = (torch.cuda.max_memory_allocated() - base) / 2**20
    row['fwdbwd'] = rate(time_events(fwdbwd, pre=zero), B * T, f_fb)
    if kind == 'retention-chunk':
        # chunk_retention builds its per-head decays from a Python range every call (a blocking
        # host-to-device copy); the same kernels called with the decays precomputed show the
        # kernel-only time
        from fla.ops.simple_gla.chunk import chunk_simple_gla
        gg = torch.log(1 - torch.pow(2.0, -5.0 - torch.arange(H, device=DEV, dtype=torch.float32)))

        def fwd_d():
            with torch.no_grad():
                chunk_simple_gla(q, k, v, g_gamma=gg)

        def fwdbwd_d():
            chunk_simple_gla(q, k, v, g_gamma=gg)[0].backward(do)
        with torch.no_grad():
            row['direct_maxdiff'] = (chunk_simple_gla(q, k, v, g_gamma=gg)[0].float()
                                     - op(q, k, v)[0].float()).abs().max().item()
        row['fwd_direct'] = rate(time_events(fwd_d), B * T, f_fwd)
        row['fwdbwd_direct'] = rate(time_events(fwdbwd_d, pre=zero), B * T, f_fb)
    del q, k, v, do
    return row


def bench_sdpa_prefill(backend_name, cfg, B, T):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = {'flash': SDPBackend.FLASH_ATTENTION, 'cudnn': SDPBackend.CUDNN_ATTENTION,
               'efficient': SDPBackend.EFFICIENT_ATTENTION}[backend_name]
    H, D = cfg['H'], cfg['D']
    # [B, T, H, D] storage, passed as [B, H, T, D] views (the usual model layout, no copies)
    qb = torch.randn(B, T, H, D, device=DEV, dtype=BF16, requires_grad=True)
    kb = torch.randn(B, T, H, D, device=DEV, dtype=BF16, requires_grad=True)
    vb = torch.randn(B, T, H, D, device=DEV, dtype=BF16, requires_grad=True)

    def run():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(qb.transpose(1, 2), kb.transpose(1, 2),
                                                  vb.transpose(1, 2), is_causal=True)

    with torch.no_grad():
        do = torch.randn_like(run())

    def zero():
        qb.grad = kb.grad = vb.grad = None

    def fwd():
        with torch.no_grad():
            run()

    def fwdbwd():
        run().backward(do)

    row = {'kind': f'sdpa-{backend_name}', 'cfg': cfg['name'], 'B': B, 'T': T, 'H': H, 'K': D, 'V': D,
           'tokens': B * T}
    f_fwd, f_fb = attn_flops(B, T, H, D)
    row['fwd'] = rate(time_events(fwd), B * T, f_fwd)
    zero()
    fwdbwd()
    zero()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fwdbwd()
    torch.cuda.synchronize()
    row['fwdbwd_peak_extra_MiB'] = (torch.cuda.max_memory_allocated() - base) / 2**20
    row['fwdbwd'] = rate(time_events(fwdbwd, pre=zero), B * T, f_fb)
    del qb, kb, vb, do
    return row


def bench_retention_decode(R, SG, cfg, B):
    H, K, V = cfg['H'], cfg['K'], cfg['V']
    q = torch.randn(B, 1, H, K, device=DEV, dtype=BF16)
    k = torch.randn(B, 1, H, K, device=DEV, dtype=BF16)
    v = torch.randn(B, 1, H, V, device=DEV, dtype=BF16)
    S = torch.randn(B, H, K, V, device=DEV, dtype=torch.float32) * 0.05
    gg = torch.log(1 - torch.pow(2.0, -5.0 - torch.arange(H, device=DEV, dtype=torch.float32)))
    scale = K ** -0.5

    def api():
        return R.fused_recurrent_retention(q, k, v, initial_state=S, output_final_state=True)

    def ker():
        return SG(q, k, v, g_gamma=gg, scale=scale, initial_state=S, output_final_state=True)

    row = {'kind': 'retention-fused_recurrent', 'cfg': cfg['name'], 'B': B, 'ctx': None,
           'H': H, 'K': K, 'V': V}
    with torch.no_grad():
        o1, s1 = api()
        o2, s2 = ker()
        row['api_vs_kernel_maxdiff'] = max((o1.float() - o2.float()).abs().max().item(),
                                           (s1 - s2).abs().max().item())
        row['state_dtype'] = str(s1.dtype)
        row['api_loop_us'] = time_wall(api) * 1e3
        g = time_graph(ker)
    row['graph'] = g
    row['graph_us'] = g['median_ms'] * 1e3
    row['bytes_per_seq'] = H * K * V * 4
    traffic = B * (2 * H * K * V * 4 + 2 * H * (2 * K + 2 * V))
    row['traffic_bytes'] = traffic
    row['GBps'] = traffic / (g['median_ms'] * 1e-3) / 1e9
    row['tok_per_s'] = B / (g['median_ms'] * 1e-3)
    return row


def bench_attn_decode(cfg, B, L, backend_name='flash', api=True):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = {'flash': SDPBackend.FLASH_ATTENTION, 'cudnn': SDPBackend.CUDNN_ATTENTION,
               'efficient': SDPBackend.EFFICIENT_ATTENTION}[backend_name]
    H, D = cfg['H'], cfg['D']
    q = torch.randn(B, 1, H, D, device=DEV, dtype=BF16).transpose(1, 2)
    kc = torch.randn(B, L, H, D, device=DEV, dtype=BF16).transpose(1, 2)
    vc = torch.randn(B, L, H, D, device=DEV, dtype=BF16).transpose(1, 2)

    def step():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, kc, vc)

    row = {'kind': f'sdpa-{backend_name}', 'cfg': cfg['name'], 'B': B, 'ctx': L, 'H': H, 'K': D, 'V': D}
    with torch.no_grad():
        row['api_loop_us'] = (time_wall(step, n=100 if L * B <= 2**20 else 20, warmup=3) * 1e3
                              if api else float('nan'))
        g = time_graph(step, target_ms=150)
    row['graph'] = g
    row['graph_us'] = g['median_ms'] * 1e3
    row['bytes_per_seq'] = 2 * L * H * D * 2
    traffic = B * (2 * L * H * D * 2 + 2 * H * D * 2)
    row['traffic_bytes'] = traffic
    row['GBps'] = traffic / (g['median_ms'] * 1e-3) / 1e9
    row['tok_per_s'] = B / (g['median_ms'] * 1e-3)
    del q, kc, vc
    return row


# ----------------------------------------------------------------------------- ours

def ours_pass_flops(B, T, H, Kc, Vo, sm, wgmma=False):
    """FLOPs one chunkwise pass executes (the choice of tile and chunk as run_chunk's). The
    mma.sync kernel skips the 16x16 score blocks above the diagonal (chunks of 32 when the
    contraction is 512); the wgmma kernels multiply whole 64 x 64 blocks (chunks of 64)."""
    kc = 64 if Kc <= 64 else 128 if Kc <= 128 else 256 if Kc <= 256 else 512
    vt = 32 if kc == 512 or B * H * -(-Vo // 64) < sm * 9 // 10 else 64
    C = 32 if kc == 512 and not wgmma else 64
    f = 1.0 if wgmma else 0.75 if C == 32 else 10 / 16
    ntiles = -(-Vo // vt)
    return B * T * H * (ntiles * 2 * C * Kc * f + 2 * C * Vo * f + 4 * Kc * Vo)


def bench_ours_prefill(Rc, cfg, B, T, R=None):
    from retention_ctypes import pow2_gammas
    H, K, V = cfg['H'], cfg['K'], cfg['V']
    q = torch.randn(B, T, H, K, device=DEV, dtype=BF16)
    k = torch.randn(B, T, H, K, device=DEV, dtype=BF16)
    v = torch.randn(B, T, H, V, device=DEV, dtype=BF16)
    do = torch.randn(B, T, H, V, device=DEV, dtype=BF16)
    gam = pow2_gammas(H)
    o = torch.empty(B, T, H, V, device=DEV, dtype=BF16)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)

    def fwd():
        Rc.forward(q, k, v, gam, o=o)

    def fwdbwd():
        Rc.forward(q, k, v, gam, o=o)
        Rc.backward(q, k, v, gam, do, dq=dq, dk=dk, dv=dv)

    row = {'kind': 'ours-chunk', 'cfg': cfg['name'], 'B': B, 'T': T, 'H': H, 'K': K, 'V': V,
           'tokens': B * T}
    f_fwd, f_fb = ret_flops(B, T, H, K, V)
    sm = torch.cuda.get_device_properties(0).multi_processor_count
    wg = bool(getattr(Rc, 'have_wgmma', lambda: False)())
    row['ours_path'] = 'wgmma' if wg else 'mma.sync'
    ex_f = ours_pass_flops(B, T, H, K, V, sm, wg)
    ex_b = 2 * ours_pass_flops(B, T, H, V, K, sm, wg) + ours_pass_flops(B, T, H, K, V, sm, wg)
    row['fwd'] = rate(time_events(fwd), B * T, f_fwd)
    row['fwdbwd'] = rate(time_events(fwdbwd), B * T, f_fb)
    row['ours_executed_fwd_flops'] = ex_f
    row['ours_executed_fwdbwd_flops'] = ex_f + ex_b
    row['fwd']['executed_tflops'] = ex_f / (row['fwd']['median_ms'] * 1e-3) / 1e12
    row['fwdbwd']['executed_tflops'] = (ex_f + ex_b) / (row['fwdbwd']['median_ms'] * 1e-3) / 1e12
    torch.cuda.synchronize()
    if R is not None:  # same inputs through fla: outputs and gradients agree?
        try:
            qf, kf, vf = (x.clone().requires_grad_() for x in (q, k, v))
            of = R.chunk_retention(qf, kf, vf)[0]
            of.backward(do)
            fwdbwd()
            torch.cuda.synchronize()
            cmp = {'cfg': cfg['name'], 'B': B, 'T': T,
                   'o_rel': rel_rms(of, o), 'dq_rel': rel_rms(qf.grad, dq),
                   'dk_rel': rel_rms(kf.grad, dk), 'dv_rel': rel_rms(vf.grad, dv)}
            RES['ours_vs_fla'].append(cmp)
            row['vs_fla'] = cmp
            del qf, kf, vf, of
        except Exception as exc:
            record_error(f"ours vs fla {cfg['name']} B{B} T{T}", exc)
    del q, k, v, do, o, dq, dk, dv
    return row


def bench_ours_decode(Rc, cfg, B, R=None):
    from retention_ctypes import pow2_gammas
    H, K, V = cfg['H'], cfg['K'], cfg['V']
    q = torch.randn(B, H, K, device=DEV, dtype=BF16)
    k = torch.randn(B, H, K, device=DEV, dtype=BF16)
    v = torch.randn(B, H, V, device=DEV, dtype=BF16)
    S = torch.randn(B, H, K, V, device=DEV, dtype=torch.float32) * 0.05
    gam = pow2_gammas(H)
    o = torch.empty(B, H, V, device=DEV, dtype=BF16)

    def ker():
        Rc.step(q, k, v, gam, S, o=o)

    row = {'kind': 'ours-step', 'cfg': cfg['name'], 'B': B, 'ctx': None, 'H': H, 'K': K, 'V': V}
    if R is not None:
        try:
            S1 = S.clone()
            o1, s1 = R.fused_recurrent_retention(q[:, None], k[:, None], v[:, None],
                                                 initial_state=S1, output_final_state=True)
            S2 = S.clone()
            o2 = Rc.step(q, k, v, gam, S2)
            torch.cuda.synchronize()
            row['vs_fla'] = {'o_rel': rel_rms(o1[:, 0], o2), 'state_rel': rel_rms(s1, S2)}
        except Exception as exc:
            record_error(f"ours decode vs fla {cfg['name']} B{B}", exc)
    row['api_loop_us'] = time_wall(ker) * 1e3
    g = time_graph(ker)
    row['graph'] = g
    row['graph_us'] = g['median_ms'] * 1e3
    row['bytes_per_seq'] = H * K * V * 4
    traffic = B * (2 * H * K * V * 4 + 2 * H * (2 * K + 2 * V))
    row['traffic_bytes'] = traffic
    row['GBps'] = traffic / (g['median_ms'] * 1e-3) / 1e9
    row['tok_per_s'] = B / (g['median_ms'] * 1e-3)
    return row


def summary_md():
    """The table of bench/gpu/retention-h200.md: Mtok/s, ratio ours / fla (fla's faster path)."""
    P = RES['prefill']

    def get(kind, cfg, T):
        r = [x for x in P if x['kind'] == kind and x['cfg'] == cfg and x['T'] == T]
        return r[0] if r else None

    def mt(r, key):
        return r[key]['tok_per_s'] / 1e6 if r and key in r and 'tok_per_s' in r[key] else None

    def f(x, spec='.2f'):
        return '-' if x is None else format(x, spec)

    L = ['| shape | B | T | ours fwd | fla fwd | sdpa-flash fwd | sdpa-cudnn fwd | ours fwd+bwd | '
         'fla fwd+bwd | sdpa-flash fwd+bwd | sdpa-cudnn fwd+bwd | ours/fla fwd | ours/fla fwd+bwd | '
         'ours TFLOP/s fwd, fwd+bwd (fla formula / executed) |',
         '|' + '---|' * 14]
    for rc, ac in (('paper-1.3B', 'H8-D256'), ('common', 'H16-D128')):
        for B, T in BT_PAIRS:
            o, fl = get('ours-chunk', rc, T), get('retention-chunk', rc, T)
            fa, cu = get('sdpa-flash', ac, T), get('sdpa-cudnn', ac, T)
            fla_f = max([x for x in (mt(fl, 'fwd'), mt(fl, 'fwd_direct')) if x] or [None]) if fl else None
            fla_b = max([x for x in (mt(fl, 'fwdbwd'), mt(fl, 'fwdbwd_direct')) if x] or [None]) if fl else None
            of, ob = mt(o, 'fwd'), mt(o, 'fwdbwd')
            tf = (f"{o['fwd']['tflops']:.0f}/{o['fwd']['executed_tflops']:.0f}, "
                  f"{o['fwdbwd']['tflops']:.0f}/{o['fwdbwd']['executed_tflops']:.0f}") if o and 'fwdbwd' in o else '-'
            shape = {'paper-1.3B': 'H8 dk256 dv512', 'common': 'H16 dk128 dv256'}[rc]
            L.append(f"| {shape} | {B} | {T} | {f(of)} | {f(fla_f)} | {f(mt(fa, 'fwd'))} | "
                     f"{f(mt(cu, 'fwd'))} | {f(ob)} | {f(fla_b)} | {f(mt(fa, 'fwdbwd'))} | "
                     f"{f(mt(cu, 'fwdbwd'))} | "
                     f"{f(of / fla_f if of and fla_f else None)}x | "
                     f"{f(ob / fla_b if ob and fla_b else None)}x | {tf} |")
    L.append('')
    L.append('| decode step, H8 dk256 dv512 | B | ours (us) | fla fused_recurrent (us) | ours/fla speed | ours GB/s |')
    L.append('|---|---|---|---|---|---|')
    for B in DECODE_B:
        o = [x for x in RES['decode'] if x['kind'] == 'ours-step' and x['cfg'] == 'paper-1.3B' and x['B'] == B]
        fl = [x for x in RES['decode'] if x['kind'] == 'retention-fused_recurrent'
              and x['cfg'] == 'paper-1.3B' and x['B'] == B]
        ou = o[0]['graph_us'] if o else None
        fu = fl[0]['graph_us'] if fl else None
        L.append(f"| graph replay, cold L2 | {B} | {f(ou, '.1f')} | {f(fu, '.1f')} | "
                 f"{f(fu / ou if ou and fu else None)}x | {f(o[0]['GBps'] if o else None, '.0f')} |")
    return '\n'.join(L)


def rel_rms(ref, x):
    ref, x = ref.float(), x.float()
    return ((ref - x).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt().clamp_min(1e-12)).item()


def max_abs(ref, x):
    return (ref.float() - x.float()).abs().max().item()


def correctness(R, naive):
    res = {}
    torch.manual_seed(0)
    for cfg, B, T in ((RET_CFGS[1], 2, 1024), (RET_CFGS[0], 1, 512)):
        H, K, V = cfg['H'], cfg['K'], cfg['V']
        q = torch.randn(B, T, H, K, device=DEV, dtype=BF16)
        k = torch.randn(B, T, H, K, device=DEV, dtype=BF16)
        v = torch.randn(B, T, H, V, device=DEV, dtype=BF16)
        do = torch.randn(B, T, H, V, device=DEV, dtype=BF16)
        # fp32 reference on the same (bf16-representable) values; naive takes [B, H, T, D]
        q32, k32, v32 = (x.float().requires_grad_() for x in (q, k, v))
        o_ref = naive(q32.transpose(1, 2), k32.transpose(1, 2), v32.transpose(1, 2)).transpose(1, 2)
        o_ref.backward(do.float())
        qc, kc, vc = (x.clone().requires_grad_() for x in (q, k, v))
        o_c = R.chunk_retention(qc, kc, vc)[0]
        o_c.backward(do)
        with torch.no_grad():
            o_r = R.fused_recurrent_retention(q, k, v)[0]
        tag = f"{cfg['name']}_B{B}_T{T}"
        res[tag] = {
            'chunk_o_rel_rms': rel_rms(o_ref, o_c), 'chunk_o_max_abs': max_abs(o_ref, o_c),
            'chunk_dq_rel_rms': rel_rms(q32.grad, qc.grad), 'chunk_dk_rel_rms': rel_rms(k32.grad, kc.grad),
            'chunk_dv_rel_rms': rel_rms(v32.grad, vc.grad),
            'fused_recurrent_o_rel_rms': rel_rms(o_ref, o_r),
            'ref_o_rms': o_ref.float().pow(2).mean().sqrt().item(),
            'note': 'reference = fla naive_retention in fp32 on the same bf16 inputs; '
                    'rel_rms = ||ref - x||_2 / ||ref||_2',
        }
        log(f"check {tag}: chunk o rel {res[tag]['chunk_o_rel_rms']:.2e}, "
            f"dq {res[tag]['chunk_dq_rel_rms']:.2e}, dk {res[tag]['chunk_dk_rel_rms']:.2e}, "
            f"dv {res[tag]['chunk_dv_rel_rms']:.2e}, recurrent o {res[tag]['fused_recurrent_o_rel_rms']:.2e}")
    # prefill (recurrent, 255 tokens, not a chunk multiple) then one recurrent step from the carried
    # state, against the chunkwise and naive outputs of the 256-token sequence
    cfg, B, T0 = RET_CFGS[1], 2, 255
    H, K, V = cfg['H'], cfg['K'], cfg['V']
    q = torch.randn(B, T0 + 1, H, K, device=DEV, dtype=BF16)
    k = torch.randn(B, T0 + 1, H, K, device=DEV, dtype=BF16)
    v = torch.randn(B, T0 + 1, H, V, device=DEV, dtype=BF16)
    with torch.no_grad():
        _, S = R.fused_recurrent_retention(q[:, :T0], k[:, :T0], v[:, :T0], output_final_state=True)
        o_step, _ = R.fused_recurrent_retention(q[:, T0:], k[:, T0:], v[:, T0:], initial_state=S,
                                                output_final_state=True)
        o_chunk = R.chunk_retention(q, k, v)[0]
        o_ref = naive(q.float().transpose(1, 2), k.float().transpose(1, 2),
                      v.float().transpose(1, 2)).transpose(1, 2)
    res['decode_step_after_prefill'] = {
        'step_vs_naive_rel_rms': rel_rms(o_ref[:, -1], o_step[:, 0]),
        'chunk_last_vs_naive_rel_rms': rel_rms(o_ref[:, -1], o_chunk[:, -1]),
        'state_dtype': str(S.dtype),
    }
    log(f"check decode step after 255-token prefill: {res['decode_step_after_prefill']}")
    RES['correctness'] = res


# ----------------------------------------------------------------------------- table

def fmt_table():
    L = []
    c = RES['ceilings']
    mm = c.get('matmul_bf16_8192_start', {}).get('tflops')
    mm2 = c.get('matmul_bf16_8192_end', {}).get('tflops')
    cp = c.get('d2d_copy_start', {}).get('GBps_read_plus_write')
    L.append(f"GPU {RES['meta'].get('gpu')} | torch {RES['meta'].get('torch')} | triton "
             f"{RES['meta'].get('triton')} | fla {RES['meta'].get('fla', {}).get('version')} "
             f"{RES['meta'].get('fla_commit', '')[:12]}")
    L.append(f"CEILINGS  matmul bf16 8192^3: {mm or float('nan'):.0f} TFLOP/s (start), "
             f"{mm2 or float('nan'):.0f} (end) | D2D copy: {cp or float('nan'):.0f} GB/s read+write")
    L.append('PREFILL  bf16, B*T=32768 tokens/call, median ms; Mtok/s = 1e6 tokens/s; TF = TFLOP/s (formulas in JSON)')
    L.append(f"{'kernel':<26}{'config':<12}{'B':>3}{'T':>6} |{'fwd ms':>8}{'Mtok/s':>8}{'TF':>6} |"
             f"{'f+b ms':>8}{'Mtok/s':>8}{'TF':>6} |{'peakMiB':>8}")
    order = {'ours-chunk': -1, 'retention-chunk': 0, 'retention-fused_chunk': 1,
             'retention-parallel': 2, 'sdpa-flash': 3, 'sdpa-cudnn': 4}
    rows = sorted(RES['prefill'] + [x for x in RES['extras'] if 'fwd' in x],
                  key=lambda r: (order.get(r['kind'], 9), r['cfg'], r['T']))
    for r in rows:
        f, b = r.get('fwd', {}), r.get('fwdbwd', {})

        def g(d, key, scale=1.0, fmtspec='8.2f'):
            return format(d[key] * scale, fmtspec) if key in d else format('-', '>' + fmtspec.split('.')[0])
        L.append(f"{r['kind']:<26}{r['cfg']:<12}{r['B']:>3}{r['T']:>6} |{g(f, 'median_ms')}"
                 f"{g(f, 'tok_per_s', 1e-6)}{g(f, 'tflops', 1, '6.0f')} |{g(b, 'median_ms')}"
                 f"{g(b, 'tok_per_s', 1e-6)}{g(b, 'tflops', 1, '6.0f')} |"
                 f"{r.get('fwdbwd_peak_extra_MiB', float('nan')):8.0f}")
        if 'vs_fla' in r:
            c = r['vs_fla']
            L.append(f"{'  ours vs fla, rel':<26}{'':<12}{'':>3}{'':>6} | o {c['o_rel']:.1e} dq {c['dq_rel']:.1e}"
                     f" dk {c['dk_rel']:.1e} dv {c['dv_rel']:.1e}")
        if 'fwd_direct' in r:
            f, b = r['fwd_direct'], r.get('fwdbwd_direct', {})
            L.append(f"{'  same, decays precomputed':<26}{'':<12}{'':>3}{'':>6} |{g(f, 'median_ms')}"
                     f"{g(f, 'tok_per_s', 1e-6)}{g(f, 'tflops', 1, '6.0f')} |{g(b, 'median_ms')}"
                     f"{g(b, 'tok_per_s', 1e-6)}{g(b, 'tflops', 1, '6.0f')} |")
    pairs = (('paper-1.3B', 'H8-D256'), ('common', 'H16-D128'))
    for rc, ac in pairs:
        for B, T in BT_PAIRS:
            r = [x for x in RES['prefill'] if x['kind'] == 'retention-chunk' and x['cfg'] == rc and x['T'] == T]
            a = [x for x in RES['prefill'] if x['kind'] == 'sdpa-flash' and x['cfg'] == ac and x['T'] == T]
            if r and a and 'fwd' in r[0] and 'fwd' in a[0] and 'fwdbwd' in r[0] and 'fwdbwd' in a[0]:
                L.append(f"  speed-up retention {rc} over flash {ac} at T={T}: fwd "
                         f"{a[0]['fwd']['median_ms'] / r[0]['fwd']['median_ms']:.2f}x, f+b "
                         f"{a[0]['fwdbwd']['median_ms'] / r[0]['fwdbwd']['median_ms']:.2f}x")
    L.append('DECODE  one token per sequence, bf16 q/k/v; graph = CUDA-graph replay with cold L2 (kernel time); '
             'api = back-to-back Python calls; MiB/seq = state (fp32) or KV cache (bf16) per sequence per layer')
    L.append(f"{'kernel':<26}{'config':<12}{'B':>3}{'ctx':>7} |{'api us':>9}{'graph us':>9} |"
             f"{'MiB/seq':>9}{'GB/s':>7}{'ktok/s':>9}")
    dorder = {'ours-step': -1, 'retention-fused_recurrent': 0, 'sdpa-flash': 1, 'sdpa-cudnn': 2,
              'sdpa-efficient': 3}
    for r in sorted(RES['decode'], key=lambda r: (dorder.get(r['kind'], 9), r['cfg'], r['B'], r['ctx'] or 0)):
        ctx = '-' if r['ctx'] is None else str(r['ctx'])
        L.append(f"{r['kind']:<26}{r['cfg']:<12}{r['B']:>3}{ctx:>7} |{r['api_loop_us']:9.1f}"
                 f"{r['graph_us']:9.1f} |{r['bytes_per_seq'] / 2**20:9.1f}{r['GBps']:7.0f}"
                 f"{r['tok_per_s'] / 1e3:9.1f}")
    if RES['correctness']:
        L.append('CHECK  rel_rms error vs fla naive fp32 reference')
        for tag, d in RES['correctness'].items():
            L.append(f"  {tag}: " + ', '.join(f"{k}={v:.2e}" for k, v in d.items() if isinstance(v, float)))
    if RES['errors']:
        L.append(f"ERRORS ({len(RES['errors'])}): " + '; '.join(
            f"{e['where']}: {e['error'][:120]}" for e in RES['errors']))
    L.append('SUMMARY (Mtok/s; fla = the faster of chunk_retention and chunk_simple_gla with '
             'precomputed decays)')
    L.append(summary_md())
    L.append(f'total wall {elapsed():.0f} s')
    return '\n'.join(L)


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lib', default=None, help='our libretention_cuda.so (dev/cuda/build.sh)')
    ap.add_argument('--only', default='ceilings,ours,ours_decode,sdpa,cudnn,decode,prefill',
                    help='comma list of sections (also: decode_alt = decode through cuDNN and '
                         'mem-efficient SDPA)')
    ap.add_argument('--deadline', type=float, default=float(os.environ.get('BENCH_DEADLINE_S', 420)),
                    help='seconds after which optional work (cuDNN, extras, re-tuning) is skipped')
    ap.add_argument('--hard', type=float, default=float(os.environ.get('BENCH_HARD_S', 530)),
                    help='seconds after which everything left is skipped and the table is printed')
    ap.add_argument('--skip-extras', default='',
                    help='comma list of kind:config to leave out, e.g. retention-fused_chunk:paper-1.3B')
    args = ap.parse_args()
    only = set(args.only.split(','))
    HARD = args.hard

    R = naive = SG = None
    fla_info = {}
    try:
        R, naive, SG, fla_info = import_fla()
        log(f'fla imported: {fla_info}')
    except Exception as exc:
        record_error('import fla', exc)
    try:
        meta(fla_info)
    except Exception as exc:
        record_error('meta', exc)
    save()

    Rc = None
    if 'ours' in only or 'ours_decode' in only:
        try:
            from retention_ctypes import Retention
            Rc = Retention(args.lib)
            RES['meta']['ours_lib'] = Rc.path
            try:
                RES['meta']['commit'] = subprocess.run(
                    ['git', 'rev-parse', 'HEAD'], cwd=HERE, capture_output=True, text=True,
                    timeout=10).stdout.strip()
                RES['meta']['tree_dirty'] = bool(subprocess.run(
                    ['git', 'status', '--porcelain', '--', 'src/cuda', 'bench/gpu', 'dev/cuda'],
                    cwd=os.path.join(HERE, '..', '..'), capture_output=True, text=True,
                    timeout=10).stdout.strip())
            except Exception as exc:
                record_error('git', exc)
        except Exception as exc:
            record_error('load ours', exc)

    # 1. ceilings (seconds)
    if 'ceilings' in only:
        try:
            ceilings('start')
        except Exception as exc:
            record_error('ceilings', exc)
        save()

    # 2. SDPA flash prefill (no autotuning: cheap, so it goes before the autotune-heavy fla work)
    if 'sdpa' in only:
        for cfg in ATTN_CFGS:
            for B, T in BT_PAIRS:
                if elapsed() > HARD - 60:
                    break
                try:
                    row = bench_sdpa_prefill('flash', cfg, B, T)
                    RES['prefill'].append(row)
                    log(f"sdpa-flash {cfg['name']} B{B} T{T}: fwd {row['fwd']['median_ms']:.3f} ms, "
                        f"f+b {row['fwdbwd']['median_ms']:.3f} ms")
                except Exception as exc:
                    record_error(f"sdpa-flash prefill {cfg['name']} B{B} T{T}", exc)
                torch.cuda.empty_cache()
            save()

    # 2b. ours: prefill (seconds) and decode
    if 'ours' in only and Rc is not None:
        for cfg in RET_CFGS:
            for B, T in BT_PAIRS:
                try:
                    row = bench_ours_prefill(Rc, cfg, B, T, R)
                    RES['prefill'].append(row)
                    log(f"ours {cfg['name']} B{B} T{T}: fwd {row['fwd']['median_ms']:.3f} ms, "
                        f"f+b {row['fwdbwd']['median_ms']:.3f} ms; vs fla {row.get('vs_fla')}")
                except Exception as exc:
                    record_error(f"ours prefill {cfg['name']} B{B} T{T}", exc)
                torch.cuda.empty_cache()
            save()
    if 'ours_decode' in only and Rc is not None:
        for cfg in RET_CFGS:
            for B in DECODE_B:
                try:
                    row = bench_ours_decode(Rc, cfg, B, R)
                    RES['decode'].append(row)
                    log(f"ours decode {cfg['name']} B{B}: graph {row['graph_us']:.1f} us; "
                        f"vs fla {row.get('vs_fla')}")
                except Exception as exc:
                    record_error(f"ours decode {cfg['name']} B{B}", exc)
        save()

    # 3. decode: fla fused_recurrent step (2 configs to tune, cheap) and SDPA over KV caches
    if 'decode' in only:
        if R is not None:
            for cfg in RET_CFGS:
                for B in DECODE_B:
                    try:
                        row = bench_retention_decode(R, SG, cfg, B)
                        RES['decode'].append(row)
                        log(f"decode retention {cfg['name']} B{B}: api {row['api_loop_us']:.1f} us, "
                            f"graph {row['graph_us']:.1f} us")
                    except Exception as exc:
                        record_error(f"retention decode {cfg['name']} B{B}", exc)
            save()
        for cfg in ATTN_CFGS if 'sdpa_decode' in only else []:
            for B in DECODE_B:
                for L in DECODE_L:
                    if elapsed() > HARD - 60:
                        break
                    need = B * (2 * L * cfg['H'] * cfg['D'] * 2)
                    if need > 0.7 * torch.cuda.get_device_properties(0).total_memory:
                        continue
                    try:
                        row = bench_attn_decode(cfg, B, L)
                        RES['decode'].append(row)
                        log(f"decode sdpa {cfg['name']} B{B} L{L}: api {row['api_loop_us']:.1f} us, "
                            f"graph {row['graph_us']:.1f} us")
                    except Exception as exc:
                        record_error(f"sdpa decode {cfg['name']} B{B} L{L}", exc)
                    torch.cuda.empty_cache()
            save()

    # 3b. optional: the same decode steps through SDPA's other fused backends (graph time only)
    if 'decode_alt' in only:
        for backend in ('cudnn', 'efficient'):
            for cfg in ATTN_CFGS:
                failed = False
                for B in DECODE_B:
                    for L in DECODE_L:
                        if failed or elapsed() > args.deadline:
                            break
                        try:
                            row = bench_attn_decode(cfg, B, L, backend, api=False)
                            RES['decode'].append(row)
                            log(f"decode sdpa-{backend} {cfg['name']} B{B} L{L}: graph {row['graph_us']:.1f} us")
                        except Exception as exc:
                            record_error(f"sdpa-{backend} decode {cfg['name']} B{B} L{L}", exc)
                            failed = True
                        torch.cuda.empty_cache()
            save()

    # 4. fla chunk_retention prefill (Triton autotuning happens on the first call of each config)
    if 'prefill' in only and R is not None:
        t_first_cfg = None
        for ci, cfg in enumerate(RET_CFGS):
            t_cfg = time.time()
            if ci > 0:
                # the chunk-state kernels' autotune key ignores K, V, T: re-tune for this config
                # only if there is time for roughly what the first config cost
                ok = t_first_cfg is not None and elapsed() + t_first_cfg + 60 < HARD - 40
                if ok:
                    force_retune_h_kernels()
                RES['meta'][f'h_kernels_retuned_for_{cfg["name"]}'] = ok
            for B, T in BT_PAIRS:
                if elapsed() > HARD - 60:
                    log('hard limit: skipping rest of retention prefill')
                    break
                try:
                    row = bench_retention_prefill(R.chunk_retention, 'retention-chunk', cfg, B, T)
                    RES['prefill'].append(row)
                    log(f"retention {cfg['name']} B{B} T{T}: fwd {row['fwd']['median_ms']:.3f} ms "
                        f"(first {row['fwd_first_call_s']:.1f}s), f+b {row['fwdbwd']['median_ms']:.3f} ms "
                        f"(first {row['fwdbwd_first_call_s']:.1f}s)")
                except Exception as exc:
                    record_error(f"retention prefill {cfg['name']} B{B} T{T}", exc)
                torch.cuda.empty_cache()
                save()
            if ci == 0:
                t_first_cfg = time.time() - t_cfg
            try:
                autotune_snapshot(f'after_prefill_{cfg["name"]}')
            except Exception as exc:
                record_error('autotune snapshot', exc)
            save()

    # 5. correctness
    if 'check' in only and R is not None and elapsed() < HARD - 30:
        try:
            correctness(R, naive)
        except Exception as exc:
            record_error('correctness', exc)
        save()

    # 6. optional: cuDNN attention, fused_chunk / parallel retention
    if 'cudnn' in only:
        for cfg in ATTN_CFGS:
            for B, T in BT_PAIRS:
                if elapsed() > args.deadline:
                    break
                try:
                    row = bench_sdpa_prefill('cudnn', cfg, B, T)
                    RES['prefill'].append(row)
                    log(f"sdpa-cudnn {cfg['name']} B{B} T{T}: fwd {row['fwd']['median_ms']:.3f} ms, "
                        f"f+b {row['fwdbwd']['median_ms']:.3f} ms")
                except Exception as exc:
                    record_error(f"sdpa-cudnn prefill {cfg['name']} B{B} T{T}", exc)
                    break
                torch.cuda.empty_cache()
            save()

    if 'extras' in only and R is not None:
        extra_ops = [('retention-fused_chunk', getattr(R, 'fused_chunk_retention', None)),
                     ('retention-parallel', getattr(R, 'parallel_retention', None))]
        for kind, op in extra_ops:
            for cfg in RET_CFGS:
                if op is None or elapsed() > args.deadline - 90:
                    break
                if f"{kind}:{cfg['name']}" in args.skip_extras.split(','):
                    continue
                try:
                    row = bench_retention_prefill(op, kind, cfg, 8, 4096)
                    if kind == 'retention-parallel':  # quadratic form: count causal T^2 work instead
                        H, K, V = cfg['H'], cfg['K'], cfg['V']
                        f = 8 * H * 4096 * 4096 * (K + V)
                        rate(row['fwd'], row['tokens'], f)
                        rate(row['fwdbwd'], row['tokens'], 3.5 * f)
                        row['flop_note'] = 'parallel form: fwd = B*H*T^2*(K+V) (causal half), f+b = 3.5x'
                    RES['extras'].append(row)
                    log(f"{kind} {cfg['name']} B8 T4096: fwd {row['fwd']['median_ms']:.3f} ms, "
                        f"f+b {row['fwdbwd']['median_ms']:.3f} ms")
                except Exception as exc:
                    record_error(f'{kind} {cfg["name"]}', exc)
                torch.cuda.empty_cache()
                save()

    if 'ceilings' in only and elapsed() < HARD - 15:
        try:
            ceilings('end')
        except Exception as exc:
            record_error('ceilings end', exc)
    if R is not None:
        try:
            autotune_snapshot('final')
        except Exception as exc:
            record_error('autotune snapshot', exc)
    try:
        RES['meta']['nvidia_smi_clocks_end'] = subprocess.run(
            ['nvidia-smi', '--query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw',
             '--format=csv,noheader'], capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        pass
    table = fmt_table()
    RES['table'] = table
    RES['summary_md'] = summary_md()
    save()
    with open(os.path.join(out_dir(), 'retention-h200.md'), 'w') as f:
        f.write(RES['summary_md'] + '\n')
    print('\n' + '=' * 100 + '\n' + table + '\n' + '=' * 100, flush=True)


if __name__ == '__main__':
    main()
