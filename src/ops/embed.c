/* embed.c: token embedding lookup (RETNET.md §5), with the optional sqrt(d) scale. */
#include "ops.h"

#include <string.h>

static void embed_row(float *x, const float *row, int64_t d, float scale) {
    for (int64_t j = 0; j < d; j++) x[j] = row[j] * scale;
}

void op_embed(float *x, const float *table, const int32_t *tokens, int64_t n, int64_t d,
              float scale) {
    if (n * d <= 65536) { /* no region for small calls (see norm.c's PAR_ROWS) */
        for (int64_t i = 0; i < n; i++) embed_row(x + i * d, table + (int64_t)tokens[i] * d, d, scale);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) embed_row(x + i * d, table + (int64_t)tokens[i] * d, d, scale);
}

void op_embed_bf16(float *x, const uint16_t *table, const int32_t *tokens, int64_t n, int64_t d,
                   float scale) {
    for (int64_t i = 0; i < n; i++) { /* rows are short: serial (one row per decode step) */
        const uint16_t *row = table + (int64_t)tokens[i] * d;
        for (int64_t j = 0; j < d; j++) {
            uint32_t u = (uint32_t)row[j] << 16;
            float w;
            memcpy(&w, &u, sizeof w);
            x[i * d + j] = w * scale;
        }
    }
}

/*
 * Backward: dtable[tokens[i]] += dx[i] * scale. Tokens repeat, so the work is split by
 * columns, never by tokens: each thread owns a block of columns of every row of the table
 * and adds the tokens in order i = 0, 1, ...: no races, and the same sums in the same order
 * whatever the thread count.
 */
#define EMBED_COLS 64

void op_embed_backward(float *dtable, const float *dx, const int32_t *tokens, int64_t n,
                       int64_t d, float scale) {
    const int64_t nblk = (d + EMBED_COLS - 1) / EMBED_COLS;
#pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t c0 = blk * EMBED_COLS, c1 = c0 + EMBED_COLS < d ? c0 + EMBED_COLS : d;
        for (int64_t i = 0; i < n; i++) {
            float *row = dtable + (int64_t)tokens[i] * d;
            for (int64_t j = c0; j < c1; j++) row[j] += dx[i * d + j] * scale;
        }
    }
}
