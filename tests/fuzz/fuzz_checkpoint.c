/*
 * fuzz_checkpoint: model loading from a safetensors file (src/checkpoint.c:
 * retnet_model_load_ex, retnet_checkpoint_config). The first input byte picks the options
 * (bit 0: give a config, the tiny one of fuzz_common.h; bit 1: RETNET_LOAD_BF16; bit 2:
 * RETNET_LOAD_BF16_IF_STORED); the rest is the file. A model that loads runs one forward
 * step (the config it was made from must be one the model can run).
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned opt = data[0];
    char path[512];
    fuzz_path(path, "model.safetensors");
    fuzz_write(path, data + 1, size - 1);
    retnet_config tiny = fuzz_tiny_config(), got;
    const retnet_config *given = (opt & 1) ? &tiny : NULL;
    unsigned flags = ((opt & 2) ? RETNET_LOAD_BF16 : 0) | ((opt & 4) ? RETNET_LOAD_BF16_IF_STORED : 0);

    retnet_status cs = retnet_checkpoint_config(path, given, &got);
    if (cs != RETNET_OK) fuzz_check_failure(cs, path);
    else FUZZ_CHECK(retnet_config_validate(&got) == RETNET_OK, "an invalid config: %s", retnet_errmsg());

    retnet_model *m = (retnet_model *)1;
    retnet_status s = retnet_model_load_ex(path, given, flags, &m);
    if (s != RETNET_OK) {
        FUZZ_CHECK(m == NULL, "load failed but gave a model");
        fuzz_check_failure(s, path);
        return 0;
    }
    FUZZ_CHECK(cs == RETNET_OK, "checkpoint_config failed where the load worked");
    const retnet_config *c = retnet_model_config(m);
    if (retnet_config_param_count(c) <= (1 << 16) && retnet_state_floats(c) <= (1 << 16)) {
        int32_t tok[2] = {0, c->vocab - 1};
        float *logits = malloc(sizeof(float) * 2 * (size_t)c->vocab);
        float *st = malloc(sizeof(float) * (size_t)retnet_state_floats(c));
        retnet_state state = {0, st};
        retnet_state_reset(c, &state);
        FUZZ_CHECK(retnet_forward(m, tok, 1, 2, RETNET_FORM_RECURRENT, 0, &state, logits) == RETNET_OK,
                   "forward: %s", retnet_errmsg());
        free(logits);
        free(st);
    }
    retnet_model_free(m);
    return 0;
}
