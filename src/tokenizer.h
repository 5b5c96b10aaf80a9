/*
 * tokenizer.h: text <-> token ids (docs/TOKENIZER.md).
 *
 * Four tokenizers behind one opaque handle:
 *  - "byte": ids 0..255 are the bytes, then four specials, 256 <bos>, 257 <eos>, 258 <pad>,
 *    259 <unk>: vocabulary 260 (the tiny and small presets).
 *  - our byte-level BPE, trained here (retnet_bpe_train) and saved as a small text file: the
 *    same 260 base ids, then one id per learned merge (260, 261, ...).
 *  - GPT-2's BPE, read from OpenAI's encoder.json + vocab.bpe: 50257 ids, <|endoftext|> = 50256
 *    serves as both <bos> and <eos>. Encodes exactly as OpenAI's tiktoken "gpt2" encoding.
 *  - a Hugging Face tokenizer.json with a BPE model (src/tokenizer_hf.c): Llama / SentencePiece
 *    BPE with byte fallback, and GPT-2-style byte-level BPE. Encodes and decodes as Hugging
 *    Face's tokenizers library does (docs/TOKENIZER.md §5 lists what is supported).
 *
 * Conventions (those of retnet.h)
 *  - Calls that can fail return retnet_status; retnet_errmsg() then says what and where.
 *  - encode() accepts ANY byte string (invalid UTF-8 and NUL bytes included). For the byte,
 *    BPE and GPT-2 tokenizers decode(encode(x)) == x, byte for byte; a tokenizer.json does the
 *    same when it is byte-level or has byte fallback, except that its normalizer may map
 *    characters together (Llama's: U+2581 "▁" decodes as a space). encode() never produces a
 *    special id unless asked (RETNET_ENCODE_SPECIALS): the text "<bos>" is five ordinary bytes.
 *  - Text is split into pre-tokens before BPE by GPT-2's regex (implemented by hand over
 *    UTF-8; docs/TOKENIZER.md), so merges never cross word boundaries; a tokenizer.json says
 *    its own pre-tokenizer.
 *  - Sizes are int64_t, ids int32_t. Buffers returned through `**` out-parameters are
 *    allocated with malloc; the caller frees them with free().
 *  - A loaded tokenizer is immutable: any number of threads may encode/decode with it at once.
 */
#ifndef RETNET_TOKENIZER_H
#define RETNET_TOKENIZER_H

#include "retnet.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct retnet_tokenizer retnet_tokenizer;

typedef enum {
    RETNET_TOKENIZER_BYTE = 0,  /* bytes + 4 specials */
    RETNET_TOKENIZER_BPE,       /* our trained byte-level BPE */
    RETNET_TOKENIZER_GPT2,      /* OpenAI's GPT-2 BPE */
    RETNET_TOKENIZER_HF,        /* a Hugging Face tokenizer.json (BPE model) */
} retnet_tokenizer_kind;

/* The ids of the byte and BPE tokenizers' specials. */
enum {
    RETNET_TOKEN_BOS = 256,
    RETNET_TOKEN_EOS = 257,
    RETNET_TOKEN_PAD = 258,
    RETNET_TOKEN_UNK = 259,
    RETNET_BYTE_VOCAB = 260,    /* 256 bytes + 4 specials: the first id a BPE merge gets */
};

/*
 * Loads a tokenizer from a spec:
 *   "byte"           the byte tokenizer;
 *   "gpt2"           GPT-2's, from the directory $RETNET_GPT2_DIR if set, else data/gpt2/
 *                    (relative to the working directory; scripts/get-gpt2-tokenizer.sh fills it);
 *   a directory      holding encoder.json and vocab.bpe (GPT-2's format), or else holding a
 *                    Hugging Face tokenizer.json;
 *   .../encoder.json the same, with vocab.bpe beside it;
 *   .../NAME.json    a Hugging Face tokenizer.json (any other file that starts with '{' too);
 *   any other path   a BPE file saved by retnet_tokenizer_save.
 * Files are treated as hostile: every malformed line or entry fails with EFORMAT naming the
 * file and line. *out is NULL on failure.
 */
retnet_status retnet_tokenizer_load(const char *spec, retnet_tokenizer **out);
/* NULL is allowed. */
void retnet_tokenizer_free(retnet_tokenizer *t);

retnet_tokenizer_kind retnet_tokenizer_kind_of(const retnet_tokenizer *t);
/* "byte", "bpe", "gpt2" or "hf". */
const char *retnet_tokenizer_kind_name(const retnet_tokenizer *t);
/* Number of ids: every id encode() can give and decode() accepts is in [0, vocab). */
int32_t retnet_tokenizer_vocab(const retnet_tokenizer *t);
/* The <bos>/<eos>/<pad> ids, or -1 if the tokenizer has none (GPT-2: no <pad>). A
 * tokenizer.json names none: its added tokens <s>, </s>, <pad>, <|endoftext|> and the like are
 * recognised by name (docs/TOKENIZER.md §5). */
int32_t retnet_tokenizer_bos(const retnet_tokenizer *t);
int32_t retnet_tokenizer_eos(const retnet_tokenizer *t);
int32_t retnet_tokenizer_pad(const retnet_tokenizer *t);
/* 1 if id is a special token (<bos>, <|endoftext|>, ...), 0 otherwise or if out of range. */
int retnet_tokenizer_is_special(const retnet_tokenizer *t, int32_t id);

/*
 * The bytes of one token: for a special, its name ("<bos>", "<|endoftext|>"). The pointer is
 * owned by the tokenizer (valid until it is freed) and not NUL-terminated; *len gets the length.
 * NULL if id is out of range. For streaming output: the bytes of consecutive tokens concatenate
 * into the text (a UTF-8 character may be split across tokens). A tokenizer.json's token is
 * given as its decoder makes it ("▁the" -> " the", "<0x0A>" -> "\n"); what decode() does to the
 * whole text (Llama's decoder strips one leading space) is not applied.
 */
const char *retnet_tokenizer_token(const retnet_tokenizer *t, int32_t id, int64_t *len);

/*
 * Encodes len bytes of text (any bytes; NUL is an ordinary byte). *ids gets a malloc'ed array of
 * *n ids (a valid non-NULL pointer even when *n is 0). At most len ids for the byte, BPE and
 * GPT-2 tokenizers; a tokenizer.json's normalizer may add a few (Llama's leading "▁").
 * Thread-safe. The same as retnet_tokenizer_encode_ex with flags 0.
 */
retnet_status retnet_tokenizer_encode(const retnet_tokenizer *t, const char *text, int64_t len,
                                      int32_t **ids, int64_t *n);

enum {
    /* Specials written in the text become their ids: "<s>" -> 1 (Llama), "<|endoftext|>" ->
     * 50256, "<bos>" -> 256. Leftmost match first, the longest on ties; the text between them
     * is encoded as without the flag, piece by piece (as Hugging Face's tokenizers do by
     * default). Without it the text of a special is ordinary text. A tokenizer.json's added
     * tokens that are not special are matched with or without the flag, as tokenizers does. */
    RETNET_ENCODE_SPECIALS = 1,
    /* The text continues an earlier one (a long text encoded in pieces): no prefix is added to
     * its start (a tokenizer.json's Prepend("▁") normalizer, Metaspace prepend, ByteLevel
     * add_prefix_space). No effect on the other tokenizers. */
    RETNET_ENCODE_CONTINUE = 2,
};
retnet_status retnet_tokenizer_encode_ex(const retnet_tokenizer *t, const char *text, int64_t len,
                                         int flags, int32_t **ids, int64_t *n);

enum { RETNET_DECODE_SKIP_SPECIAL = 1 };  /* decode flag: specials give no bytes */
/*
 * Decodes n ids into bytes: *text gets a malloc'ed buffer of *len bytes plus a terminating NUL
 * (the bytes may hold NULs of their own). Specials decode to their names unless flags has
 * RETNET_DECODE_SKIP_SPECIAL. An id outside [0, vocab) fails with EINVAL naming its position.
 * A tokenizer.json's decoder runs as in Hugging Face's tokenizers, except that byte-fallback
 * tokens give their raw bytes even when these are not valid UTF-8 (tokenizers writes U+FFFD).
 */
retnet_status retnet_tokenizer_decode(const retnet_tokenizer *t, const int32_t *ids, int64_t n,
                                      int flags, char **text, int64_t *len);

/*
 * Writes a BPE tokenizer to path in our text format (docs/TOKENIZER.md), atomically (temp file +
 * rename). The byte tokenizer needs no file ("byte"), GPT-2's and a tokenizer.json have their
 * own: EUNSUPPORTED.
 */
retnet_status retnet_tokenizer_save(const retnet_tokenizer *t, const char *path);

/* ---------------------------------------------------------------- BPE training */

typedef struct retnet_bpe_opts {
    /* Stop early when the most frequent pair occurs fewer times than this (counted over the
     * whole text); the vocabulary is then smaller than asked. 0 means 2. */
    int64_t min_frequency;
    /* Called every few merges and at the end, from the calling thread; may be NULL. */
    void (*progress)(void *ctx, int32_t merges_done, int32_t merges_wanted);
    void *ctx;
} retnet_bpe_opts;

/*
 * Learns a byte-level BPE from text: base ids as the byte tokenizer's (0..259), then merges
 * until the vocabulary has vocab_size ids (>= 260). Each step merges the adjacent pair with the
 * highest count over all pre-tokens (weighted by frequency); ties go to the smaller left id,
 * then the smaller right id, so training is deterministic. opts may be NULL (defaults).
 * The text is only read during the call.
 */
retnet_status retnet_bpe_train(const char *text, int64_t len, int32_t vocab_size,
                               const retnet_bpe_opts *opts, retnet_tokenizer **out);
/* A BPE tokenizer's merges: *count merges, merge i = (left[i], right[i]) -> id 260 + i.
 * The arrays are owned by the tokenizer. EUNSUPPORTED for other kinds (tokenizer.json too). */
retnet_status retnet_tokenizer_merges(const retnet_tokenizer *t, const int32_t **left,
                                      const int32_t **right, int32_t *count);

/* ---------------------------------------------------------------- pre-tokenisation */

/*
 * The end of the pre-token that starts at text[start] (start < len), by GPT-2's rule
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * over UTF-8, where each byte of an invalid UTF-8 sequence counts as one character of the
 * "other" class ([^\s\p{L}\p{N}]). Always > start. Exposed for tests and for splitting long
 * texts at pre-token boundaries.
 */
int64_t retnet_pretoken_end(const char *text, int64_t len, int64_t start);

#ifdef __cplusplus
}
#endif
#endif
