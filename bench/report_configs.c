/*
 * report_configs: the configs of the quality section of `make report` (bench/report.sh):
 * a small RetNet of the paper's variant, the Transformer matched to it in parameter count
 * (retnet_config_transformer), and the paper's ablations of the RetNet (its Table 6): without
 * the swish gate, without the per-head norm, one gamma for all heads, gamma = 1, and head
 * widths 64 and 256 (the same d_key in more or fewer heads). Writes DIR/<name>.json for each
 * and prints one line per config: name, parameters, heads, dk, dv, what differs.
 *
 *   report_configs --d 256 --layers 4 --heads 2 [--vocab 260] [--chunk 64] --out DIR
 *
 * A head-width variant that equals the baseline, or does not divide d_key, is not written
 * (its line says "skipped").
 */
#include "retnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_config(const char *dir, const char *name, const retnet_config *c,
                        const char *what) {
    if (retnet_config_validate(c)) {
        printf("%-14s skipped: %s\n", name, retnet_errmsg());
        return 0;
    }
    char json[4096], path[4200];
    retnet_config_to_json(c, json, sizeof json);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f)) {
        fprintf(stderr, "report_configs: cannot write %s\n", path);
        return 1;
    }
    printf("%-14s %9lld %3d %4d %4d  %s\n", name, (long long)retnet_config_param_count(c),
           c->n_head, c->d_key / c->n_head, c->d_value / c->n_head, what);
    return 0;
}

int main(int argc, char **argv) {
    int d = 256, layers = 4, heads = 2, vocab = 260, chunk = 64;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--d")) d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--heads")) heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--vocab")) vocab = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk")) chunk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else { fprintf(stderr, "report_configs: unknown option %s\n", argv[i]); return 2; }
    }
    if (!out) { fprintf(stderr, "report_configs: give --out DIR\n"); return 2; }
    /* the paper's variant at this size: the small preset's recipe with other widths */
    retnet_config base;
    retnet_config_preset("small", &base);
    base.vocab = vocab, base.d_model = d, base.n_layer = layers, base.n_head = heads;
    base.d_key = d, base.d_value = 2 * d, base.d_ffn = 2 * d, base.chunk = chunk;
    if (retnet_config_validate(&base)) {
        fprintf(stderr, "report_configs: %s\n", retnet_errmsg());
        return 2;
    }
    printf("%-14s %9s %3s %4s %4s  %s\n", "name", "params", "h", "dk", "dv", "differs from retnet");
    int rc = write_config(out, "retnet", &base, "-");
    retnet_config c;
    if (retnet_config_transformer(&base, 0, &c) == RETNET_OK)
        rc |= write_config(out, "transformer", &c, "softmax attention, FFN widened to match");
    c = base, c.gate = 0;
    rc |= write_config(out, "no_gate", &c, "no swish gate (MSR output = Wo HeadNorm(Y))");
    c = base, c.head_norm = RETNET_HEADNORM_NONE;
    rc |= write_config(out, "no_head_norm", &c, "no per-head GroupNorm");
    c = base, c.decay = RETNET_DECAY_SINGLE;
    rc |= write_config(out, "decay_single", &c, "one gamma (1 - 2^-5) for all heads");
    c = base, c.decay = RETNET_DECAY_NONE;
    rc |= write_config(out, "decay_none", &c, "gamma = 1 (no decay)");
    static const int widths[] = {64, 256};
    for (int i = 0; i < 2; i++) {
        char name[32], what[80];
        snprintf(name, sizeof name, "head%d", widths[i]);
        c = base, c.n_head = base.d_key / widths[i];
        if (base.d_key % widths[i] || c.n_head < 1 || c.n_head == base.n_head) {
            printf("%-14s skipped: %s\n", name, c.n_head == base.n_head
                   ? "the baseline has this head width" : "does not divide d_key");
            continue;
        }
        snprintf(what, sizeof what, "head width dk = %d (%d head%s)", widths[i], c.n_head,
                 c.n_head > 1 ? "s" : "");
        rc |= write_config(out, name, &c, what);
    }
    return rc;
}
