/*
 * bench_bf16: what decoding with bf16 weights costs in accuracy. Runs a model token by token
 * (recurrent form) over a text twice, with float32 and with bf16 weights
 * (retnet_model_set_bf16_decode), and compares the two: logits (max |diff|, NMSE), the
 * top-1 token agreement, the KL divergence of the next-token distributions, and the loss on
 * the text (nats/token). Prints one JSON line.
 *
 *   bench_bf16 MODEL.safetensors TEXT [N]      (byte-level models: one token per byte)
 */
#include "retnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_bf16 MODEL TEXT [N]\n");
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 2000;
    retnet_model *m;
    if (retnet_model_load(argv[1], NULL, &m)) {
        fprintf(stderr, "bench_bf16: %s\n", retnet_errmsg());
        return 1;
    }
    const retnet_config *c = retnet_model_config(m);
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    unsigned char *text = malloc(n);
    n = (int)fread(text, 1, n, f);
    fclose(f);
    int V = c->vocab;
    float *lg[2] = {malloc(sizeof(float) * (size_t)n * V), malloc(sizeof(float) * (size_t)n * V)};
    for (int pass = 0; pass < 2; pass++) {
        retnet_model_set_bf16_decode(m, pass);
        retnet_state st = {0, malloc(sizeof(float) * retnet_state_floats(c))};
        retnet_state_reset(c, &st);
        int32_t tok = 256; /* <bos> of the byte tokenizer */
        for (int i = 0; i < n; i++) {
            retnet_forward(m, &tok, 1, 1, RETNET_FORM_RECURRENT, 0, &st, lg[pass] + (size_t)i * V);
            tok = text[i];
        }
        free(st.data);
    }
    double maxd = 0, num = 0, den = 0, kl = 0, loss[2] = {0, 0};
    int agree = 0;
    for (int i = 0; i < n; i++) {
        float *a = lg[0] + (size_t)i * V, *b = lg[1] + (size_t)i * V;
        double ma = a[0], mb = b[0];
        int ia = 0, ib = 0;
        for (int v = 0; v < V; v++) {
            double d = fabs(a[v] - b[v]);
            maxd = d > maxd ? d : maxd;
            num += d * d, den += (double)a[v] * a[v];
            if (a[v] > ma) ma = a[v], ia = v;
            if (b[v] > mb) mb = b[v], ib = v;
        }
        agree += ia == ib;
        double za = 0, zb = 0;
        for (int v = 0; v < V; v++) za += exp(a[v] - ma), zb += exp(b[v] - mb);
        double la = ma + log(za), lb = mb + log(zb);
        for (int v = 0; v < V; v++) {
            double pa = exp(a[v] - la);
            kl += pa * ((a[v] - la) - (b[v] - lb));
        }
        loss[0] += la - a[text[i]];
        loss[1] += lb - b[text[i]];
    }
    printf("{\"tokens\":%d,\"max_abs_logit_diff\":%.4g,\"nmse\":%.3g,\"top1_agreement\":%.4f,"
           "\"mean_kl_nats\":%.3g,\"loss_fp32\":%.5f,\"loss_bf16\":%.5f}\n",
           n, maxd, num / den, (double)agree / n, kl / n, loss[0] / n, loss[1] / n);
    return 0;
}
