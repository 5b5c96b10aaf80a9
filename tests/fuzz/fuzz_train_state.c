/*
 * fuzz_train_state: the training state loader (src/train.c retnet_train_state_load) with a
 * model of the tiny config of fuzz_common.h. Properties: a failure names the file; a success
 * gives a step >= 0, the trainer JSON NUL-terminated within its buffer, and finite values.
 */
#include "fuzz_common.h"

#include <math.h>

static retnet_model *model;
static float *m1, *m2;
static int64_t np;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    retnet_config c = fuzz_tiny_config();
    if (retnet_model_create(&c, &model) != RETNET_OK) abort();
    np = retnet_config_param_count(&c);
    m1 = malloc(sizeof(float) * (size_t)np);
    m2 = malloc(sizeof(float) * (size_t)np);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_path(path, "state.train");
    fuzz_write(path, data, size);
    int64_t step = -7;
    char extra[256];
    memset(extra, 'x', sizeof extra);
    retnet_status s = retnet_train_state_load(path, model, m1, m2, &step, extra, sizeof extra);
    if (s != RETNET_OK) {
        FUZZ_CHECK(step == -7, "a failed load set the step");
        fuzz_check_failure(s, path);
        return 0;
    }
    FUZZ_CHECK(step >= 0, "step %lld", (long long)step);
    FUZZ_CHECK(memchr(extra, 0, sizeof extra) != NULL, "extra not terminated");
    const float *p = retnet_model_params(model);
    for (int64_t i = 0; i < np; i++)
        FUZZ_CHECK(isfinite(p[i]) && isfinite(m1[i]) && isfinite(m2[i]) && m2[i] >= 0, "value %lld", (long long)i);
    return 0;
}
