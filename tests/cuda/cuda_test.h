/*
 * cuda_test.h: what the CUDA model and training tests share: the OK check with the backend's
 * message, bf16 rounding of a float (op_f32_to_bf16), random tokens, and fla's variant of the
 * config (RETNET.md §6) at a chosen size. Include after test.h and ops/ops.h.
 */
#ifndef RETNET_TESTS_CUDA_TEST_H
#define RETNET_TESTS_CUDA_TEST_H

#include <time.h>

#define OK(call) CHECK((call) == RETNET_OK, "%s: %s", #call, retnet_errmsg())

/* A CUDA test's start: whether there is a device (without one, as in CI, the caller returns
 * TEST_SUMMARY() with every test skipped) and, where seed is not NULL, the run's seed:
 * RETNET_TEST_SEED replays a run, else the clock; printed under the test's name. */
static inline int cuda_test_start(const char *name, uint64_t *seed) {
    if (retnet_cuda_device_count() == 0) {
        fprintf(stderr, "skip: no CUDA device (%s)\n", retnet_errmsg());
        return 0;
    }
    if (seed) {
        const char *env = getenv("RETNET_TEST_SEED");
        *seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
        fprintf(stderr, "%s: seed %llu (RETNET_TEST_SEED=%llu reproduces this run)\n", name,
                (unsigned long long)*seed, (unsigned long long)*seed);
    }
    return 1;
}

static inline float bf16_round(float x) {
    uint32_t u = (uint32_t)op_f32_to_bf16(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline void rand_tokens(int32_t *t, int64_t n, int32_t V, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) t[i] = (int32_t)((test_rand(s) + 1) * 0.5 * V) % V;
}

/* fla's variant: rmsnorm, per-head rmsnorm with a shared weight, SwiGLU, half rope, no §3
 * normalisations, untied. */
static inline retnet_config fla_like(int32_t V, int32_t d, int32_t L, int32_t h,
                                     int32_t dv_mult) {
    retnet_config c = {
        .arch = RETNET_ARCH_RETNET, .vocab = V, .d_model = d, .n_layer = L, .n_head = h,
        .d_key = d, .d_value = dv_mult * d, .d_ffn = 2 * d, .norm = RETNET_NORM_RMSNORM,
        .head_norm = RETNET_HEADNORM_RMSNORM, .head_norm_affine = 1, .ffn = RETNET_FFN_GLU,
        .ffn_act = RETNET_ACT_SWISH, .rope = RETNET_ROPE_HALF, .rope_base = 10000.0f,
        .decay = RETNET_DECAY_POW2, .normalize = 0, .eps = 1e-6f, .tie_embeddings = 0,
        .embed_scale = 0, .chunk = 64, .gate = 1, .context = 2048,
    };
    return c;
}

#endif
