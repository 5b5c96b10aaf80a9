/* embed.c: token embedding lookup (RETNET.md §5), with the optional sqrt(d) scale. */
#include "ops.h"

void op_embed(float *x, const float *table, const int32_t *tokens, int64_t n, int64_t d,
              float scale) {
#pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *row = table + (int64_t)tokens[i] * d;
        for (int64_t j = 0; j < d; j++) x[i * d + j] = row[j] * scale;
    }
}
