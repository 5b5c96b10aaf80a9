/*
 * fuzz_safetensors: src/safetensors.c's reader. The input is written to a file, opened with
 * st_open, and every tensor it lists is looked up (st_find) and read (st_read_f32 and
 * st_read_bf16, for tensors up to 1 MB); every __metadata__ key is looked up (st_meta_get).
 *
 * Properties: a failure names the file; a success holds tensors whose ranges lie within the
 * data, are as long as their dtype and shape say, and are found by their own names.
 */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_path(path, "in.safetensors");
    fuzz_write(path, data, size);
    st_file *f = (st_file *)1;
    retnet_status s = st_open(path, &f);
    if (s != RETNET_OK) {
        FUZZ_CHECK(f == NULL, "st_open failed but gave a file");
        fuzz_check_failure(s, path);
        return 0;
    }
    FUZZ_CHECK(f->data_start + f->data_size == (int64_t)size, "data extent");
    for (int32_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        FUZZ_CHECK(st_find(f, t->name) == t, "st_find(\"%s\")", t->name);
        FUZZ_CHECK(0 <= t->begin && t->begin <= t->end && t->end <= f->data_size, "range");
        FUZZ_CHECK(t->end - t->begin == t->numel * st_dtype_size(t->dtype), "size");
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "ndim");
        if (t->numel > (1 << 18)) continue;
        float *dst = malloc(sizeof(float) * (size_t)(t->numel + 1));
        uint16_t *dst16 = malloc(sizeof(uint16_t) * (size_t)(t->numel + 1));
        s = st_read_f32(f, t, dst);
        int loadable = t->dtype == ST_F32 || t->dtype == ST_BF16 || t->dtype == ST_F16 || t->dtype == ST_F64;
        FUZZ_CHECK(loadable ? s == RETNET_OK : s == RETNET_EUNSUPPORTED, "st_read_f32 of %s: %s",
                   st_dtype_name(t->dtype), retnet_errmsg());
        s = st_read_bf16(f, t, dst16);
        /* (an empty tensor of another dtype reads as nothing, successfully) */
        FUZZ_CHECK(loadable ? s == RETNET_OK : s != RETNET_OK || t->numel == 0, "st_read_bf16 of %s: %s",
                   st_dtype_name(t->dtype), retnet_errmsg());
        free(dst);
        free(dst16);
    }
    for (int32_t i = 0; i < f->n_meta; i++)
        FUZZ_CHECK(st_meta_get(f, f->meta[i].key) != NULL, "st_meta_get(\"%s\")", f->meta[i].key);
    st_meta_get(f, "format");
    st_close(f);
    return 0;
}
