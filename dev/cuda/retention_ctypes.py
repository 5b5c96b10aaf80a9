"""ctypes binding of src/cuda/retention.h for the kernel lab and the GPU benchmark.

Tensors are torch CUDA tensors, contiguous, in the layouts of retention.h: q, k (B, T, H, dk),
v, o (B, T, H, dv) bf16; states (B, H, dk, dv) fp32; gamma (H,) fp32. Every call enqueues on
torch's current stream (so CUDA-graph capture works) and raises on a nonzero status.
"""
import ctypes
import os

import torch

F32, BF16 = 0, 1
_P = ctypes.c_void_p
_I = ctypes.c_int
_F = ctypes.c_float


def default_lib():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('RETNET_CUDA_LIB',
                          os.path.join(here, '..', '..', 'build', 'ret-cuda', 'libretention_cuda.so'))


class Retention:
    def __init__(self, path=None):
        self.path = os.path.abspath(path or default_lib())
        L = self.lib = ctypes.CDLL(self.path)
        L.retention_cuda_forward.argtypes = [_I] * 5 + [_P] * 4 + [_F, _P, _P, _P, _I, _P]
        L.retention_cuda_backward.argtypes = ([_I] * 5 + [_P] * 4 + [_F] + [_P] * 6 +
                                              [_I, _I, _P, _P])
        L.retention_cuda_step.argtypes = [_I] * 4 + [_P] * 4 + [_F, _P, _P, _I, _P]
        L.retention_cuda_errmsg.restype = ctypes.c_char_p
        L.retention_cuda_lab_set_tile.argtypes = [_I]
        L.retention_cuda_lab_set_flags.argtypes = [_I]
        for f in ('retention_cuda_forward', 'retention_cuda_backward', 'retention_cuda_step'):
            getattr(L, f).restype = _I
        # lab functions of the wgmma version (absent from older libraries)
        self.has_paths = hasattr(L, 'retention_cuda_lab_set_path')
        if self.has_paths:
            L.retention_cuda_lab_set_path.argtypes = [_I]
            L.retention_cuda_lab_have_wgmma.restype = _I
            if hasattr(L, 'retention_cuda_lab_set_cluster'):
                L.retention_cuda_lab_set_cluster.argtypes = [_I]
            L.retention_cuda_lab_wgmma_selftest.argtypes = [_I, _P, _P, _P, _P]
            L.retention_cuda_lab_wgmma_selftest.restype = _I
            # RETNET_CUDA_LAB_PATH (0 auto, 1 mma.sync, 2 wgmma + TMA, 3 wgmma + cp.async)
            if os.environ.get('RETNET_CUDA_LAB_PATH'):
                self.set_path(int(os.environ['RETNET_CUDA_LAB_PATH']))
            # RETNET_CUDA_LAB_CLUSTER: blocks per cluster of the TMA kernel (1 none, 0 auto)
            if os.environ.get('RETNET_CUDA_LAB_CLUSTER') and hasattr(L, 'retention_cuda_lab_set_cluster'):
                self.set_cluster(int(os.environ['RETNET_CUDA_LAB_CLUSTER']))

    @staticmethod
    def _p(x):
        if x is None:
            return None
        assert x.is_cuda and x.is_contiguous(), 'CUDA contiguous tensors only'
        return ctypes.c_void_p(x.data_ptr())

    @staticmethod
    def _stream():
        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def _check(self, rc, what):
        if rc:
            raise RuntimeError(f'{what}: {self.lib.retention_cuda_errmsg().decode()}')

    def set_tile(self, vt):
        self.lib.retention_cuda_lab_set_tile(int(vt))

    def set_flags(self, flags):
        self.lib.retention_cuda_lab_set_flags(int(flags))

    def set_path(self, path):
        """0: automatic (wgmma on Hopper when built for sm_90a), 1: mma.sync, 2: wgmma with TMA
        loads, 3: wgmma with cp.async loads."""
        if self.has_paths:
            self.lib.retention_cuda_lab_set_path(int(path))
        elif path == 2:
            raise RuntimeError('this library has no wgmma path')

    def have_wgmma(self):
        return bool(self.has_paths and self.lib.retention_cuda_lab_have_wgmma())

    def lib_has_cp_path(self):
        """Whether this library has the cp.async wgmma kernel (lab path 3, version 4)."""
        return self.has_paths and hasattr(self.lib, 'retention_cuda_lab_set_cluster') and \
            b'wgc_kernel' in open(self.path, 'rb').read()

    def set_cluster(self, n):
        """Blocks per cluster of the Hopper kernel (1: no multicast; 0: automatic)."""
        if self.has_paths and hasattr(self.lib, 'retention_cuda_lab_set_cluster'):
            self.lib.retention_cuda_lab_set_cluster(int(n))

    def wgmma_selftest(self, variant, a, b):
        """d (64 x 64 fp32) from one wgmma arrangement (retention.cu) on a, b (64 x 64 bf16)."""
        d = torch.full((64, 64), float('nan'), device=a.device, dtype=torch.float32)
        rc = self.lib.retention_cuda_lab_wgmma_selftest(int(variant), self._p(a), self._p(b),
                                                        self._p(d), self._stream())
        self._check(rc, 'retention_cuda_lab_wgmma_selftest')
        return d

    def forward(self, q, k, v, gamma, scale=0.0, state_in=None, state_out=None, o=None,
                o_dtype=torch.bfloat16):
        B, T, H, dk = q.shape
        dv = v.shape[-1]
        if o is None:
            o = torch.empty(B, T, H, dv, device=q.device, dtype=o_dtype)
        rc = self.lib.retention_cuda_forward(
            B, T, H, dk, dv, self._p(q), self._p(k), self._p(v), self._p(gamma), float(scale),
            self._p(state_in), self._p(state_out), self._p(o),
            F32 if o.dtype == torch.float32 else BF16, self._stream())
        self._check(rc, 'retention_cuda_forward')
        return o

    def backward(self, q, k, v, gamma, dout, scale=0.0, state_in=None, dstate_out=None,
                 dq=None, dk=None, dv=None, dstate_in=None, accumulate=False):
        B, T, H, dk_ = q.shape
        dv_ = v.shape[-1]
        g = [x for x in (dq, dk, dv) if x is not None]
        gd = F32 if (g and g[0].dtype == torch.float32) else BF16
        rc = self.lib.retention_cuda_backward(
            B, T, H, dk_, dv_, self._p(q), self._p(k), self._p(v), self._p(gamma), float(scale),
            self._p(state_in), self._p(dout), self._p(dstate_out), self._p(dq), self._p(dk),
            self._p(dv), gd, int(bool(accumulate)), self._p(dstate_in), self._stream())
        self._check(rc, 'retention_cuda_backward')

    def step(self, q, k, v, gamma, state, scale=0.0, o=None, o_dtype=torch.bfloat16):
        B, H, dk = q.shape
        dv = v.shape[-1]
        if o is None:
            o = torch.empty(B, H, dv, device=q.device, dtype=o_dtype)
        rc = self.lib.retention_cuda_step(
            B, H, dk, dv, self._p(q), self._p(k), self._p(v), self._p(gamma), float(scale),
            self._p(state), self._p(o), F32 if o.dtype == torch.float32 else BF16,
            self._stream())
        self._check(rc, 'retention_cuda_step')
        return o


def pow2_gammas(H, device='cuda'):
    """RETNET.md §2 default decays: gamma_h = 1 - 2^(-5-h)."""
    return (1 - torch.pow(2.0, -5.0 - torch.arange(H, dtype=torch.float64))).float().to(device)


def inputs(B, T, H, dk, dv, seed=0):
    """q, k (B, T, H, dk), v, dO (B, T, H, dv) bf16, standard normal, and the default decays"""
    g = torch.Generator(device='cuda').manual_seed(seed)
    q, k = (torch.randn(B, T, H, dk, device='cuda', generator=g).to(torch.bfloat16) for _ in range(2))
    v, do = (torch.randn(B, T, H, dv, device='cuda', generator=g).to(torch.bfloat16) for _ in range(2))
    return q, k, v, do, pow2_gammas(H)


def ev(fn, reps=9, warm=1):
    """median CUDA-event time of fn() in ms, over reps calls after warm ones"""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return sorted(ts)[reps // 2]
