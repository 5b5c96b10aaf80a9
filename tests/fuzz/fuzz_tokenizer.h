/*
 * fuzz_tokenizer.h: what the tokenizer harnesses do with a tokenizer that loaded.
 */
#ifndef RETNET_FUZZ_TOKENIZER_H
#define RETNET_FUZZ_TOKENIZER_H

#include "fuzz_common.h"
#include "tokenizer.h"

/* Encodes text with flags, checks the ids, decodes them; with exact, decode(encode(x)) must
 * be x (the byte, BPE and GPT-2 tokenizers' contract). */
static void fuzz_encode(const retnet_tokenizer *t, const char *text, int64_t len, int flags, int exact) {
    int32_t *ids = NULL;
    int64_t n = 0;
    retnet_status s = retnet_tokenizer_encode_ex(t, text, len, flags, &ids, &n);
    FUZZ_CHECK(s == RETNET_OK, "encode of %lld bytes: %s", (long long)len, retnet_errmsg());
    FUZZ_CHECK(ids != NULL && n >= 0, "encode output");
    int32_t V = retnet_tokenizer_vocab(t);
    for (int64_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < V, "id %d of vocab %d", ids[i], V);
    char *back = NULL;
    int64_t bl = 0;
    s = retnet_tokenizer_decode(t, ids, n, 0, &back, &bl);
    FUZZ_CHECK(s == RETNET_OK && back && back[bl] == 0, "decode: %s", retnet_errmsg());
    if (exact && !(flags & RETNET_ENCODE_SPECIALS))
        FUZZ_CHECK(bl == len && !memcmp(back, text, (size_t)len), "decode(encode(x)) != x (%lld vs %lld bytes)",
                   (long long)bl, (long long)len);
    free(back);
    s = retnet_tokenizer_decode(t, ids, n, RETNET_DECODE_SKIP_SPECIAL, &back, &bl);
    FUZZ_CHECK(s == RETNET_OK, "decode skipping specials: %s", retnet_errmsg());
    free(back);
    free(ids);
}

static void fuzz_use_tokenizer(const retnet_tokenizer *t, const uint8_t *data, size_t size, int exact) {
    static const char *const texts[] = {
        "Hello world", " the  cat's 12 dogs\n\n", "\xc3\xa9t\xc3\xa9 \xe2\x96\x81x \xff\xfe",
        "<s>a</s><|endoftext|><bos> <unk>", "aaaaaaaaaaaaaaaaaaaaaaaa", "",
    };
    int32_t V = retnet_tokenizer_vocab(t);
    FUZZ_CHECK(V >= 1, "vocab %d", V);
    int32_t sp[3] = {retnet_tokenizer_bos(t), retnet_tokenizer_eos(t), retnet_tokenizer_pad(t)};
    for (int i = 0; i < 3; i++) FUZZ_CHECK(sp[i] >= -1 && sp[i] < V, "special id %d", sp[i]);
    static const int flags[] = {0, RETNET_ENCODE_SPECIALS, RETNET_ENCODE_CONTINUE};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        for (int f = 0; f < 3; f++) fuzz_encode(t, texts[k], (int64_t)strlen(texts[k]), flags[f], exact);
    fuzz_encode(t, (const char *)data, (int64_t)(size < 256 ? size : 256), 0, exact);
    fuzz_encode(t, (const char *)data, (int64_t)(size < 256 ? size : 256), RETNET_ENCODE_SPECIALS, exact);
    int32_t n = V < 512 ? V : 512;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int32_t i = 0; i < n; i++) {
        int64_t l = -1;
        const char *p = retnet_tokenizer_token(t, i, &l);
        FUZZ_CHECK(p && l >= 0, "token %d", i);
        retnet_tokenizer_is_special(t, i);
        ids[i] = i;
    }
    for (int32_t i = n - 1; i >= 0 && i >= n - 8; i--) {  /* the last ids alone: first-token rules */
        char *txt = NULL;
        int64_t tl;
        FUZZ_CHECK(retnet_tokenizer_decode(t, &ids[i], 1, 0, &txt, &tl) == RETNET_OK, "decode id %d", i);
        free(txt);
    }
    char *txt = NULL;
    int64_t tl;
    FUZZ_CHECK(retnet_tokenizer_decode(t, ids, n, 0, &txt, &tl) == RETNET_OK, "decode of %d ids: %s", n,
               retnet_errmsg());
    free(txt);
    FUZZ_CHECK(retnet_tokenizer_token(t, V, &tl) == NULL && retnet_tokenizer_token(t, -1, &tl) == NULL, "range");
    int32_t bad = V;
    FUZZ_CHECK(retnet_tokenizer_decode(t, &bad, 1, 0, &txt, &tl) == RETNET_EINVAL, "id out of range decoded");
    free(ids);
}

#endif
