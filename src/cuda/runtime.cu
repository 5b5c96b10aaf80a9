/*
 * runtime.cu: the CUDA backend's runtime: device selection, errors turned into retnet_status
 * with a message, device memory, streams, the cuBLAS / cuBLASLt handles with the matmul
 * workspace, and the scratch buffer that some kernels borrow. Runtime API only (no driver
 * API): libcudart finds the driver at run time, so a machine without one gets a clear
 * status from retnet_cuda_device_count() instead of a failed link or load.
 */
#include "cuda/common.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdio.h>
#include <string.h>

/* 32 MiB: what cuBLASLt's Hopper kernels ask for at most (NVIDIA's guidance for sm_90). */
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)

static struct {
    int device;           /* -1: not initialised */
    char name[160];
    int sms;
    int major; /* compute capability */
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *lt_ws;
    void *scratch;
    size_t scratch_bytes;
} rt = {-1, "", 0, 0, NULL, NULL, NULL, NULL, 0};

retnet_status cuda_fail_(cudaError_t e, const char *what, const char *file, int line) {
    retnet_status s = RETNET_EDEVICE;
    if (e == cudaErrorMemoryAllocation) s = RETNET_ENOMEM;
    else if (e == cudaErrorInvalidValue || e == cudaErrorInvalidConfiguration) s = RETNET_EINVAL;
    const char *f = strrchr(file, '/');
    return retnet_fail(s, "CUDA: %s: %s: %s (%s:%d)", what, cudaGetErrorName(e),
                       cudaGetErrorString(e), f ? f + 1 : file, line);
}

static retnet_status blas_fail(int st, const char *what, int line) {
    return retnet_fail(RETNET_EDEVICE, "CUDA: %s: %s (runtime.cu:%d)", what,
                       cublasGetStatusString((cublasStatus_t)st), line);
}

int retnet_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cuda_fail_(e, "cudaGetDeviceCount", __FILE__, __LINE__);
        cudaGetLastError(); /* clear it: no later call should see it */
        return 0;
    }
    if (n == 0) retnet_fail(RETNET_EDEVICE, "CUDA: no device");
    return n;
}

void retnet_cuda_shutdown(void) {
    if (rt.device < 0) return;
    if (rt.lt) cublasLtDestroy(rt.lt);
    if (rt.blas) cublasDestroy(rt.blas);
    cudaFree(rt.lt_ws);
    cudaFree(rt.scratch);
    rt.lt = NULL, rt.blas = NULL, rt.lt_ws = NULL, rt.scratch = NULL, rt.scratch_bytes = 0;
    rt.device = -1, rt.name[0] = 0;
}

retnet_status retnet_cuda_init(int device) {
    if (rt.device == device) return RETNET_OK;
    int n = retnet_cuda_device_count();
    if (n == 0) return RETNET_EDEVICE; /* the message is set */
    if (device < 0 || device >= n)
        return retnet_fail(RETNET_EINVAL, "CUDA: device %d does not exist (%d device%s: 0..%d)",
                           device, n, n == 1 ? "" : "s", n - 1);
    retnet_cuda_shutdown();
    CUDA_TRY(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp p;
    CUDA_TRY(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    if (p.major < 8)
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: %s is sm_%d%d; the backend needs sm_80 or "
                           "newer (bf16 tensor cores)", p.name, p.major, p.minor);
    snprintf(rt.name, sizeof rt.name, "%.100s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor,
             p.multiProcessorCount, p.totalGlobalMem / 1073741824.0);
    rt.sms = p.multiProcessorCount, rt.major = p.major;
    int st = cublasCreate(&rt.blas);
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail(st, "cublasCreate", __LINE__);
    /* fp32 products stay fp32: no TF32 (the pedantic mode also forbids reduced-precision
     * reductions inside cuBLAS's fallback kernels) */
    cublasSetMathMode(rt.blas, CUBLAS_PEDANTIC_MATH);
    st = cublasLtCreate(&rt.lt);
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail(st, "cublasLtCreate", __LINE__);
    cudaError_t e = cudaMalloc(&rt.lt_ws, LT_WORKSPACE_BYTES);
    if (e != cudaSuccess) return cuda_fail_(e, "cudaMalloc (cuBLASLt workspace, 32 MiB)",
                                            __FILE__, __LINE__);
    rt.device = device;
    return RETNET_OK;
}

retnet_status cuda_ensure_init(void) { return rt.device >= 0 ? RETNET_OK : retnet_cuda_init(0); }

const char *retnet_cuda_device_name(void) { return rt.name; }
void *cuda_lt_handle(void) { return rt.lt; }
void *cuda_blas_handle(void) { return rt.blas; }
void *cuda_lt_workspace(size_t *bytes) { *bytes = LT_WORKSPACE_BYTES; return rt.lt_ws; }
int cuda_sm_count(void) { return rt.sms; }

/* Programmatic dependent launch: per host thread (each drives its own chain of launches) */
static thread_local int pdl_on = 0;

int cuda_set_pdl(int on) {
    const int was = pdl_on;
    pdl_on = on;
    return was;
}

int cuda_pdl(void) { return pdl_on && rt.major >= 9; }

retnet_status retnet_cuda_malloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    if (bytes == 0) return RETNET_OK;
    retnet_status s = cuda_ensure_init();
    if (s) return s;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return retnet_fail(e == cudaErrorMemoryAllocation ? RETNET_ENOMEM : RETNET_EDEVICE,
                           "CUDA: cannot allocate %.3f GiB for %s (%.3f GiB free of %.3f): %s",
                           bytes / 1073741824.0, what ? what : "a buffer", fr / 1073741824.0,
                           tot / 1073741824.0, cudaGetErrorName(e));
    }
    return RETNET_OK;
}

void retnet_cuda_free(void *p) {
    if (p) cudaFree(p);
}

retnet_status cuda_scratch(void **p, size_t bytes) {
    retnet_status s = cuda_ensure_init();
    if (s) return s;
    if (bytes > rt.scratch_bytes) {
        /* grow by at least half, so that slowly growing requests do not reallocate often;
         * cudaFree waits for the device, so work still using the old buffer is done */
        size_t want = bytes + bytes / 2;
        cudaFree(rt.scratch);
        rt.scratch = NULL, rt.scratch_bytes = 0;
        s = retnet_cuda_malloc(&rt.scratch, want, "the scratch buffer");
        if (s) return s;
        rt.scratch_bytes = want;
    }
    *p = rt.scratch;
    return RETNET_OK;
}

retnet_status retnet_cuda_upload(void *dst, const void *src, size_t bytes) {
    if (!bytes) return RETNET_OK;
    CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to the device");
    return RETNET_OK;
}

retnet_status retnet_cuda_download(void *dst, const void *src, size_t bytes) {
    if (!bytes) return RETNET_OK;
    CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy from the device");
    return RETNET_OK;
}

retnet_status retnet_cuda_memset0(void *dst, size_t bytes, cuda_stream s) {
    if (!bytes) return RETNET_OK;
    CUDA_TRY(cudaMemsetAsync(dst, 0, bytes, (cudaStream_t)s), "cudaMemsetAsync");
    return RETNET_OK;
}

retnet_status retnet_cuda_stream_create(cuda_stream *s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    cudaStream_t cs;
    CUDA_TRY(cudaStreamCreate(&cs), "cudaStreamCreate");
    *s = (cuda_stream)cs;
    return RETNET_OK;
}

void retnet_cuda_stream_destroy(cuda_stream s) {
    if (s) cudaStreamDestroy((cudaStream_t)s);
}

retnet_status retnet_cuda_sync(cuda_stream s) {
    if (s) CUDA_TRY(cudaStreamSynchronize((cudaStream_t)s), "cudaStreamSynchronize");
    else CUDA_TRY(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    CUDA_TRY(cudaGetLastError(), "a kernel");
    return RETNET_OK;
}
