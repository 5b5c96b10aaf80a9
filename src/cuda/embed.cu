/*
 * embed.cu: token embedding lookup and its backward (src/ops/embed.c's counterpart).
 *
 * The backward adds rows of dx into rows of the table chosen by the tokens, which repeat.
 * Instead of floating-point atomics (whose order, and so whose rounding, changes from run to
 * run) the positions are sorted by token with CUB's stable radix sort; then each run of equal
 * tokens is one row of the table, and a block adds that run's rows of dx in increasing
 * position, the order of the CPU loop: the result is deterministic (and equals the CPU's
 * when both contract the same multiply-adds).
 */
#include "cuda/common.cuh"

#include <cub/device/device_radix_sort.cuh>

__global__ void embed_kernel(float *x, const float *table, const int32_t *tokens, int64_t n,
                             int64_t d, int64_t V, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n * d;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = i / d, col = i - row * d;
        const int32_t t = tokens[row];
        x[i] = t >= 0 && t < V ? table[(int64_t)t * d + col] * scale : __int_as_float(0x7fc00000);
    }
}

/* Sort keys: the token, or V (sorted last, then skipped) when it is out of range. */
__global__ void embed_keys_kernel(uint32_t *keys, int32_t *pos, const int32_t *tokens, int64_t n,
                                  int64_t V) {
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int32_t t = tokens[i];
    keys[i] = t >= 0 && t < V ? (uint32_t)t : (uint32_t)V;
    pos[i] = (int32_t)i;
}

/* Block (i, column block): if sorted position i starts a run of one token, that table row's
 * columns += the run's rows of dx (times scale) in increasing position. */
__global__ void embed_bwd_kernel(float *dtable, const float *dx, const uint32_t *keys,
                                 const int32_t *pos, int64_t n, int64_t d, int64_t V,
                                 float scale) {
    const int64_t i = blockIdx.x;
    const uint32_t k = keys[i];
    if (k >= (uint64_t)V || (i > 0 && keys[i - 1] == k)) return;
    const int64_t col = blockIdx.y * (int64_t)blockDim.x + threadIdx.x;
    if (col >= d) return;
    float *row = dtable + (int64_t)k * d + col;
    float acc = *row;
    for (int64_t j = i; j < n && keys[j] == k; j++) acc += dx[(int64_t)pos[j] * d + col] * scale;
    *row = acc;
}

retnet_status cuda_op_embed(float *x, const float *table, const int32_t *tokens, int64_t n,
                            int64_t d, int64_t V, float scale, cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (n < 0 || d < 0 || V < 0)
        return retnet_fail(RETNET_EINVAL, "cuda_op_embed: bad shape (n %lld d %lld V %lld)",
                           (long long)n, (long long)d, (long long)V);
    if (n == 0 || d == 0) return RETNET_OK;
    embed_kernel<<<cuda_blocks(n * d, 256, 65536), 256, 0, (cudaStream_t)s>>>(x, table, tokens, n,
                                                                             d, V, scale);
    CUDA_LAUNCHED("cuda_op_embed");
    return RETNET_OK;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

retnet_status cuda_op_embed_backward(float *dtable, const float *dx, const int32_t *tokens,
                                     int64_t n, int64_t d, int64_t V, float scale,
                                     cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (n < 0 || d < 0 || V < 0 || n >= INT32_MAX || V >= INT32_MAX || d > 65535LL * 256)
        return retnet_fail(RETNET_EINVAL, "cuda_op_embed_backward: bad shape (n %lld d %lld V "
                           "%lld)", (long long)n, (long long)d, (long long)V);
    if (n == 0 || d == 0 || V == 0) return RETNET_OK;
    cudaStream_t cs = (cudaStream_t)s;
    int end_bit = 1;
    while (end_bit < 32 && ((uint64_t)1 << end_bit) <= (uint64_t)V) end_bit++; /* V fits */
    size_t cub_bytes = 0;
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(NULL, cub_bytes, (const uint32_t *)NULL,
                                             (uint32_t *)NULL, (const int32_t *)NULL,
                                             (int32_t *)NULL, (int)n, 0, end_bit, cs),
             "cub::DeviceRadixSort (size query)");
    const size_t arr = align256(sizeof(uint32_t) * (size_t)n);
    void *scr;
    st = cuda_scratch(&scr, 4 * arr + align256(cub_bytes));
    if (st) return st;
    char *base = (char *)scr;
    uint32_t *keys_in = (uint32_t *)base, *keys = (uint32_t *)(base + arr);
    int32_t *pos_in = (int32_t *)(base + 2 * arr), *pos = (int32_t *)(base + 3 * arr);
    void *cub_tmp = base + 4 * arr;

    embed_keys_kernel<<<cuda_blocks(n, 256, INT32_MAX), 256, 0, cs>>>(keys_in, pos_in, tokens, n, V);
    CUDA_LAUNCHED("cuda_op_embed_backward (keys)");
    CUDA_TRY(cub::DeviceRadixSort::SortPairs(cub_tmp, cub_bytes, keys_in, keys, pos_in, pos, (int)n,
                                             0, end_bit, cs),
             "cub::DeviceRadixSort");
    const int threads = d < 256 ? (int)((d + 31) / 32 * 32) : 256;
    dim3 grid((unsigned)n, (unsigned)((d + threads - 1) / threads));
    embed_bwd_kernel<<<grid, threads, 0, cs>>>(dtable, dx, keys, pos, n, d, V, scale);
    CUDA_LAUNCHED("cuda_op_embed_backward");
    return RETNET_OK;
}
