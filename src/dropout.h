/*
 * dropout.h: residual dropout's mask, one definition for the CPU (model.c) and the CUDA
 * (cuda/activation.cu) paths, so that both drop the same elements. Element i of branch
 * `which` (0: the mixer's output, 1: the FFN's) of layer l is kept when a hash of (seed, l,
 * which, i) clears p; kept values are scaled by 1 / (1 - p). The masks are recomputed in the
 * backward instead of stored. i counts the elements of the (n, d_model) micro-batch, n = B T
 * rows; a rank of data-parallel training adds its first element's index in the global batch.
 */
#ifndef RETNET_DROPOUT_H
#define RETNET_DROPOUT_H

#include <stdint.h>

#ifdef __CUDACC__
#define DROPOUT_FN static __host__ __device__ __forceinline__
#else
#define DROPOUT_FN static inline
#endif

DROPOUT_FN int dropout_keep(uint64_t seed, int l, int which, int64_t i, float p) {
    uint64_t z = seed ^ ((uint64_t)(l * 2 + which + 1) * 0x9e3779b97f4a7c15ull) ^
                 ((uint64_t)i * 0xbf58476d1ce4e5b9ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 >= p;
}

#undef DROPOUT_FN
#endif
