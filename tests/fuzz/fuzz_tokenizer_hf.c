/*
 * fuzz_tokenizer_hf: Hugging Face tokenizer.json files (src/tokenizer_hf.c), loaded with
 * retnet_tokenizer_load from a .json file, then used: short texts (fixed ones, and the first
 * bytes of the input itself) encoded with each flag and decoded again, every id's bytes
 * (retnet_tokenizer_token) and a decode of the first ids.
 *
 * Properties: a failure names the file; encode gives ids in [0, vocab) that decode accepts.
 */
#include "fuzz_common.h"
#include "fuzz_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_path(path, "tokenizer.json");
    fuzz_write(path, data, size);
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    retnet_status s = retnet_tokenizer_load(path, &t);
    if (s != RETNET_OK) {
        FUZZ_CHECK(t == NULL, "load failed but gave a tokenizer");
        fuzz_check_failure(s, path);
        return 0;
    }
    fuzz_use_tokenizer(t, data, size, 0);
    retnet_tokenizer_free(t);
    return 0;
}
