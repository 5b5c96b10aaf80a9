/*
 * ref_attention.c: float64 causal multi-head attention (see ref_attention.h).
 */
#include "ref_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The number of keys query row i sees (0 .. Tk). */
static int64_t seen(const ref_attention_args *a, int64_t i) {
    int64_t n = a->Tk - a->Tq + i + a->mask_shift + 1;
    return n < 0 ? 0 : n > a->Tk ? a->Tk : n;
}

/* Probabilities of row i of head h of sequence b into p (Tk); returns lse. */
static double probs_row(const ref_attention_args *a, int64_t b, int h, int64_t i, double *p) {
    const int64_t ldk = (int64_t)a->H * a->dk, n = seen(a, i);
    const double *q = a->q + (b * a->Tq + i) * ldk + h * a->dk;
    double mx = -INFINITY;
    for (int64_t j = 0; j < a->Tk; j++) {
        p[j] = 0;
        if (j >= n) continue;
        const double *k = a->k + (b * a->Tk + j) * ldk + h * a->dk;
        double s = 0;
        for (int c = 0; c < a->dk; c++) s += q[c] * k[c];
        p[j] = a->scale * s;
        mx = fmax(mx, p[j]);
    }
    if (n == 0) return -INFINITY;
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        p[j] = exp(p[j] - mx);
        sum += p[j];
    }
    for (int64_t j = 0; j < n; j++) p[j] /= sum;
    return mx + log(sum);
}

void ref_attention_forward(const ref_attention_args *a, double *o, double *lse, double *p) {
    const int64_t Tq = a->Tq, Tk = a->Tk, ldv = (int64_t)a->H * a->dv;
    double *row = malloc(sizeof(double) * (size_t)(Tk > 0 ? Tk : 1));
    if (!row) { fprintf(stderr, "ref_attention: out of memory\n"); abort(); }
    for (int64_t b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                double l = probs_row(a, b, h, i, row);
                if (lse) lse[(b * a->H + h) * Tq + i] = l;
                if (p) memcpy(p + ((b * a->H + h) * Tq + i) * Tk, row, sizeof(double) * (size_t)Tk);
                if (!o) continue;
                double *oi = o + (b * Tq + i) * ldv + h * a->dv;
                for (int c = 0; c < a->dv; c++) oi[c] = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    const double *vj = a->v + (b * Tk + j) * ldv + h * a->dv;
                    for (int c = 0; c < a->dv; c++) oi[c] += row[j] * vj[c];
                }
            }
    free(row);
}

void ref_attention_backward(const ref_attention_args *a, const double *dout, double *dq,
                            double *dk, double *dv) {
    const int64_t Tq = a->Tq, Tk = a->Tk, ldk = (int64_t)a->H * a->dk;
    const int64_t ldv = (int64_t)a->H * a->dv;
    if (dq) memset(dq, 0, sizeof(double) * (size_t)(a->B * Tq * ldk));
    if (dk) memset(dk, 0, sizeof(double) * (size_t)(a->B * Tk * ldk));
    if (dv) memset(dv, 0, sizeof(double) * (size_t)(a->B * Tk * ldv));
    double *p = malloc(sizeof(double) * (size_t)(Tk > 0 ? 2 * Tk : 1)), *dp = p + Tk;
    if (!p) { fprintf(stderr, "ref_attention: out of memory\n"); abort(); }
    for (int64_t b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                probs_row(a, b, h, i, p);
                const double *doi = dout + (b * Tq + i) * ldv + h * a->dv;
                const double *qi = a->q + (b * Tq + i) * ldk + h * a->dk;
                double D = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    const double *vj = a->v + (b * Tk + j) * ldv + h * a->dv;
                    double s = 0;
                    for (int c = 0; c < a->dv; c++) s += doi[c] * vj[c];
                    dp[j] = s;
                    D += p[j] * s;
                }
                for (int64_t j = 0; j < Tk; j++) {
                    if (p[j] == 0) continue;
                    const double ds = p[j] * (dp[j] - D);
                    const double *kj = a->k + (b * Tk + j) * ldk + h * a->dk;
                    if (dv) {
                        double *dvj = dv + (b * Tk + j) * ldv + h * a->dv;
                        for (int c = 0; c < a->dv; c++) dvj[c] += p[j] * doi[c];
                    }
                    if (dq) {
                        double *dqi = dq + (b * Tq + i) * ldk + h * a->dk;
                        for (int c = 0; c < a->dk; c++) dqi[c] += a->scale * ds * kj[c];
                    }
                    if (dk) {
                        double *dkj = dk + (b * Tk + j) * ldk + h * a->dk;
                        for (int c = 0; c < a->dk; c++) dkj[c] += a->scale * ds * qi[c];
                    }
                }
            }
    free(p);
}
