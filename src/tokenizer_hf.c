/*
 * tokenizer_hf.c: Hugging Face tokenizer.json files with a BPE model (docs/TOKENIZER.md §5).
 *
 * Part of tokenizer.c's translation unit: tokenizer.c includes this file at its end (with
 * RETNET_TOKENIZER_C defined), so the struct, the hash maps, the scratch buffers and the merge
 * engine (bpe_merge: a linked list with a min-heap of candidate pairs) are shared. Compiled on
 * its own, as the Makefile's wildcard does, it is empty.
 *
 * What runs, in the order of Hugging Face's tokenizers (the Rust library behind transformers'
 * fast tokenizers, our reference):
 *   added tokens   the text is cut at added tokens that are not special (always) and at
 *                  specials (RETNET_ENCODE_SPECIALS): tokenizer.c's encode_ex does that;
 *   normalizer     null, Prepend, Replace (a string pattern), Sequence of those;
 *   pre-tokenizer  null (the whole section is one word: Llama), Metaspace (replacement,
 *                  prepend_scheme always/first/never or the older add_prefix_space, split),
 *                  ByteLevel (add_prefix_space, use_regex: GPT-2's regex, the bytes mapped to
 *                  GPT-2's alphabet), a Sequence of one of those;
 *   model          BPE: vocab, merges ("a b" strings or [a, b] pairs), unk_token, fuse_unk,
 *                  byte_fallback (<0xNN> tokens), ignore_merges; each word starts as its
 *                  characters' ids (bytes' for ByteLevel) and the adjacent pair of lowest
 *                  merge rank is merged until none is a merge (ties: the leftmost);
 *   decoder        ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence; none
 *                  joins the tokens with spaces, as tokenizers does.
 * The post-processor (Llama's TemplateProcessing that adds <s>) is not run: encode never adds
 * specials; callers add <bos> themselves, as for every tokenizer here.
 * Anything else (WordPiece or Unigram models, NFC or Lowercase normalizers, Split or Digits
 * pre-tokenizers, dropout, subword prefixes) fails to load with EUNSUPPORTED naming it, and a
 * malformed file with EFORMAT naming the file and the field: the file is treated as hostile.
 *
 * Byte strings, not Unicode strings: tokenizers takes valid UTF-8 only; here a byte of invalid
 * UTF-8 is a character of its own that no vocabulary holds, so it goes to byte fallback (or
 * <unk>), and decode() gives byte-fallback tokens' raw bytes even when they are not valid
 * UTF-8 (tokenizers writes U+FFFD), so decode(encode(x)) == x for any bytes x with Llama's
 * tokenizer except where the normalizer maps characters together (U+2581 reads as a space).
 */
#ifdef RETNET_TOKENIZER_C

#include <ctype.h>

enum { HF_PRE_NONE, HF_PRE_METASPACE, HF_PRE_BYTELEVEL };
enum { HF_ALWAYS, HF_FIRST, HF_NEVER };
/* normalizer and decoder steps */
enum { HF_PREPEND, HF_REPLACE, HF_BYTEFALLBACK, HF_BYTELEVEL, HF_METASPACE, HF_STRIP };

typedef struct {
    int op;
    char *a, *b;            /* Prepend: a; Replace: a -> b; Metaspace: a (the replacement) */
    int64_t na, nb;
    int scheme;             /* Metaspace */
    int64_t start, stop;    /* Strip: characters a to strip at the start, at the end */
} hf_step;

struct hf_conf {
    hf_step *norm, *dec;
    int n_norm, n_dec;
    int pre;                        /* HF_PRE_* */
    char rep[8];                    /* Metaspace: the replacement character (UTF-8) */
    int rep_len, scheme, split;
    int bl_prefix, bl_regex;        /* ByteLevel */
    int16_t bl_dec[512];            /* GPT-2's alphabet: code point -> byte, or -1 */
    uint32_t bl_enc[256];           /* and byte -> code point */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk;                    /* the unk_token's id or -1 */
    unsigned char *inert;           /* (vocab): 1 for ids in no merge, which never merge */
    int32_t byte_fb[256];           /* <0xNN>'s id or -1 */
    pairmap chars;                  /* code point (0x200000 | b for an invalid byte) -> id */
    /* the tokens' strings as the file writes them ("▁the", "<0x0A>", "Ġthe") */
    int64_t *roff;                  /* (vocab + 1) */
    char *raw;
    unsigned char *in_model;        /* (vocab): 1 for ids of model.vocab */
    int32_t *rtab;                  /* raw string -> model id (open addressing, -1 empty) */
    int64_t rtab_cap;
    /* decoding: the steps after the tokens are fused (Strip only), the first-token rule */
    int dec_first;                  /* a Metaspace step: the first token decodes differently */
    int fin_strip, join_space;
    char strip_c[8];
    int strip_len;
    int64_t strip_start, strip_stop;
    /* added tokens, for matching in the text */
    special_text *added;
    unsigned char *added_special;   /* (n_added) */
    int32_t n_added;
};

static void hf_free(struct hf_conf *hf) {
    if (!hf) return;
    for (int i = 0; i < hf->n_norm; i++) { free(hf->norm[i].a); free(hf->norm[i].b); }
    for (int i = 0; i < hf->n_dec; i++) { free(hf->dec[i].a); free(hf->dec[i].b); }
    free(hf->norm);
    free(hf->dec);
    pairmap_free(&hf->chars);
    free(hf->roff);
    free(hf->raw);
    free(hf->in_model);
    free(hf->inert);
    free(hf->rtab);
    free(hf->added);
    free(hf->added_special);
    free(hf);
}

/* The model id of a raw token string, or -1. */
static int32_t hf_lookup(const struct hf_conf *hf, const void *p, int64_t n) {
    int64_t mask = hf->rtab_cap - 1, i = (int64_t)(hash_bytes(p, n) & (uint64_t)mask);
    for (;;) {
        int32_t id = hf->rtab[i];
        if (id < 0) return -1;
        if (hf->roff[id + 1] - hf->roff[id] == n && !memcmp(hf->raw + hf->roff[id], p, (size_t)n))
            return id;
        i = (i + 1) & mask;
    }
}

/* GPT-2's bytes_to_unicode, forward: byte -> code point. */
static void gpt2_byte_encoder(uint32_t enc[256]) {
    int16_t dec[512];
    gpt2_byte_decoder(dec);
    for (int cp = 0; cp < 512; cp++)
        if (dec[cp] >= 0) enc[dec[cp]] = (uint32_t)cp;
}

static int put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Does b[0..nb) start with / equal p[0..np)? */
static int starts_with(const char *b, int64_t nb, const char *p, int64_t np) {
    return nb >= np && !memcmp(b, p, (size_t)np);
}

/* out = in with every non-overlapping occurrence of pat (left to right) replaced by rep. */
static int replace_all(const char *in, int64_t n, const char *pat, int64_t np, const char *rep,
                       int64_t nr, bbuf *out) {
    out->n = 0;
    if (!bbuf_reserve(out, n)) return 0;
    int64_t i = 0, from = 0;
    while (i + np <= n) {
        if (in[i] == pat[0] && !memcmp(in + i, pat, (size_t)np)) {
            if (!bbuf_put(out, in + from, i - from) || !bbuf_put(out, rep, nr)) return 0;
            i += np;
            from = i;
        } else {
            i++;
        }
    }
    return bbuf_put(out, in + from, n - from);
}

/* ---------------------------------------------------------------- decoding */

/* One token's bytes through the decoder's per-token steps; first: it is the first token of the
 * output (Metaspace drops its replacement characters there). The result is in one of a, b. */
static bbuf *hf_decode_token(const struct hf_conf *hf, const char *raw, int64_t n, int first,
                             bbuf *a, bbuf *b) {
    const int16_t *table = hf->bl_dec;
    bbuf *cur = a, *nxt = b;
    cur->n = 0;
    if (!bbuf_put(cur, raw, n)) return NULL;
    for (int k = 0; k < hf->n_dec; k++) {
        const hf_step *st = &hf->dec[k];
        nxt->n = 0;
        switch (st->op) {
        case HF_REPLACE:
            if (!replace_all(cur->p, cur->n, st->a, st->na, st->b, st->nb, nxt)) return NULL;
            break;
        case HF_BYTEFALLBACK: {
            const char *p = cur->p;
            int hex = cur->n == 6 && !memcmp(p, "<0x", 3) && p[5] == '>' && isxdigit((unsigned char)p[3]) &&
                      isxdigit((unsigned char)p[4]);
            if (!hex) continue;  /* unchanged */
            unsigned char v = (unsigned char)strtol((char[3]){p[3], p[4], 0}, NULL, 16);
            if (!bbuf_put(nxt, &v, 1)) return NULL;
            break;
        }
        case HF_BYTELEVEL: {
            for (int64_t i = 0; i < cur->n;) {
                uint32_t cp;
                int l = utf8_next((const unsigned char *)cur->p, cur->n, i, &cp);
                if (cp < 512 && table[cp] >= 0) {
                    unsigned char v = (unsigned char)table[cp];
                    if (!bbuf_put(nxt, &v, 1)) return NULL;
                } else if (!bbuf_put(nxt, cur->p + i, l)) {
                    return NULL;
                }
                i += l;
            }
            break;
        }
        case HF_METASPACE:
            if (!replace_all(cur->p, cur->n, st->a, st->na, " ", first && st->scheme != HF_NEVER ? 0 : 1, nxt))
                return NULL;
            break;
        case HF_STRIP: {
            int64_t s0 = 0, e0 = cur->n;
            for (int64_t i = 0; i < st->start && starts_with(cur->p + s0, e0 - s0, st->a, st->na); i++) s0 += st->na;
            for (int64_t i = 0; i < st->stop && e0 - s0 >= st->na && !memcmp(cur->p + e0 - st->na, st->a, (size_t)st->na); i++)
                e0 -= st->na;
            if (!bbuf_put(nxt, cur->p + s0, e0 - s0)) return NULL;
            break;
        }
        default:
            continue;
        }
        bbuf *t = cur; cur = nxt; nxt = t;
    }
    return cur;
}

static retnet_status hf_decode(const retnet_tokenizer *t, const int32_t *ids, int64_t n, int flags,
                               char **text, int64_t *len) {
    const struct hf_conf *hf = t->hf;
    bbuf out = {0}, a = {0}, b = {0};
    int first = 1;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (t->special[id] && (flags & RETNET_DECODE_SKIP_SPECIAL)) continue;
        if (hf->join_space && !first && !bbuf_put(&out, " ", 1)) goto oom;
        if (first && hf->dec_first) {
            bbuf *r = hf_decode_token(hf, hf->raw + hf->roff[id], hf->roff[id + 1] - hf->roff[id], 1, &a, &b);
            if (!r || !bbuf_put(&out, r->p, r->n)) goto oom;
        } else if (!bbuf_put(&out, t->bytes + t->off[id], t->off[id + 1] - t->off[id])) {
            goto oom;
        }
        first = 0;
    }
    if (!bbuf_reserve(&out, 0)) goto oom;
    free(a.p);
    free(b.p);
    int64_t s0 = 0, e0 = out.n;
    if (hf->fin_strip) {
        for (int64_t k = 0; k < hf->strip_start && starts_with(out.p + s0, e0 - s0, hf->strip_c, hf->strip_len); k++)
            s0 += hf->strip_len;
        for (int64_t k = 0; k < hf->strip_stop && e0 - s0 >= hf->strip_len &&
                            !memcmp(out.p + e0 - hf->strip_len, hf->strip_c, (size_t)hf->strip_len); k++)
            e0 -= hf->strip_len;
    }
    memmove(out.p, out.p + s0, (size_t)(e0 - s0));
    out.p[e0 - s0] = 0;
    *text = out.p;
    *len = e0 - s0;
    return RETNET_OK;
oom:
    free(out.p);
    free(a.p);
    free(b.p);
    return retnet_fail(RETNET_ENOMEM, "out of memory decoding %lld tokens", (long long)n);
}

/* ---------------------------------------------------------------- encoding */

static int hf_matchable(const retnet_tokenizer *t, int flags, special_text **list, int32_t *count) {
    const struct hf_conf *hf = t->hf;
    int32_t k = 0;
    for (int32_t i = 0; i < hf->n_added; i++) k += !hf->added_special[i] || (flags & RETNET_ENCODE_SPECIALS);
    if (!k) return 1;
    special_text *l = malloc(sizeof *l * (size_t)k);
    if (!l) return 0;
    k = 0;
    for (int32_t i = 0; i < hf->n_added; i++)
        if (!hf->added_special[i] || (flags & RETNET_ENCODE_SPECIALS)) l[k++] = hf->added[i];
    *list = l;
    *count = k;
    return 1;
}

/* BPE of one word p[0..n) (after pre-tokenisation; ByteLevel: still bytes). */
static retnet_status hf_word(const retnet_tokenizer *t, const unsigned char *p, int64_t n, encoder *e,
                             idbuf *out) {
    const struct hf_conf *hf = t->hf;
    if (n == 0) return RETNET_OK;
    e->sym.n = 0;
    if (!idbuf_reserve(&e->sym, n))
        return retnet_fail(RETNET_ENOMEM, "out of memory encoding a word of %lld bytes", (long long)n);
    if (hf->ignore_merges) {
        int32_t id;
        if (hf->pre == HF_PRE_BYTELEVEL) {
            const uint32_t *enc = hf->bl_enc;
            e->c.n = 0;
            if (!bbuf_reserve(&e->c, 2 * n))
                return retnet_fail(RETNET_ENOMEM, "out of memory encoding a word of %lld bytes", (long long)n);
            for (int64_t i = 0; i < n; i++) e->c.n += put_utf8(e->c.p + e->c.n, enc[p[i]]);
            id = hf_lookup(hf, e->c.p, e->c.n);
        } else {
            id = hf_lookup(hf, p, n);
        }
        if (id >= 0) {
            out->p[out->n++] = id;
            return RETNET_OK;
        }
    }
    int32_t *sym = e->sym.p;
    int64_t m = 0;
    int unk_open = 0;
    for (int64_t i = 0; i < n;) {
        int32_t id;
        int l = 1;
        if (hf->pre == HF_PRE_BYTELEVEL) {
            id = t->byte_id[p[i]];
        } else {
            uint32_t cp;
            l = utf8_next(p, n, i, &cp);
            id = pairmap_get(&hf->chars, cp == UINT32_MAX ? 0x200000u | p[i] : cp);
            if (id < 0 && hf->byte_fallback) {
                int all = 1;
                for (int k = 0; k < l; k++) all &= hf->byte_fb[p[i + k]] >= 0;
                if (all) {
                    for (int k = 0; k < l; k++) sym[m++] = hf->byte_fb[p[i + k]];
                    unk_open = 0;
                    i += l;
                    continue;
                }
            }
        }
        i += l;
        if (id >= 0) {
            sym[m++] = id;
            unk_open = 0;
        } else if (hf->unk >= 0) {  /* without an unk token, tokenizers drops the character */
            if (!(hf->fuse_unk && unk_open)) sym[m++] = hf->unk;
            unk_open = 1;
        }
    }
    /* A symbol in no merge is never merged, so the runs between such symbols merge on their
     * own: the same ids, and short heaps (Llama's whole text is one word; its newlines,
     * <0x0A>, are in no merge). */
    int64_t from = 0;
    for (int64_t k = 0; k <= m; k++) {
        if (k < m && !hf->inert[sym[k]]) continue;
        if (k > from) {
            if (!scratch_reserve(&e->sc, k - from))
                return retnet_fail(RETNET_ENOMEM, "out of memory encoding a word of %lld symbols", (long long)(k - from));
            out->n += bpe_merge(t, sym + from, k - from, &e->sc, out->p + out->n);
        }
        if (k < m) out->p[out->n++] = sym[k];
        from = k + 1;
    }
    return RETNET_OK;
}

/* Normalizer, pre-tokenizer and model over one section of text (no added token inside).
 * prefix_ok: prefixes may be added (not for the start of a RETNET_ENCODE_CONTINUE text);
 * at_start: the section starts the text (Metaspace's prepend_scheme "first"). */
static retnet_status hf_encode_section(const retnet_tokenizer *t, const unsigned char *s, int64_t len,
                                       int prefix_ok, int at_start, encoder *e, idbuf *out) {
    const struct hf_conf *hf = t->hf;
    const char *cur = (const char *)s;
    int64_t n = len;
    bbuf *dst = &e->a, *other = &e->b;
    if (n == 0) return RETNET_OK;
#define ENOMEM_SECTION retnet_fail(RETNET_ENOMEM, "out of memory encoding %lld bytes", (long long)len)
    for (int k = 0; k < hf->n_norm; k++) {
        const hf_step *st = &hf->norm[k];
        if (st->op == HF_PREPEND) {
            if (!prefix_ok || n == 0) continue;
            dst->n = 0;
            if (!bbuf_put(dst, st->a, st->na) || !bbuf_put(dst, cur, n)) return ENOMEM_SECTION;
        } else if (!replace_all(cur, n, st->a, st->na, st->b, st->nb, dst)) {
            return ENOMEM_SECTION;
        }
        cur = dst->p;
        n = dst->n;
        bbuf *x = dst; dst = other; other = x;
    }
    if (hf->pre == HF_PRE_METASPACE) {
        if (!replace_all(cur, n, " ", 1, hf->rep, hf->rep_len, dst)) return ENOMEM_SECTION;
        int pre = (hf->scheme == HF_ALWAYS && prefix_ok) || (hf->scheme == HF_FIRST && at_start);
        if (pre && dst->n > 0 && !starts_with(dst->p, dst->n, hf->rep, hf->rep_len)) {
            if (!bbuf_reserve(dst, hf->rep_len)) return ENOMEM_SECTION;
            memmove(dst->p + hf->rep_len, dst->p, (size_t)dst->n);
            memcpy(dst->p, hf->rep, (size_t)hf->rep_len);
            dst->n += hf->rep_len;
        }
        cur = dst->p;
        n = dst->n;
    } else if (hf->pre == HF_PRE_BYTELEVEL && hf->bl_prefix && prefix_ok && n > 0 && cur[0] != ' ') {
        dst->n = 0;
        if (!bbuf_put(dst, " ", 1) || !bbuf_put(dst, cur, n)) return ENOMEM_SECTION;
        cur = dst->p;
        n = dst->n;
    }
    /* every word gives at most one id per byte */
    if (!idbuf_reserve(out, n)) return ENOMEM_SECTION;
#undef ENOMEM_SECTION
    const unsigned char *u = (const unsigned char *)cur;
    retnet_status st = RETNET_OK;
    if (hf->pre == HF_PRE_METASPACE && hf->split) {
        /* split before every replacement character (tokenizers' MergedWithNext) */
        int64_t from = 0;
        for (int64_t i = 1; i <= n && st == RETNET_OK; i++)
            if (i == n || starts_with(cur + i, n - i, hf->rep, hf->rep_len)) {
                st = hf_word(t, u + from, i - from, e, out);
                from = i;
            }
    } else if (hf->pre == HF_PRE_BYTELEVEL && hf->bl_regex) {
        for (int64_t i = 0; i < n && st == RETNET_OK;) {
            int64_t end = retnet_pretoken_end(cur, n, i);
            st = hf_word(t, u + i, end - i, e, out);
            i = end;
        }
    } else {
        st = hf_word(t, u, n, e, out);
    }
    return st;
}

/* ---------------------------------------------------------------- loading */

typedef struct {
    const char *path;
    retnet_status status;
} hf_ctx;

/* Records the first failure (EFORMAT unless said) with the file's name; returns 0. */
RETNET_PRINTF(3, 4)
static int hf_bad(hf_ctx *c, retnet_status st, const char *fmt, ...) {
    if (c->status != RETNET_OK) return 0;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->status = retnet_fail(st, "%s: %s", c->path, msg);
    return 0;
}

static int is_null(const json_value *v) { return !v || v->type == JSON_NULL; }

/* An optional boolean member (default def); 0 on a wrong type. */
static int get_bool(hf_ctx *c, const json_value *o, const char *key, const char *where, int def, int *out) {
    const json_value *v = json_get(o, key);
    if (is_null(v)) { *out = def; return 1; }
    if (v->type != JSON_BOOL) return hf_bad(c, RETNET_EFORMAT, "%s.%s is a %s, want true or false", where, key, json_type_name(v->type));
    *out = v->boolean;
    return 1;
}

/* A string member (required when def is NULL); 0 on a wrong type. */
static int get_str(hf_ctx *c, const json_value *o, const char *key, const char *where, const char *def,
                   const char **out, int64_t *n) {
    const json_value *v = json_get(o, key);
    if (is_null(v)) {
        if (!def) return hf_bad(c, RETNET_EFORMAT, "%s has no \"%s\" string", where, key);
        *out = def;
        *n = (int64_t)strlen(def);
        return 1;
    }
    if (v->type != JSON_STRING) return hf_bad(c, RETNET_EFORMAT, "%s.%s is a %s, want a string", where, key, json_type_name(v->type));
    *out = v->str;
    *n = v->str_len;
    return 1;
}

static const char *type_of(const json_value *v) {
    const json_value *t = json_get(v, "type");
    return t && t->type == JSON_STRING ? t->str : NULL;
}

static char *dup_bytes(const char *s, int64_t n) {
    char *p = malloc((size_t)n + 1);
    if (p) { memcpy(p, s, (size_t)n); p[n] = 0; }
    return p;
}

static int add_step(hf_ctx *c, hf_step **steps, int *n, hf_step st, const char *a, int64_t na,
                    const char *b, int64_t nb) {
    if (*n >= 64) return hf_bad(c, RETNET_EUNSUPPORTED, "more than 64 normalizer or decoder steps");
    hf_step *p = realloc(*steps, sizeof *p * (size_t)(*n + 1));
    if (!p) return hf_bad(c, RETNET_ENOMEM, "out of memory");
    *steps = p;
    st.a = a ? dup_bytes(a, na) : NULL;
    st.b = b ? dup_bytes(b, nb) : NULL;
    st.na = na;
    st.nb = nb;
    p[(*n)++] = st;
    if ((a && !st.a) || (b && !st.b)) return hf_bad(c, RETNET_ENOMEM, "out of memory");
    /* replacements that lengthen, chained, multiply: 31 of "a" -> "aa" would turn one byte
     * into 2^31. Real ones grow text a few times at most (Metaspace: 1 byte -> 3) */
    double grow = 1;
    for (int k = 0; k < *n; k++)
        if (p[k].op == HF_REPLACE && p[k].na > 0 && p[k].nb > p[k].na)
            grow *= (double)p[k].nb / (double)p[k].na;
    if (grow > 64)
        return hf_bad(c, RETNET_EFORMAT, "its Replace steps could grow text %.3gx (more than 64x)",
                      grow);
    return 1;
}

/* Replace's pattern: {"String": "..."} (a {"Regex": ...} is not supported). */
static int get_pattern(hf_ctx *c, const json_value *o, const char *where, const char **p, int64_t *n) {
    const json_value *v = json_get(o, "pattern");
    if (!v || v->type != JSON_OBJECT) return hf_bad(c, RETNET_EFORMAT, "%s has no \"pattern\" object", where);
    const json_value *s = json_get(v, "String");
    if (!s) {
        if (json_get(v, "Regex")) return hf_bad(c, RETNET_EUNSUPPORTED, "%s: a Regex pattern is not supported (only {\"String\": ...})", where);
        return hf_bad(c, RETNET_EFORMAT, "%s.pattern has no \"String\"", where);
    }
    if (s->type != JSON_STRING || s->str_len == 0) return hf_bad(c, RETNET_EFORMAT, "%s.pattern.String is not a non-empty string", where);
    *p = s->str;
    *n = s->str_len;
    return 1;
}

/* One UTF-8 character (Metaspace's replacement, Strip's content). */
static int one_char(hf_ctx *c, const char *s, int64_t n, const char *where, char out[8], int *len) {
    uint32_t cp;
    if (n < 1 || n > 4 || utf8_next((const unsigned char *)s, n, 0, &cp) != n || cp == UINT32_MAX)
        return hf_bad(c, RETNET_EFORMAT, "%s is not one character", where);
    memcpy(out, s, (size_t)n);
    *len = (int)n;
    return 1;
}

static int get_scheme(hf_ctx *c, const json_value *o, const char *where, int *scheme) {
    const json_value *ps = json_get(o, "prepend_scheme");
    if (!is_null(ps)) {
        if (ps->type != JSON_STRING) return hf_bad(c, RETNET_EFORMAT, "%s.prepend_scheme is not a string", where);
        if (!strcmp(ps->str, "always")) *scheme = HF_ALWAYS;
        else if (!strcmp(ps->str, "first")) *scheme = HF_FIRST;
        else if (!strcmp(ps->str, "never")) *scheme = HF_NEVER;
        else return hf_bad(c, RETNET_EFORMAT, "%s.prepend_scheme \"%.40s\" is not always, first or never", where, ps->str);
        return 1;
    }
    int add = 1;  /* the older form: add_prefix_space */
    if (!get_bool(c, o, "add_prefix_space", where, 1, &add)) return 0;
    *scheme = add ? HF_ALWAYS : HF_NEVER;
    return 1;
}

static int parse_normalizer(hf_ctx *c, struct hf_conf *hf, const json_value *v, int depth) {
    if (is_null(v)) return 1;
    const char *ty = type_of(v);
    if (v->type != JSON_OBJECT || !ty) return hf_bad(c, RETNET_EFORMAT, "normalizer is not an object with a \"type\"");
    if (!strcmp(ty, "Sequence")) {
        const json_value *l = json_get(v, "normalizers");
        if (!l || l->type != JSON_ARRAY) return hf_bad(c, RETNET_EFORMAT, "normalizer Sequence has no \"normalizers\" array");
        if (depth > 4) return hf_bad(c, RETNET_EUNSUPPORTED, "normalizer Sequences nested too deeply");
        for (const json_value *x = l->child; x; x = x->next)
            if (!parse_normalizer(c, hf, x, depth + 1)) return 0;
        return 1;
    }
    const char *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    if (!strcmp(ty, "Prepend")) {
        if (!get_str(c, v, "prepend", "normalizer Prepend", NULL, &a, &na)) return 0;
        return add_step(c, &hf->norm, &hf->n_norm, (hf_step){.op = HF_PREPEND}, a, na, NULL, 0);
    }
    if (!strcmp(ty, "Replace")) {
        if (!get_pattern(c, v, "normalizer Replace", &a, &na) ||
            !get_str(c, v, "content", "normalizer Replace", NULL, &b, &nb))
            return 0;
        return add_step(c, &hf->norm, &hf->n_norm, (hf_step){.op = HF_REPLACE}, a, na, b, nb);
    }
    return hf_bad(c, RETNET_EUNSUPPORTED, "the normalizer \"%.40s\" is not supported (only Prepend, "
                  "Replace with a string pattern, and Sequences of them)", ty);
}

static int parse_pre(hf_ctx *c, struct hf_conf *hf, const json_value *v) {
    if (is_null(v)) return 1;
    const char *ty = type_of(v);
    if (v->type != JSON_OBJECT || !ty) return hf_bad(c, RETNET_EFORMAT, "pre_tokenizer is not an object with a \"type\"");
    if (!strcmp(ty, "Sequence")) {
        const json_value *l = json_get(v, "pretokenizers");
        if (!l || l->type != JSON_ARRAY) return hf_bad(c, RETNET_EFORMAT, "pre_tokenizer Sequence has no \"pretokenizers\" array");
        if (l->count > 1) return hf_bad(c, RETNET_EUNSUPPORTED, "a pre_tokenizer Sequence of %d steps is not supported (one Metaspace or ByteLevel)", l->count);
        return l->count == 0 || (l->child->type == JSON_OBJECT && type_of(l->child) && strcmp(type_of(l->child), "Sequence"))
                   ? parse_pre(c, hf, l->child)
                   : hf_bad(c, RETNET_EUNSUPPORTED, "nested pre_tokenizer Sequences are not supported");
    }
    if (!strcmp(ty, "Metaspace")) {
        const char *r = NULL;
        int64_t nr = 0;
        hf->pre = HF_PRE_METASPACE;
        return get_str(c, v, "replacement", "pre_tokenizer Metaspace", "\xe2\x96\x81", &r, &nr) &&
               one_char(c, r, nr, "pre_tokenizer Metaspace.replacement", hf->rep, &hf->rep_len) &&
               get_scheme(c, v, "pre_tokenizer Metaspace", &hf->scheme) &&
               get_bool(c, v, "split", "pre_tokenizer Metaspace", 1, &hf->split);
    }
    if (!strcmp(ty, "ByteLevel")) {
        hf->pre = HF_PRE_BYTELEVEL;
        return get_bool(c, v, "add_prefix_space", "pre_tokenizer ByteLevel", 1, &hf->bl_prefix) &&
               get_bool(c, v, "use_regex", "pre_tokenizer ByteLevel", 1, &hf->bl_regex);
    }
    return hf_bad(c, RETNET_EUNSUPPORTED, "the pre_tokenizer \"%.40s\" is not supported (only "
                  "Metaspace and ByteLevel)", ty);
}

static int parse_decoder(hf_ctx *c, struct hf_conf *hf, const json_value *v, int depth, int *fused) {
    const char *ty = type_of(v);
    if (v->type != JSON_OBJECT || !ty) return hf_bad(c, RETNET_EFORMAT, "decoder is not an object with a \"type\"");
    if (!strcmp(ty, "Sequence")) {
        const json_value *l = json_get(v, "decoders");
        if (!l || l->type != JSON_ARRAY) return hf_bad(c, RETNET_EFORMAT, "decoder Sequence has no \"decoders\" array");
        if (depth > 4) return hf_bad(c, RETNET_EUNSUPPORTED, "decoder Sequences nested too deeply");
        for (const json_value *x = l->child; x; x = x->next)
            if (!parse_decoder(c, hf, x, depth + 1, fused)) return 0;
        return 1;
    }
    if (!strcmp(ty, "Fuse")) {
        *fused = 1;
        return 1;
    }
    const char *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    if (!strcmp(ty, "Strip")) {
        const json_value *st = json_get(v, "start"), *sp = json_get(v, "stop");
        char ch[8];
        int cl = 0;
        if (!get_str(c, v, "content", "decoder Strip", NULL, &a, &na) || !one_char(c, a, na, "decoder Strip.content", ch, &cl))
            return 0;
        if (!st || st->type != JSON_NUMBER || !st->is_int || st->inum < 0 || st->inum > 1000000 ||
            !sp || sp->type != JSON_NUMBER || !sp->is_int || sp->inum < 0 || sp->inum > 1000000)
            return hf_bad(c, RETNET_EFORMAT, "decoder Strip needs integer \"start\" and \"stop\" counts");
        if (*fused) {
            if (hf->fin_strip) return hf_bad(c, RETNET_EUNSUPPORTED, "two Strip decoders after Fuse are not supported");
            hf->fin_strip = 1;
            memcpy(hf->strip_c, ch, (size_t)cl);
            hf->strip_len = cl;
            hf->strip_start = st->inum;
            hf->strip_stop = sp->inum;
            return 1;
        }
        return add_step(c, &hf->dec, &hf->n_dec, (hf_step){.op = HF_STRIP, .start = st->inum, .stop = sp->inum}, ch, cl, NULL, 0);
    }
    if (*fused)
        return hf_bad(c, RETNET_EUNSUPPORTED, "the decoder \"%.40s\" after Fuse or ByteLevel is not "
                      "supported (only Strip may follow)", ty);
    if (!strcmp(ty, "Replace")) {
        if (!get_pattern(c, v, "decoder Replace", &a, &na) || !get_str(c, v, "content", "decoder Replace", NULL, &b, &nb))
            return 0;
        return add_step(c, &hf->dec, &hf->n_dec, (hf_step){.op = HF_REPLACE}, a, na, b, nb);
    }
    if (!strcmp(ty, "ByteFallback"))
        return add_step(c, &hf->dec, &hf->n_dec, (hf_step){.op = HF_BYTEFALLBACK}, NULL, 0, NULL, 0);
    if (!strcmp(ty, "ByteLevel")) {
        *fused = 1;  /* tokenizers joins the bytes of all tokens into one string */
        return add_step(c, &hf->dec, &hf->n_dec, (hf_step){.op = HF_BYTELEVEL}, NULL, 0, NULL, 0);
    }
    if (!strcmp(ty, "Metaspace")) {
        char ch[8];
        int cl = 0, scheme = HF_ALWAYS;
        if (!get_str(c, v, "replacement", "decoder Metaspace", "\xe2\x96\x81", &a, &na) ||
            !one_char(c, a, na, "decoder Metaspace.replacement", ch, &cl) || !get_scheme(c, v, "decoder Metaspace", &scheme))
            return 0;
        hf->dec_first = 1;
        return add_step(c, &hf->dec, &hf->n_dec, (hf_step){.op = HF_METASPACE, .scheme = scheme}, ch, cl, NULL, 0);
    }
    return hf_bad(c, RETNET_EUNSUPPORTED, "the decoder \"%.40s\" is not supported (only ByteLevel, "
                  "Replace, ByteFallback, Fuse, Strip, Metaspace and Sequences of them)", ty);
}

/* The id of the first added token whose content is one of names, or -1. */
static int32_t added_named(const struct hf_conf *hf, const char *const *names) {
    for (; *names; names++)
        for (int32_t i = 0; i < hf->n_added; i++)
            if (hf->added[i].n == (int64_t)strlen(*names) && !memcmp(hf->added[i].p, *names, (size_t)hf->added[i].n))
                return hf->added[i].id;
    return -1;
}

/* A merge's two token strings: "a b" (split at the first space) or ["a", "b"]. */
static int merge_parts(const json_value *m, const char **a, int64_t *na, const char **b, int64_t *nb) {
    if (m->type == JSON_STRING) {
        const char *sp = memchr(m->str, ' ', (size_t)m->str_len);
        if (!sp || sp == m->str || sp + 1 == m->str + m->str_len) return 0;
        *a = m->str;
        *na = sp - m->str;
        *b = sp + 1;
        *nb = m->str + m->str_len - sp - 1;
        return 1;
    }
    if (m->type == JSON_ARRAY && m->count == 2 && m->child->type == JSON_STRING &&
        m->child->next->type == JSON_STRING && m->child->str_len > 0 && m->child->next->str_len > 0) {
        *a = m->child->str;
        *na = m->child->str_len;
        *b = m->child->next->str;
        *nb = m->child->next->str_len;
        return 1;
    }
    return 0;
}

#define HF_MAX_VOCAB (1 << 24)

static retnet_status hf_load(const char *path, const char *text, int64_t len, retnet_tokenizer **out) {
    *out = NULL;
    hf_ctx C = {path, RETNET_OK}, *c = &C;
    json_doc *doc = NULL;
    retnet_tokenizer *t = NULL;
    struct hf_conf *hf = NULL;
    const char **rs = NULL;   /* (vocab) each id's string, as the file gives it */
    int64_t *rn = NULL;
    char *tmp = NULL;
    bbuf da = {0}, db = {0};
    char err[256];
    retnet_status ps = json_parse(text, len, &doc, err, sizeof err);
    if (ps != RETNET_OK) {
        if (ps == RETNET_ENOMEM) return retnet_fail(RETNET_ENOMEM, "out of memory reading %s", path);
        return retnet_fail(RETNET_EFORMAT, "%s: not valid JSON (%s); not a tokenizer.json", path, err);
    }
    const json_value *root = json_root(doc), *model = json_get(root, "model");
    if (root->type != JSON_OBJECT || !model || model->type != JSON_OBJECT) {
        hf_bad(c, RETNET_EFORMAT, "no \"model\" object; not a Hugging Face tokenizer.json");
        goto done;
    }
    const char *mty = type_of(model);
    const json_value *vocab = json_get(model, "vocab"), *merges = json_get(model, "merges");
    if (mty && strcmp(mty, "BPE")) {
        hf_bad(c, RETNET_EUNSUPPORTED, "the model type \"%.40s\" is not supported; only BPE (Llama/"
               "SentencePiece BPE, GPT-2 byte-level BPE)", mty);
        goto done;
    }
    if (!vocab || vocab->type != JSON_OBJECT || vocab->count == 0 || !merges || merges->type != JSON_ARRAY) {
        hf_bad(c, RETNET_EFORMAT, "model needs a non-empty \"vocab\" object and a \"merges\" array");
        goto done;
    }
    const json_value *added = json_get(root, "added_tokens");
    if (!is_null(added) && added->type != JSON_ARRAY) {
        hf_bad(c, RETNET_EFORMAT, "added_tokens is a %s, want an array", json_type_name(added->type));
        goto done;
    }
    int32_t n_added = is_null(added) ? 0 : added->count;
    /* ids: every vocab id and added token id, below HF_MAX_VOCAB and nearly dense */
    int64_t max_id = -1;
    for (const json_value *m = vocab->child; m; m = m->next) {
        if (m->type != JSON_NUMBER || !m->is_int || m->inum < 0 || m->inum >= HF_MAX_VOCAB) {
            hf_bad(c, RETNET_EFORMAT, "model.vocab: the id of \"%.60s\" is not an integer in [0, %d)", m->key, HF_MAX_VOCAB);
            goto done;
        }
        if (m->inum > max_id) max_id = m->inum;
    }
    for (const json_value *a = n_added ? added->child : NULL; a; a = a->next) {
        const json_value *id = json_get(a, "id"), *content = json_get(a, "content"), *sp = json_get(a, "special");
        if (a->type != JSON_OBJECT || !id || id->type != JSON_NUMBER || !id->is_int || id->inum < 0 ||
            id->inum >= HF_MAX_VOCAB || !content || content->type != JSON_STRING || content->str_len == 0 ||
            (!is_null(sp) && sp->type != JSON_BOOL)) {
            hf_bad(c, RETNET_EFORMAT, "added_tokens: an entry (byte %lld) is not {\"id\": integer in "
                   "[0, %d), \"content\": non-empty string, \"special\": boolean}", (long long)a->offset, HF_MAX_VOCAB);
            goto done;
        }
        if (id->inum > max_id) max_id = id->inum;
    }
    int64_t V = max_id + 1;
    if (V > 2 * ((int64_t)vocab->count + n_added) + 1024) {
        hf_bad(c, RETNET_EFORMAT, "ids go up to %lld but only %lld tokens are given; the ids must "
               "be (nearly) dense", (long long)max_id, (long long)vocab->count + n_added);
        goto done;
    }
    t = calloc(1, sizeof *t);
    hf = t ? calloc(1, sizeof *hf) : NULL;
    if (!hf) goto oom;
    t->hf = hf;
    t->kind = RETNET_TOKENIZER_HF;
    t->vocab = (int32_t)V;
    hf->unk = -1;
    rs = calloc((size_t)V, sizeof *rs);
    rn = calloc((size_t)V, sizeof *rn);
    hf->in_model = calloc((size_t)V, 1);
    hf->inert = malloc((size_t)V);
    t->special = calloc((size_t)V, 1);
    hf->roff = malloc(sizeof(int64_t) * ((size_t)V + 1));
    t->off = malloc(sizeof(int64_t) * ((size_t)V + 1));
    if (!rs || !rn || !hf->in_model || !hf->inert || !t->special || !hf->roff || !t->off) goto oom;
    for (const json_value *m = vocab->child; m; m = m->next) {
        if (rs[m->inum]) {
            hf_bad(c, RETNET_EFORMAT, "model.vocab: id %lld is given to both \"%.60s\" and \"%.60s\"",
                   (long long)m->inum, rs[m->inum], m->key);
            goto done;
        }
        rs[m->inum] = m->key;
        rn[m->inum] = m->key_len;
        hf->in_model[m->inum] = 1;
    }
    hf->added = malloc(sizeof *hf->added * (size_t)(n_added ? n_added : 1));
    hf->added_special = calloc((size_t)(n_added ? n_added : 1), 1);
    if (!hf->added || !hf->added_special) goto oom;
    for (const json_value *a = n_added ? added->child : NULL; a; a = a->next) {
        const json_value *id = json_get(a, "id"), *content = json_get(a, "content"), *sp = json_get(a, "special");
        if (rs[id->inum]) {
            if (rn[id->inum] != content->str_len || memcmp(rs[id->inum], content->str, (size_t)content->str_len)) {
                hf_bad(c, RETNET_EFORMAT, "added_tokens: id %lld is \"%.60s\" but \"%.60s\" has "
                       "that id already", (long long)id->inum, content->str, rs[id->inum]);
                goto done;
            }
        } else {
            rs[id->inum] = content->str;
            rn[id->inum] = content->str_len;
        }
        if (!is_null(sp) && sp->boolean) t->special[id->inum] = 1;
        hf->added_special[hf->n_added] = t->special[id->inum];
        hf->added[hf->n_added++] = (special_text){(int32_t)id->inum, NULL, content->str_len};
    }
    /* the raw strings; ids that no entry names are empty specials (decode gives nothing) */
    int64_t total = 0;
    for (int64_t id = 0; id < V; id++) {
        hf->roff[id] = total;
        if (!rs[id]) { t->special[id] = 1; continue; }
        total += rn[id];
    }
    hf->roff[V] = total;
    hf->raw = malloc((size_t)total + 1);
    if (!hf->raw) goto oom;
    for (int64_t id = 0; id < V; id++)
        if (rs[id]) memcpy(hf->raw + hf->roff[id], rs[id], (size_t)rn[id]);
    for (int32_t i = 0; i < hf->n_added; i++)
        hf->added[i].p = (const unsigned char *)hf->raw + hf->roff[hf->added[i].id];
    hf->rtab_cap = 64;
    while (hf->rtab_cap < 2 * V) hf->rtab_cap *= 2;
    hf->rtab = malloc(sizeof(int32_t) * (size_t)hf->rtab_cap);
    if (!hf->rtab) goto oom;
    memset(hf->rtab, 0xFF, sizeof(int32_t) * (size_t)hf->rtab_cap);
    for (int32_t id = 0; id < V; id++) {
        if (!hf->in_model[id]) continue;
        int64_t n = hf->roff[id + 1] - hf->roff[id], mask = hf->rtab_cap - 1;
        int64_t i = (int64_t)(hash_bytes((const unsigned char *)hf->raw + hf->roff[id], n) & (uint64_t)mask);
        while (hf->rtab[i] >= 0) i = (i + 1) & mask;  /* JSON object keys are unique */
        hf->rtab[i] = id;
    }

    /* the model's options */
    const json_value *dropout = json_get(model, "dropout");
    if (!is_null(dropout) && !(dropout->type == JSON_NUMBER && dropout->num == 0)) {
        hf_bad(c, RETNET_EUNSUPPORTED, "BPE dropout is not supported (model.dropout must be null)");
        goto done;
    }
    const char *s1;
    int64_t n1;
    if (!get_str(c, model, "continuing_subword_prefix", "model", "", &s1, &n1)) goto done;
    if (n1) { hf_bad(c, RETNET_EUNSUPPORTED, "model.continuing_subword_prefix \"%.20s\" is not supported (only null or \"\")", s1); goto done; }
    if (!get_str(c, model, "end_of_word_suffix", "model", "", &s1, &n1)) goto done;
    if (n1) { hf_bad(c, RETNET_EUNSUPPORTED, "model.end_of_word_suffix \"%.20s\" is not supported (only null or \"\")", s1); goto done; }
    if (!get_bool(c, model, "byte_fallback", "model", 0, &hf->byte_fallback) ||
        !get_bool(c, model, "fuse_unk", "model", 0, &hf->fuse_unk) ||
        !get_bool(c, model, "ignore_merges", "model", 0, &hf->ignore_merges) ||
        !get_str(c, model, "unk_token", "model", "", &s1, &n1))
        goto done;
    if (n1 && (hf->unk = hf_lookup(hf, s1, n1)) < 0) {
        hf_bad(c, RETNET_EFORMAT, "model.unk_token \"%.60s\" is not in the vocabulary", s1);
        goto done;
    }

    /* merges: (left, right) -> rank, rank -> merged id */
    int32_t nm = merges->count;
    t->merge_out = malloc(sizeof(int32_t) * (size_t)(nm ? nm : 1));
    tmp = malloc((size_t)total + 2);
    if (!t->merge_out || !tmp || !pairmap_init(&t->pairs, nm)) goto oom;
    int32_t r = 0;
    memset(hf->inert, 1, (size_t)V);
    for (const json_value *m = merges->child; m; m = m->next, r++) {
        const char *a, *b;
        int64_t na, nb;
        if (!merge_parts(m, &a, &na, &b, &nb)) {
            hf_bad(c, RETNET_EFORMAT, "model.merges[%d] is not \"A B\" nor [\"A\", \"B\"] with non-empty A and B", r);
            goto done;
        }
        int32_t ia = hf_lookup(hf, a, na), ib = hf_lookup(hf, b, nb), im = -1;
        if (ia >= 0 && ib >= 0 && na + nb <= total) {
            memcpy(tmp, a, (size_t)na);
            memcpy(tmp + na, b, (size_t)nb);
            im = hf_lookup(hf, tmp, na + nb);
        }
        if (im < 0) {
            hf_bad(c, RETNET_EFORMAT, "model.merges[%d] (\"%.40s\" + \"%.40s\"): %s is not in the "
                   "vocabulary", r, a, b, ia < 0 ? "the first part" : ib < 0 ? "the second part" : "the merged token");
            goto done;
        }
        int ins;
        int64_t slot = pairmap_slot(&t->pairs, pair_key(ia, ib), r, &ins);
        if (slot < 0) goto oom;
        t->pairs.vals[slot] = r;  /* a repeated merge: the later rank counts, as in tokenizers */
        t->merge_out[r] = im;
        hf->inert[ia] = hf->inert[ib] = 0;
    }

    /* the pipeline */
    gpt2_byte_decoder(hf->bl_dec);
    gpt2_byte_encoder(hf->bl_enc);
    const json_value *dec = json_get(root, "decoder");
    int fused = 0;
    if (!parse_normalizer(c, hf, json_get(root, "normalizer"), 0) || !parse_pre(c, hf, json_get(root, "pre_tokenizer")))
        goto done;
    if (is_null(dec)) hf->join_space = 1;
    else if (!parse_decoder(c, hf, dec, 0, &fused)) goto done;

    /* the first symbols of a word: one-character tokens, byte-fallback tokens, bytes */
    if (!pairmap_init(&hf->chars, 1024)) goto oom;
    for (int32_t id = 0; id < V; id++) {
        if (!hf->in_model[id]) continue;
        const unsigned char *p = (const unsigned char *)hf->raw + hf->roff[id];
        int64_t n = hf->roff[id + 1] - hf->roff[id];
        uint32_t cp;
        if (n > 0 && n <= 4 && utf8_next(p, n, 0, &cp) == n && cp != UINT32_MAX) {
            int ins;
            if (pairmap_slot(&hf->chars, cp, id, &ins) < 0) goto oom;
        }
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        hf->byte_fb[b] = hf->byte_fallback ? hf_lookup(hf, name, 6) : -1;
        t->byte_id[b] = -1;
    }
    if (hf->pre == HF_PRE_BYTELEVEL)
        for (int b = 0; b < 256; b++) t->byte_id[b] = pairmap_get(&hf->chars, hf->bl_enc[b]);

    /* each token's bytes as the decoder makes them (not as the first token) */
    total = 0;
    for (int32_t id = 0; id < V; id++) {
        bbuf *o = hf_decode_token(hf, hf->raw + hf->roff[id], hf->roff[id + 1] - hf->roff[id], 0, &da, &db);
        if (!o) goto oom;
        t->off[id] = total;
        total += o->n;
    }
    t->off[V] = total;
    t->bytes = malloc((size_t)total + 1);
    if (!t->bytes) goto oom;
    for (int32_t id = 0; id < V; id++) {
        bbuf *o = hf_decode_token(hf, hf->raw + hf->roff[id], hf->roff[id + 1] - hf->roff[id], 0, &da, &db);
        if (!o) goto oom;
        memcpy(t->bytes + t->off[id], o->p, (size_t)o->n);
    }

    /* <bos>, <eos>, <pad> by name: tokenizer.json does not say which they are */
    static const char *const BOS[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>", NULL};
    static const char *const EOS[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL};
    static const char *const PAD[] = {"<pad>", "[PAD]", "<|pad|>", NULL};
    t->bos = added_named(hf, BOS);
    t->eos = added_named(hf, EOS);
    t->pad = added_named(hf, PAD);
    goto done;
oom:
    hf_bad(c, RETNET_ENOMEM, "out of memory loading the tokenizer");
done:
    json_free(doc);
    free(rs);
    free(rn);
    free(tmp);
    free(da.p);
    free(db.p);
    if (C.status != RETNET_OK) {
        retnet_tokenizer_free(t);
        return C.status;
    }
    *out = t;
    return RETNET_OK;
}

#else
typedef int retnet_tokenizer_hf_is_part_of_tokenizer_c;  /* see the top of the file */
#endif
