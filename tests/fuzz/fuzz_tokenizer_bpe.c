/*
 * fuzz_tokenizer_bpe: our BPE tokenizer file (src/tokenizer.c load_bpe) and GPT-2's
 * encoder.json + vocab.bpe (load_gpt2). The first input byte picks the format: even, the
 * rest is a BPE file; odd, the rest is split before its first "#version" line into
 * encoder.json and vocab.bpe, written into a directory that is loaded. Then the tokenizer is
 * used as in fuzz_tokenizer_hf, and decode(encode(x)) must give x back exactly (the contract
 * of these two tokenizers).
 */
#include "fuzz_common.h"
#include "fuzz_tokenizer.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char path[512], p2[512], named[512];
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    retnet_status s;
    if (!(data[0] & 1)) {
        fuzz_path(path, "tok.bpe");
        fuzz_write(path, d, n);
        s = retnet_tokenizer_load(path, &t);
        snprintf(named, sizeof named, "%s", path);
    } else {
        fuzz_path(path, "gpt2");
        mkdir(path, 0700);
        size_t cut = n;
        for (size_t i = 0; i + 8 <= n; i++)
            if ((i == 0 || d[i - 1] == '\n') && !memcmp(d + i, "#version", 8)) { cut = i; break; }
        fuzz_write(fuzz_path(p2, "gpt2/encoder.json"), d, cut);
        fuzz_write(fuzz_path(p2, "gpt2/vocab.bpe"), d + cut, n - cut);
        s = retnet_tokenizer_load(path, &t);
        snprintf(named, sizeof named, "%s", path);
    }
    if (s != RETNET_OK) {
        FUZZ_CHECK(t == NULL, "load failed but gave a tokenizer");
        /* GPT-2's messages name encoder.json or vocab.bpe, inside the directory */
        fuzz_check_failure(s, (data[0] & 1) ? "gpt2" : named);
        return 0;
    }
    fuzz_use_tokenizer(t, d, n, 1);
    retnet_tokenizer_free(t);
    return 0;
}
