/*
 * fuzz_state_file: saved decoding states (src/state_file.c retnet_state_load_ex), for a
 * RetNet and a Transformer model of the tiny config (the first input byte picks: even
 * RetNet, odd Transformer; the rest is the file). Properties: a failure names the file and
 * leaves the caller's state and last token unchanged; a success gives a position within
 * range and a last token in [-1, vocab).
 */
#include "fuzz_common.h"

static retnet_model *models[2];
static float *buf[2], *saved[2];
static int64_t nf[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    retnet_config c = fuzz_tiny_config(), tf;
    if (retnet_config_transformer(&c, 4, &tf) != RETNET_OK) abort();
    const retnet_config *cs[2] = {&c, &tf};
    for (int i = 0; i < 2; i++) {
        if (retnet_model_create(cs[i], &models[i]) != RETNET_OK || retnet_model_init(models[i], 1) != RETNET_OK)
            abort();
        nf[i] = retnet_state_floats(cs[i]);
        buf[i] = malloc(sizeof(float) * (size_t)nf[i]);
        saved[i] = malloc(sizeof(float) * (size_t)nf[i]);
        for (int64_t k = 0; k < nf[i]; k++) saved[i][k] = (float)k;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] & 1;
    char path[512];
    fuzz_path(path, "decode.state");
    fuzz_write(path, data + 1, size - 1);
    memcpy(buf[which], saved[which], sizeof(float) * (size_t)nf[which]);
    retnet_state st = {12345, buf[which]};
    int32_t last = -77;
    char extra[128];
    retnet_status s = retnet_state_load_ex(path, models[which], &st, &last, extra, sizeof extra);
    const retnet_config *c = retnet_model_config(models[which]);
    if (s != RETNET_OK) {
        fuzz_check_failure(s, path);
        FUZZ_CHECK(st.pos == 12345 && last == -77 &&
                   !memcmp(buf[which], saved[which], sizeof(float) * (size_t)nf[which]),
                   "a failed load changed the state");
        return 0;
    }
    FUZZ_CHECK(st.pos >= 0 && (c->arch != RETNET_ARCH_TRANSFORMER || st.pos <= c->context), "pos %lld",
               (long long)st.pos);
    FUZZ_CHECK(last >= -1 && last < c->vocab, "last token %d", last);
    FUZZ_CHECK(memchr(extra, 0, sizeof extra) != NULL, "extra not terminated");
    return 0;
}
