/*
 * tokenizer.c: the byte tokenizer, our byte-level BPE (training, encoding, its file) and
 * GPT-2's BPE (encoder.json + vocab.bpe), behind tokenizer.h. docs/TOKENIZER.md is the spec.
 * Hugging Face tokenizer.json files are read and run by src/tokenizer_hf.c, which this file
 * includes at its end: one translation unit, so that both share the struct, the hash maps
 * and the merge engine below without a private header.
 *
 * One engine encodes both BPEs. A tokenizer holds
 *   - the bytes of every id (specials: their names), for decoding;
 *   - byte_id[b]: the id of the one-byte token b (ours: b itself; GPT-2: its encoder.json id);
 *   - a pair map (left id, right id) -> merged id.
 * Text is cut into pre-tokens (retnet_pretoken_end, GPT-2's regex by hand), each pre-token
 * starts as its byte ids, and the adjacent pair with the smallest merged id is merged until
 * none is in the map (ties: the leftmost). The merged id is the merge's rank in both BPEs:
 * ours gives merge i the id 260 + i; GPT-2's ids are tiktoken's ranks.
 *   ours: the map holds exactly the learned merges, so encoding replays training.
 *   GPT-2: the map holds every split of every token into two tokens, and a pre-token that is
 *          itself a token is emitted directly: tiktoken's algorithm (it merges any two adjacent
 *          parts whose bytes together form a token), hence its ids.
 *   tokenizer.json: the map holds the file's merges, (left, right) -> rank, and merge_out[rank]
 *          is the id of the merged token (ids are not ranks there).
 * Merging runs on a linked list with a min-heap of candidate pairs (lazy deletion), so a
 * pre-token of n bytes costs O(n log n), even a megabyte of spaces.
 *
 * Training (retnet_bpe_train) counts unique pre-tokens with their frequencies, keeps the
 * count of every adjacent pair and, per pair, the words it occurs in; each merge rewrites only
 * those words and updates the counts of the pairs they lose and gain. The best pair comes
 * from a max-heap with lazy deletion (an existing pair's count can only fall; pairs with the
 * new id are pushed once the merge is done).
 */
#include "tokenizer.h"
#include "internal.h"
#include "json.h"
#include "tokenizer_unicode.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MAX_BYTES 4096 /* one merged token's bytes, at most */
/* the merged tokens' bytes in all, at most this many a merge on average (past a floor): a
 * merge line of ~10 bytes may make a token of 4096, so a file could ask ~400x its size; real
 * vocabularies average under 16 bytes a token (GPT-2's 50k: ~6) */
#define TOKENS_AVG_MAX 64
#define TOKENS_FLOOR (1 << 20)

/* ---------------------------------------------------------------- UTF-8 and classes */

enum { C_OTHER = 0, C_LETTER, C_NUMBER, C_SPACE };

/* Decodes the character at s[i] (i < len): returns its byte length (1..4) and its code point
 * in *cp, or 1 and *cp = UINT32_MAX for a byte that does not start a valid UTF-8 sequence
 * (stray continuation, overlong form, surrogate, > U+10FFFF, truncated). */
static int utf8_next(const unsigned char *s, int64_t len, int64_t i, uint32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) { *cp = c; return 1; }
    int n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; min = 0x10000; }
    else { *cp = UINT32_MAX; return 1; }
    if (len - i < n) { *cp = UINT32_MAX; return 1; }
    for (int k = 1; k < n; k++) {
        unsigned d = s[i + k];
        if ((d & 0xC0) != 0x80) { *cp = UINT32_MAX; return 1; }
        v = (v << 6) | (d & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = UINT32_MAX; return 1; }
    *cp = v;
    return n;
}

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid - 1;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* \s is Unicode's White_Space property, as in the regex engines of OpenAI's tokenizers
 * (Python's regex module, tiktoken's Rust): it has U+0085 and not U+FEFF (JavaScript's \s is
 * the other way round; docs/TOKENIZER.md). */
static int cp_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return C_LETTER;
        if (cp >= '0' && cp <= '9') return C_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return C_SPACE;
        return C_OTHER;
    }
    if (cp == UINT32_MAX) return C_OTHER;
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return C_SPACE;
    if (in_ranges(uni_letter, (int)(sizeof uni_letter / sizeof uni_letter[0]), cp)) return C_LETTER;
    if (in_ranges(uni_number, (int)(sizeof uni_number / sizeof uni_number[0]), cp)) return C_NUMBER;
    return C_OTHER;
}

static int class_at(const unsigned char *s, int64_t len, int64_t i, int *n) {
    uint32_t cp;
    *n = utf8_next(s, len, i, &cp);
    return cp_class(cp);
}

/*
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * The alternatives in order, at start: a contraction; else an optional ' ' and a maximal run
 * of one class (letter, number, other); else whitespace: the run up to the next
 * non-whitespace character, minus its last character when that leaves at least one (so a
 * space before a word goes with the word), or the whole run at the end of the text.
 */
int64_t retnet_pretoken_end(const char *text, int64_t len, int64_t start) {
    const unsigned char *s = (const unsigned char *)text;
    if (start >= len) return len;
    if (s[start] == '\'' && start + 1 < len) {
        unsigned a = s[start + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return start + 2;
        if (start + 2 < len) {
            unsigned b = s[start + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return start + 3;
        }
    }
    int n, c = class_at(s, len, start, &n);
    int64_t i = start;
    if (s[start] == ' ' && start + 1 < len) {
        int n2, c2 = class_at(s, len, start + 1, &n2);
        if (c2 != C_SPACE) { c = c2; i = start + 1; n = n2; }
    }
    if (c != C_SPACE) {
        i += n;
        while (i < len) {
            int k, ck = class_at(s, len, i, &k);
            if (ck != c) break;
            i += k;
        }
        return i;
    }
    int64_t last = start;
    while (i < len) {
        int k, ck = class_at(s, len, i, &k);
        if (ck != C_SPACE) break;
        last = i;
        i += k;
    }
    if (i == len) return len;
    return last > start ? last : i;
}

/* ---------------------------------------------------------------- hashing */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t hash_bytes(const unsigned char *p, int64_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mix64(h ^ v);
        p += 8; n -= 8;
    }
    uint64_t v = 0;
    for (int64_t k = 0; k < n; k++) v |= (uint64_t)p[k] << (8 * k);
    return mix64(h ^ v ^ 0x5bd1e995u);
}

/* Open addressing map from a pair key (left << 32 | right) to an int32, linear probing. */
#define PAIR_EMPTY UINT64_MAX
typedef struct {
    uint64_t *keys;
    int32_t *vals;
    int64_t cap, n;  /* cap: a power of two */
} pairmap;

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static void pairmap_free(pairmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int pairmap_init(pairmap *m, int64_t expect) {
    int64_t cap = 64;
    while (cap < 2 * expect + 2) cap *= 2;
    m->keys = malloc(sizeof(uint64_t) * (size_t)cap);
    m->vals = malloc(sizeof(int32_t) * (size_t)cap);
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->vals) { pairmap_free(m); return 0; }
    memset(m->keys, 0xFF, sizeof(uint64_t) * (size_t)cap);
    return 1;
}

static inline int32_t pairmap_get(const pairmap *m, uint64_t key) {
    int64_t mask = m->cap - 1, i = (int64_t)(mix64(key) & (uint64_t)mask);
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key) return m->vals[i];
        if (k == PAIR_EMPTY) return -1;
        i = (i + 1) & mask;
    }
}

/* The slot of key, inserting it with value `val` if absent (grows the table); -1 on ENOMEM. */
static int64_t pairmap_slot(pairmap *m, uint64_t key, int32_t val, int *inserted) {
    if (2 * (m->n + 1) > m->cap) {
        pairmap big;
        if (!pairmap_init(&big, m->cap)) return -1;
        for (int64_t i = 0; i < m->cap; i++)
            if (m->keys[i] != PAIR_EMPTY) {
                int64_t mask = big.cap - 1, j = (int64_t)(mix64(m->keys[i]) & (uint64_t)mask);
                while (big.keys[j] != PAIR_EMPTY) j = (j + 1) & mask;
                big.keys[j] = m->keys[i];
                big.vals[j] = m->vals[i];
            }
        big.n = m->n;
        pairmap_free(m);
        *m = big;
    }
    int64_t mask = m->cap - 1, i = (int64_t)(mix64(key) & (uint64_t)mask);
    for (;;) {
        if (m->keys[i] == key) { *inserted = 0; return i; }
        if (m->keys[i] == PAIR_EMPTY) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            *inserted = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* ---------------------------------------------------------------- the tokenizer */

struct retnet_tokenizer {
    retnet_tokenizer_kind kind;
    int32_t vocab, bos, eos, pad;
    int32_t byte_id[256];
    int64_t *off;          /* (vocab + 1): token i's bytes are bytes[off[i] .. off[i+1]) */
    char *bytes;
    unsigned char *special;/* (vocab): 1 for specials */
    pairmap pairs;         /* (left, right) -> merged id */
    int32_t n_merges;      /* BPE: merge i = (mleft[i], mright[i]) -> 260 + i */
    int32_t *mleft, *mright;
    /* GPT-2: token bytes -> id (open addressing over ids, -1 empty), for whole-piece lookups */
    int32_t *whole;
    int64_t whole_cap;
    /* tokenizer.json: merge rank r makes the id merge_out[r] (NULL: the rank is the id), and
     * the pipeline around the model (tokenizer_hf.c) */
    int32_t *merge_out;
    struct hf_conf *hf;
};

static void hf_free(struct hf_conf *hf);
static retnet_status hf_load(const char *path, const char *text, int64_t len, retnet_tokenizer **out);

static const char *const SPECIAL_NAMES[4] = {"<bos>", "<eos>", "<pad>", "<unk>"};

void retnet_tokenizer_free(retnet_tokenizer *t) {
    if (!t) return;
    free(t->off);
    free(t->bytes);
    free(t->special);
    pairmap_free(&t->pairs);
    free(t->mleft);
    free(t->mright);
    free(t->whole);
    free(t->merge_out);
    hf_free(t->hf);
    free(t);
}

retnet_tokenizer_kind retnet_tokenizer_kind_of(const retnet_tokenizer *t) { return t->kind; }
const char *retnet_tokenizer_kind_name(const retnet_tokenizer *t) {
    return t->kind == RETNET_TOKENIZER_BYTE ? "byte" : t->kind == RETNET_TOKENIZER_BPE ? "bpe"
         : t->kind == RETNET_TOKENIZER_GPT2 ? "gpt2" : "hf";
}
int32_t retnet_tokenizer_vocab(const retnet_tokenizer *t) { return t->vocab; }
int32_t retnet_tokenizer_bos(const retnet_tokenizer *t) { return t->bos; }
int32_t retnet_tokenizer_eos(const retnet_tokenizer *t) { return t->eos; }
int32_t retnet_tokenizer_pad(const retnet_tokenizer *t) { return t->pad; }
int retnet_tokenizer_is_special(const retnet_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->vocab && t->special[id];
}

const char *retnet_tokenizer_token(const retnet_tokenizer *t, int32_t id, int64_t *len) {
    if (id < 0 || id >= t->vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->off[id + 1] - t->off[id];
    return t->bytes + t->off[id];
}

retnet_status retnet_tokenizer_merges(const retnet_tokenizer *t, const int32_t **left,
                                      const int32_t **right, int32_t *count) {
    if (t->kind != RETNET_TOKENIZER_BPE)
        return retnet_fail(RETNET_EUNSUPPORTED, "the %s tokenizer has no merge list of ours",
                           retnet_tokenizer_kind_name(t));
    *left = t->mleft;
    *right = t->mright;
    *count = t->n_merges;
    return RETNET_OK;
}

/*
 * The byte tokenizer (n_merges 0) or our BPE with these merges: ids 0..255 the bytes, 256..259
 * the specials, 260 + i merge i. Takes ownership of left/right (freed on failure too).
 * `where` names the source in messages.
 */
static retnet_status build_bpe(int32_t *left, int32_t *right, int32_t n_merges, const char *where,
                               retnet_tokenizer **out) {
    *out = NULL;
    retnet_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(left);
        free(right);
        return retnet_fail(RETNET_ENOMEM, "out of memory for a tokenizer");
    }
    t->kind = n_merges > 0 || left ? RETNET_TOKENIZER_BPE : RETNET_TOKENIZER_BYTE;
    t->mleft = left;
    t->mright = right;
    t->n_merges = n_merges;
    t->vocab = RETNET_BYTE_VOCAB + n_merges;
    t->bos = RETNET_TOKEN_BOS;
    t->eos = RETNET_TOKEN_EOS;
    t->pad = RETNET_TOKEN_PAD;
    for (int b = 0; b < 256; b++) t->byte_id[b] = b;
    t->off = malloc(sizeof(int64_t) * ((size_t)t->vocab + 1));
    t->special = calloc((size_t)t->vocab, 1);
    if (!t->off || !t->special || !pairmap_init(&t->pairs, n_merges)) goto oom;
    /* Token lengths first (checking the merges), then the bytes. */
    int64_t total = 256;
    t->off[0] = 0;
    for (int b = 0; b < 256; b++) t->off[b + 1] = b + 1;
    for (int k = 0; k < 4; k++) {
        t->special[256 + k] = 1;
        total += (int64_t)strlen(SPECIAL_NAMES[k]);
        t->off[257 + k] = total;
    }
    for (int32_t i = 0; i < n_merges; i++) {
        int32_t id = RETNET_BYTE_VOCAB + i, a = left[i], b = right[i];
        if (a < 0 || b < 0 || a >= id || b >= id) {
            retnet_tokenizer_free(t);
            return retnet_fail(RETNET_EFORMAT, "%s: merge %d (id %d) joins %d and %d; a merge "
                               "may only join ids below its own", where, i, id, a, b);
        }
        if (t->special[a] || t->special[b]) {
            int32_t sp = t->special[a] ? a : b;
            retnet_tokenizer_free(t);
            return retnet_fail(RETNET_EFORMAT, "%s: merge %d (id %d) joins the special id %d; "
                               "specials (256..259) are never merged", where, i, id, sp);
        }
        int ins;
        int64_t slot = pairmap_slot(&t->pairs, pair_key(a, b), id, &ins);
        if (slot < 0) goto oom;
        if (!ins) {
            int32_t prev = t->pairs.vals[slot];
            retnet_tokenizer_free(t);
            return retnet_fail(RETNET_EFORMAT, "%s: merge %d repeats merge %d (%d %d)", where, i,
                               prev - RETNET_BYTE_VOCAB, a, b);
        }
        int64_t la = t->off[a + 1] - t->off[a], lb = t->off[b + 1] - t->off[b];
        /* a merge of merges doubles: 30 self-merges would ask for GBs of a few hundred bytes
         * of file. Real vocabularies' tokens are at most a few hundred bytes */
        if (la + lb > TOKEN_MAX_BYTES) {
            retnet_tokenizer_free(t);
            return retnet_fail(RETNET_EFORMAT, "%s: merge %d (%d %d) makes a token of %lld "
                               "bytes, more than %d", where, i, a, b, (long long)(la + lb),
                               TOKEN_MAX_BYTES);
        }
        if (!retnet_add_ok(total, la + lb, &total)) goto oom;
        t->off[id + 1] = total;
    }
    if (total > TOKENS_FLOOR && total > (int64_t)TOKENS_AVG_MAX * n_merges) {
        retnet_tokenizer_free(t);
        return retnet_fail(RETNET_EFORMAT, "%s: its %d merges make tokens of %lld bytes in all, "
                           "%lld a merge on average; more than %d on average is refused (real "
                           "vocabularies average under 16)", where, n_merges, (long long)total,
                           (long long)(total / n_merges), TOKENS_AVG_MAX);
    }
    t->bytes = malloc((size_t)total);
    if (!t->bytes) goto oom;
    for (int b = 0; b < 256; b++) t->bytes[b] = (char)b;
    for (int k = 0; k < 4; k++)
        memcpy(t->bytes + t->off[256 + k], SPECIAL_NAMES[k], strlen(SPECIAL_NAMES[k]));
    for (int32_t i = 0; i < n_merges; i++) {
        int32_t id = RETNET_BYTE_VOCAB + i, a = left[i], b = right[i];
        int64_t la = t->off[a + 1] - t->off[a];
        memcpy(t->bytes + t->off[id], t->bytes + t->off[a], (size_t)la);
        memcpy(t->bytes + t->off[id] + la, t->bytes + t->off[b], (size_t)(t->off[b + 1] - t->off[b]));
    }
    *out = t;
    return RETNET_OK;
oom:
    retnet_tokenizer_free(t);
    return retnet_fail(RETNET_ENOMEM, "out of memory building a tokenizer of %d merges", n_merges);
}

/* ---------------------------------------------------------------- encoding */

typedef struct { int32_t rank; int64_t pos; } cand;  /* merge candidate: pair starting at pos */

static inline int cand_less(cand a, cand b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void cand_push(cand *h, int64_t *n, cand c) {
    int64_t i = (*n)++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!cand_less(c, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand cand_pop(cand *h, int64_t *n) {
    cand top = h[0], last = h[--(*n)];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        cand best = last;
        if (l < *n && cand_less(h[l], best)) { m = l; best = h[l]; }
        if (r < *n && cand_less(h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0) h[i] = last;
    return top;
}

typedef struct {
    int32_t *id;
    int64_t *next, *prev;
    cand *heap;
    int64_t cap;
} scratch;

static int scratch_reserve(scratch *s, int64_t n) {
    if (n <= s->cap) return 1;
    int64_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    /* The heap can hold the n-1 initial pairs plus 2 per merge: < 3n. */
    int32_t *id = realloc(s->id, sizeof(int32_t) * (size_t)cap);
    if (id) s->id = id;
    int64_t *nx = realloc(s->next, sizeof(int64_t) * (size_t)cap);
    if (nx) s->next = nx;
    int64_t *pv = realloc(s->prev, sizeof(int64_t) * (size_t)cap);
    if (pv) s->prev = pv;
    cand *h = realloc(s->heap, sizeof(cand) * (size_t)cap * 3);
    if (h) s->heap = h;
    if (!id || !nx || !pv || !h) return 0;
    s->cap = cap;
    return 1;
}

static int32_t whole_lookup(const retnet_tokenizer *t, const unsigned char *p, int64_t n) {
    int64_t mask = t->whole_cap - 1, i = (int64_t)(hash_bytes(p, n) & (uint64_t)mask);
    for (;;) {
        int32_t id = t->whole[i];
        if (id < 0) return -1;
        if (t->off[id + 1] - t->off[id] == n && !memcmp(t->bytes + t->off[id], p, (size_t)n))
            return id;
        i = (i + 1) & mask;
    }
}

/* Merges the n symbols id[0 .. n) of one pre-token (n <= s->cap; id may be s->id or lie
 * within it): appends the resulting ids to out, returns how many. */
static int64_t bpe_merge(const retnet_tokenizer *t, int32_t *id, int64_t n, scratch *s, int32_t *out) {
    int64_t *next = s->next, *prev = s->prev, hn = 0;
    cand *heap = s->heap;
    for (int64_t k = 0; k < n; k++) {
        next[k] = k + 1;
        prev[k] = k - 1;
    }
    for (int64_t k = 0; k + 1 < n; k++) {
        int32_t r = pairmap_get(&t->pairs, pair_key(id[k], id[k + 1]));
        if (r >= 0) cand_push(heap, &hn, (cand){r, k});
    }
    while (hn > 0) {
        cand c = cand_pop(heap, &hn);
        int64_t a = c.pos, b = next[a];
        if (id[a] < 0 || b >= n || pairmap_get(&t->pairs, pair_key(id[a], id[b])) != c.rank)
            continue; /* stale: a or its neighbour has changed since */
        id[a] = t->merge_out ? t->merge_out[c.rank] : c.rank;
        id[b] = -1;
        next[a] = next[b];
        if (next[a] < n) prev[next[a]] = a;
        if (prev[a] >= 0) {
            int32_t r = pairmap_get(&t->pairs, pair_key(id[prev[a]], id[a]));
            if (r >= 0) cand_push(heap, &hn, (cand){r, prev[a]});
        }
        if (next[a] < n) {
            int32_t r = pairmap_get(&t->pairs, pair_key(id[a], id[next[a]]));
            if (r >= 0) cand_push(heap, &hn, (cand){r, a});
        }
    }
    int64_t m = 0;
    for (int64_t k = 0; k < n; k = next[k]) out[m++] = id[k];
    return m;
}

/* BPE of one pre-token p[0..n) of our BPE or GPT-2's: appends its ids to out, returns how many. */
static int64_t bpe_piece(const retnet_tokenizer *t, const unsigned char *p, int64_t n, scratch *s,
                         int32_t *out) {
    if (n == 1) {
        out[0] = t->byte_id[p[0]];
        return 1;
    }
    if (t->whole) {
        int32_t id = whole_lookup(t, p, n);
        if (id >= 0) {
            out[0] = id;
            return 1;
        }
    }
    for (int64_t k = 0; k < n; k++) s->id[k] = t->byte_id[p[k]];
    return bpe_merge(t, s->id, n, s, out);
}

static void scratch_free(scratch *s) {
    free(s->id);
    free(s->next);
    free(s->prev);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

/* A growing array of ids: the output of encode. */
typedef struct {
    int32_t *p;
    int64_t n, cap;
} idbuf;

static int idbuf_reserve(idbuf *b, int64_t more) {
    if (b->n + more <= b->cap) return 1;
    int64_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) cap *= 2;
    int32_t *p = realloc(b->p, sizeof(int32_t) * (size_t)cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* A growing byte string (tokenizer_hf.c's normalised text and decoding). */
typedef struct {
    char *p;
    int64_t n, cap;
} bbuf;

static int bbuf_reserve(bbuf *b, int64_t more) {
    if (b->n + more + 1 <= b->cap) return 1;
    int64_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) cap *= 2;
    char *p = realloc(b->p, (size_t)cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static int bbuf_put(bbuf *b, const void *s, int64_t n) {
    if (!bbuf_reserve(b, n)) return 0;
    if (n) memcpy(b->p + b->n, s, (size_t)n);
    b->n += n;
    return 1;
}

/* Scratch space of one encode call. */
typedef struct {
    scratch sc;
    bbuf a, b, c;   /* tokenizer_hf.c: the normalised text, its pre-tokenised form, a piece */
    idbuf sym;      /* tokenizer_hf.c: a word's first symbols */
} encoder;

static void encoder_free(encoder *e) {
    scratch_free(&e->sc);
    free(e->sym.p);
    free(e->a.p);
    free(e->b.p);
    free(e->c.p);
}

static retnet_status hf_encode_section(const retnet_tokenizer *t, const unsigned char *s, int64_t len,
                                       int prefix_ok, int at_start, encoder *e, idbuf *out);

/* Encodes text that holds no special to match: our BPE, GPT-2 (pre-tokens, then BPE), or a
 * tokenizer.json's pipeline. at_start: the text starts the caller's text. */
static retnet_status encode_section(const retnet_tokenizer *t, const unsigned char *s, int64_t len,
                                    int at_start, int flags, encoder *e, idbuf *out) {
    if (t->hf)
        return hf_encode_section(t, s, len, !(at_start && (flags & RETNET_ENCODE_CONTINUE)),
                                 at_start && !(flags & RETNET_ENCODE_CONTINUE), e, out);
    if (!idbuf_reserve(out, len))
        return retnet_fail(RETNET_ENOMEM, "out of memory encoding %lld bytes", (long long)len);
    if (t->kind == RETNET_TOKENIZER_BYTE) {
        for (int64_t i = 0; i < len; i++) out->p[out->n++] = s[i];
        return RETNET_OK;
    }
    for (int64_t i = 0; i < len;) {
        int64_t end = retnet_pretoken_end((const char *)s, len, i);
        if (!scratch_reserve(&e->sc, end - i))
            return retnet_fail(RETNET_ENOMEM, "out of memory encoding a pre-token of %lld bytes",
                               (long long)(end - i));
        out->n += bpe_piece(t, s + i, end - i, &e->sc, out->p + out->n);
        i = end;
    }
    return RETNET_OK;
}

/* The texts that encode matches as tokens (RETNET_ENCODE_SPECIALS; a tokenizer.json's added
 * tokens): id, bytes. */
typedef struct {
    int32_t id;
    const unsigned char *p;
    int64_t n;
} special_text;

static int hf_matchable(const retnet_tokenizer *t, int flags, special_text **list, int32_t *count);

static int matchable(const retnet_tokenizer *t, int flags, special_text **list, int32_t *count) {
    *list = NULL;
    *count = 0;
    if (t->hf) return hf_matchable(t, flags, list, count);
    if (!(flags & RETNET_ENCODE_SPECIALS)) return 1;
    int32_t k = 0;
    for (int32_t id = 0; id < t->vocab; id++) k += t->special[id] && t->off[id + 1] > t->off[id];
    if (!k) return 1;
    special_text *l = malloc(sizeof *l * (size_t)k);
    if (!l) return 0;
    k = 0;
    for (int32_t id = 0; id < t->vocab; id++)
        if (t->special[id] && t->off[id + 1] > t->off[id])
            l[k++] = (special_text){id, (const unsigned char *)t->bytes + t->off[id],
                                    t->off[id + 1] - t->off[id]};
    *list = l;
    *count = k;
    return 1;
}

retnet_status retnet_tokenizer_encode_ex(const retnet_tokenizer *t, const char *text, int64_t len,
                                         int flags, int32_t **ids, int64_t *n) {
    if (!t || !ids || !n || (len > 0 && !text) || len < 0)
        return retnet_fail(RETNET_EINVAL, "retnet_tokenizer_encode: NULL argument or negative length");
    *ids = NULL;
    *n = 0;
    const unsigned char *s = (const unsigned char *)text;
    idbuf out = {0};
    encoder e = {0};
    special_text *sp = NULL;
    int32_t nsp = 0;
    retnet_status st = RETNET_OK;
    if (!idbuf_reserve(&out, len > 0 ? len : 1) || !matchable(t, flags, &sp, &nsp)) {
        st = retnet_fail(RETNET_ENOMEM, "out of memory encoding %lld bytes", (long long)len);
        goto done;
    }
    unsigned char first[256] = {0};
    for (int32_t k = 0; k < nsp; k++) first[sp[k].p[0]] = 1;
    /* sections between matched texts: leftmost match, the longest at one position */
    int64_t from = 0;
    for (int64_t i = 0; nsp > 0 && i < len; i++) {
        if (!first[s[i]]) continue;
        int32_t best = -1;
        for (int32_t k = 0; k < nsp; k++)
            if (sp[k].n <= len - i && (best < 0 || sp[k].n > sp[best].n) &&
                !memcmp(s + i, sp[k].p, (size_t)sp[k].n))
                best = k;
        if (best < 0) continue;
        if (i > from && (st = encode_section(t, s + from, i - from, from == 0, flags, &e, &out)) != RETNET_OK)
            goto done;
        if (!idbuf_reserve(&out, 1)) {
            st = retnet_fail(RETNET_ENOMEM, "out of memory encoding %lld bytes", (long long)len);
            goto done;
        }
        out.p[out.n++] = sp[best].id;
        i += sp[best].n - 1;
        from = i + 1;
    }
    if (len > from) st = encode_section(t, s + from, len - from, from == 0, flags, &e, &out);
done:
    encoder_free(&e);
    free(sp);
    if (st != RETNET_OK) {
        free(out.p);
        return st;
    }
    *ids = out.p;
    *n = out.n;
    return RETNET_OK;
}

retnet_status retnet_tokenizer_encode(const retnet_tokenizer *t, const char *text, int64_t len,
                                      int32_t **ids, int64_t *n) {
    return retnet_tokenizer_encode_ex(t, text, len, 0, ids, n);
}

static retnet_status hf_decode(const retnet_tokenizer *t, const int32_t *ids, int64_t n, int flags,
                               char **text, int64_t *len);

retnet_status retnet_tokenizer_decode(const retnet_tokenizer *t, const int32_t *ids, int64_t n,
                                      int flags, char **text, int64_t *len) {
    if (!t || !text || !len || (n > 0 && !ids) || n < 0)
        return retnet_fail(RETNET_EINVAL, "retnet_tokenizer_decode: NULL argument or negative count");
    *text = NULL;
    *len = 0;
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab)
            return retnet_fail(RETNET_EINVAL, "token %d at position %lld is out of range for the "
                               "%s tokenizer's vocabulary of %d", id, (long long)i,
                               retnet_tokenizer_kind_name(t), t->vocab);
        if (!(t->special[id] && (flags & RETNET_DECODE_SKIP_SPECIAL)))
            total += t->off[id + 1] - t->off[id];
    }
    if (t->hf) return hf_decode(t, ids, n, flags, text, len);
    char *buf = malloc((size_t)total + 1);
    if (!buf) return retnet_fail(RETNET_ENOMEM, "out of memory decoding %lld tokens", (long long)n);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (t->special[id] && (flags & RETNET_DECODE_SKIP_SPECIAL)) continue;
        int64_t l = t->off[id + 1] - t->off[id];
        memcpy(buf + k, t->bytes + t->off[id], (size_t)l);
        k += l;
    }
    buf[k] = 0;
    *text = buf;
    *len = k;
    return RETNET_OK;
}

/* ---------------------------------------------------------------- files */

#define MAX_TOKENIZER_FILE ((int64_t)256 << 20)
/* A whole tokenizer file, NUL-terminated (util.c's reader). */
#define read_tokenizer_file(path, buf, len) \
    retnet_read_text(path, MAX_TOKENIZER_FILE, "a tokenizer file", buf, len)

/* Writes data to path through a temp file + rename (path never holds a partial file). */
static retnet_status write_atomic(const char *path, const char *data, int64_t len) {
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) return retnet_fail(RETNET_ENOMEM, "out of memory");
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        retnet_status s = retnet_fail(RETNET_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return s;
    }
    const char *p = data;
    int64_t left = len;
    while (left > 0) {
        ssize_t k = write(fd, p, (size_t)(left > (1 << 30) ? (1 << 30) : left));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        p += k;
        left -= k;
    }
    int bad = left > 0 || fsync(fd) != 0;
    if (close(fd) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        retnet_status s = retnet_fail(RETNET_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return RETNET_OK;
}

#define BPE_MAGIC "retnet-bpe 1"

retnet_status retnet_tokenizer_save(const retnet_tokenizer *t, const char *path) {
    if (!t || !path) return retnet_fail(RETNET_EINVAL, "retnet_tokenizer_save: NULL argument");
    if (t->kind == RETNET_TOKENIZER_HF)
        return retnet_fail(RETNET_EUNSUPPORTED, "only a trained BPE tokenizer can be saved (a "
                           "tokenizer.json is loaded from its own file)");
    if (t->kind != RETNET_TOKENIZER_BPE)
        return retnet_fail(RETNET_EUNSUPPORTED, "only a trained BPE tokenizer can be saved (the %s "
                           "tokenizer is loaded by its spec, \"%s\")", retnet_tokenizer_kind_name(t),
                           retnet_tokenizer_kind_name(t));
    int64_t cap = 256 + (int64_t)t->n_merges * 24, n = 0;
    char *buf = malloc((size_t)cap);
    if (!buf) return retnet_fail(RETNET_ENOMEM, "out of memory saving a tokenizer");
    n += snprintf(buf + n, (size_t)(cap - n), "%s\npretokenizer gpt2\nvocab %d\n", BPE_MAGIC, t->vocab);
    for (int k = 0; k < 4; k++)
        n += snprintf(buf + n, (size_t)(cap - n), "special %d %s\n", 256 + k, SPECIAL_NAMES[k]);
    n += snprintf(buf + n, (size_t)(cap - n), "merges %d\n", t->n_merges);
    for (int32_t i = 0; i < t->n_merges; i++)
        n += snprintf(buf + n, (size_t)(cap - n), "%d %d\n", t->mleft[i], t->mright[i]);
    retnet_status s = write_atomic(path, buf, n);
    free(buf);
    return s;
}

/* Line reader over a NUL-terminated buffer: returns the next line (without '\n', NUL-terminated
 * in place) or NULL at the end; counts lines. */
typedef struct { char *p, *end; int64_t line; } lines;
static char *next_line(lines *L) {
    if (L->p >= L->end) return NULL;
    char *s = L->p, *nl = memchr(s, '\n', (size_t)(L->end - s));
    if (nl) { *nl = 0; L->p = nl + 1; }
    else L->p = L->end;
    L->line++;
    return s;
}

/* Parses a decimal int in [lo, hi] filling the whole of s up to the terminator `stop`. */
static int parse_i32(const char **s, int64_t lo, int64_t hi, int32_t *v) {
    const char *p = *s;
    if (*p < '0' || *p > '9') return 0;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9') return 0;
    int64_t x = 0;
    while (*p >= '0' && *p <= '9') {
        x = 10 * x + (*p++ - '0');
        if (x > hi) return 0;
    }
    if (x < lo) return 0;
    *v = (int32_t)x;
    *s = p;
    return 1;
}

static retnet_status load_bpe(const char *path, char *text, int64_t len, retnet_tokenizer **out) {
    lines L = {text, text + len, 0};
    char *s;
#define BAD(...) return retnet_fail(RETNET_EFORMAT, __VA_ARGS__)
    if (memchr(text, 0, (size_t)len))
        BAD("%s: holds a NUL byte; not a retnet BPE file", path);
    s = next_line(&L);
    if (!s || strcmp(s, BPE_MAGIC))
        BAD("%s: line 1 is not \"%s\"; not a retnet BPE tokenizer file (give 'byte', 'gpt2', a "
            "directory with encoder.json and vocab.bpe, a Hugging Face tokenizer.json, or a file from "
            "'retnet tokenizer train')", path, BPE_MAGIC);
    s = next_line(&L);
    if (!s || strcmp(s, "pretokenizer gpt2"))
        BAD("%s: line 2: want \"pretokenizer gpt2\"", path);
    s = next_line(&L);
    int32_t vocab;
    const char *p = s ? s + 6 : NULL;
    if (!s || strncmp(s, "vocab ", 6) || !parse_i32(&p, RETNET_BYTE_VOCAB, INT32_MAX - 1, &vocab) || *p)
        BAD("%s: line 3: want \"vocab N\" with N >= %d", path, RETNET_BYTE_VOCAB);
    for (int k = 0; k < 4; k++) {
        char want[64];
        snprintf(want, sizeof want, "special %d %s", 256 + k, SPECIAL_NAMES[k]);
        s = next_line(&L);
        if (!s || strcmp(s, want)) BAD("%s: line %lld: want \"%s\"", path, (long long)L.line, want);
    }
    s = next_line(&L);
    int32_t nm;
    p = s ? s + 7 : NULL;
    if (!s || strncmp(s, "merges ", 7) || !parse_i32(&p, 0, INT32_MAX, &nm) || *p)
        BAD("%s: line %lld: want \"merges N\"", path, (long long)L.line);
    if ((int64_t)nm + RETNET_BYTE_VOCAB != vocab)
        BAD("%s: line %lld: %d merges do not make a vocabulary of %d (want %d merges)", path,
            (long long)L.line, nm, vocab, vocab - RETNET_BYTE_VOCAB);
    if ((int64_t)nm > len / 4)
        BAD("%s: says %d merges but is only %lld bytes long; the file is truncated", path, nm,
            (long long)len);
    int32_t *left = malloc(sizeof(int32_t) * (size_t)(nm ? nm : 1));
    int32_t *right = malloc(sizeof(int32_t) * (size_t)(nm ? nm : 1));
    if (!left || !right) {
        free(left);
        free(right);
        return retnet_fail(RETNET_ENOMEM, "out of memory loading %s", path);
    }
    for (int32_t i = 0; i < nm; i++) {
        s = next_line(&L);
        p = s;
        int ok = s && parse_i32(&p, 0, INT32_MAX, &left[i]) && *p == ' ' && (p++, 1) &&
                 parse_i32(&p, 0, INT32_MAX, &right[i]) && !*p;
        if (!ok) {
            free(left);
            free(right);
            if (!s) BAD("%s: ends after %d of %d merges; the file is truncated", path, i, nm);
            BAD("%s: line %lld: want a merge \"LEFT RIGHT\" (two ids separated by one space)",
                path, (long long)L.line);
        }
    }
    while ((s = next_line(&L)))
        if (*s) {
            free(left);
            free(right);
            BAD("%s: line %lld: unexpected text after the %d merges", path, (long long)L.line, nm);
        }
#undef BAD
    return build_bpe(left, right, nm, path, out);
}

/* ---------------------------------------------------------------- GPT-2 */

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes (0..32,
 * 127..160, 173) map to U+0100.. in byte order. Fills cp -> byte for cp < 512 (else -1). */
static void gpt2_byte_decoder(int16_t dec[512]) {
    for (int i = 0; i < 512; i++) dec[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (printable) dec[b] = (int16_t)b;
        else dec[256 + n++] = (int16_t)b;
    }
}

/* Decodes a token string of encoder.json / vocab.bpe (UTF-8 of mapped characters) into bytes
 * at out (room for strlen(s) bytes); returns the byte count or -1. */
static int64_t gpt2_unmap(const int16_t dec[512], const char *s, int64_t slen, unsigned char *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < slen;) {
        uint32_t cp;
        int k = utf8_next((const unsigned char *)s, slen, i, &cp);
        if (cp >= 512 || dec[cp] < 0) return -1;
        out[n++] = (unsigned char)dec[cp];
        i += k;
    }
    return n;
}

static int whole_insert(retnet_tokenizer *t, int32_t id) {
    const unsigned char *p = (const unsigned char *)t->bytes + t->off[id];
    int64_t n = t->off[id + 1] - t->off[id];
    int64_t mask = t->whole_cap - 1, i = (int64_t)(hash_bytes(p, n) & (uint64_t)mask);
    for (;;) {
        int32_t o = t->whole[i];
        if (o < 0) { t->whole[i] = id; return 1; }
        if (t->off[o + 1] - t->off[o] == n && !memcmp(t->bytes + t->off[o], p, (size_t)n)) return 0;
        i = (i + 1) & mask;
    }
}

static retnet_status load_gpt2(const char *dir, retnet_tokenizer **out) {
    char enc_path[4096], bpe_path[4096];
    snprintf(enc_path, sizeof enc_path, "%s/encoder.json", dir);
    snprintf(bpe_path, sizeof bpe_path, "%s/vocab.bpe", dir);
    char *enc = NULL, *bpe = NULL;
    int64_t enc_len, bpe_len;
    retnet_status s = read_tokenizer_file(enc_path, &enc, &enc_len);
    if (s != RETNET_OK) return s;
    s = read_tokenizer_file(bpe_path, &bpe, &bpe_len);
    if (s != RETNET_OK) {
        free(enc);
        return s;
    }
    json_doc *doc = NULL;
    retnet_tokenizer *t = NULL;
    char err[256];
    unsigned char *tmp = NULL;
    if (json_parse(enc, enc_len, &doc, err, sizeof err) != RETNET_OK) {
        s = retnet_fail(RETNET_EFORMAT, "%s: not valid JSON: %s", enc_path, err);
        goto done;
    }
    const json_value *root = json_root(doc);
    if (root->type != JSON_OBJECT || root->count < 256) {
        s = retnet_fail(RETNET_EFORMAT, "%s: want an object mapping at least 256 tokens to ids",
                        enc_path);
        goto done;
    }
    int16_t dec[512];
    gpt2_byte_decoder(dec);
    t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->kind = RETNET_TOKENIZER_GPT2;
    t->vocab = root->count;
    t->bos = t->eos = t->pad = -1;
    t->off = malloc(sizeof(int64_t) * ((size_t)t->vocab + 1));
    int64_t *len_of = calloc((size_t)t->vocab, sizeof(int64_t));
    const json_value **by_id = calloc((size_t)t->vocab, sizeof *by_id);
    t->special = calloc((size_t)t->vocab, 1);
    if (!t->off || !len_of || !by_id || !t->special) {
        free(len_of);
        free(by_id);
        goto oom;
    }
    int64_t total = 0;
    for (const json_value *m = root->child; m; m = m->next) {
        if (m->type != JSON_NUMBER || !m->is_int || m->inum < 0 || m->inum >= t->vocab) {
            s = retnet_fail(RETNET_EFORMAT, "%s: the id of token \"%.60s\" is not an integer in "
                            "[0, %d)", enc_path, m->key, t->vocab);
            break;
        }
        if (by_id[m->inum]) {
            s = retnet_fail(RETNET_EFORMAT, "%s: id %lld is given to both \"%.60s\" and \"%.60s\"",
                            enc_path, (long long)m->inum, by_id[m->inum]->key, m->key);
            break;
        }
        by_id[m->inum] = m;
        total += m->key_len;
    }
    if (s == RETNET_OK) {
        t->bytes = malloc((size_t)total + 1);
        if (!t->bytes) s = retnet_fail(RETNET_ENOMEM, "out of memory loading %s", enc_path);
    }
    for (int32_t id = 0; s == RETNET_OK && id < t->vocab; id++) {
        const json_value *m = by_id[id];
        t->off[id] = id ? t->off[id - 1] + len_of[id - 1] : 0;
        if (!strcmp(m->key, "<|endoftext|>")) {
            t->special[id] = 1;
            t->bos = t->eos = id;
            memcpy(t->bytes + t->off[id], m->key, (size_t)m->key_len);
            len_of[id] = m->key_len;
            continue;
        }
        int64_t n = gpt2_unmap(dec, m->key, m->key_len, (unsigned char *)t->bytes + t->off[id]);
        if (n <= 0)
            s = retnet_fail(RETNET_EFORMAT, "%s: token \"%.60s\" (id %d) is not in GPT-2's "
                            "byte-to-unicode alphabet", enc_path, m->key, id);
        /* the pair map below tries every split of every token, hashing both parts: quadratic
         * in a token's length (a 64 KB token in a 270 KB pair of files took 2 s). Real
         * vocabularies' tokens are far shorter, as for load_bpe's limit */
        else if (n > TOKEN_MAX_BYTES)
            s = retnet_fail(RETNET_EFORMAT, "%s: token \"%.60s...\" (id %d) is %lld bytes long, "
                            "more than %d", enc_path, m->key, id, (long long)n, TOKEN_MAX_BYTES);
        len_of[id] = n;
    }
    if (s == RETNET_OK) t->off[t->vocab] = t->off[t->vocab - 1] + len_of[t->vocab - 1];
    free(len_of);
    free(by_id);
    json_free(doc);
    doc = NULL;
    if (s != RETNET_OK) goto done;
    if (t->bos < 0) {
        s = retnet_fail(RETNET_EFORMAT, "%s: has no <|endoftext|> token; not GPT-2's encoder.json",
                        enc_path);
        goto done;
    }
    /* byte ids, and the whole-token table (which also proves the byte strings unique) */
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->whole_cap = 64;
    while (t->whole_cap < 2 * (int64_t)t->vocab) t->whole_cap *= 2;
    t->whole = malloc(sizeof(int32_t) * (size_t)t->whole_cap);
    if (!t->whole) goto oom;
    memset(t->whole, 0xFF, sizeof(int32_t) * (size_t)t->whole_cap);
    for (int32_t id = 0; id < t->vocab; id++) {
        if (t->special[id]) continue;
        int64_t n = t->off[id + 1] - t->off[id];
        if (n == 1) t->byte_id[(unsigned char)t->bytes[t->off[id]]] = id;
        if (!whole_insert(t, id)) {
            s = retnet_fail(RETNET_EFORMAT, "%s: two tokens (one is id %d) have the same bytes",
                            enc_path, id);
            goto done;
        }
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            s = retnet_fail(RETNET_EFORMAT, "%s: no token for the byte 0x%02x; a byte-level BPE "
                            "needs all 256", enc_path, b);
            goto done;
        }
    /* vocab.bpe: merge i must make the token of id 256 + i (tiktoken's rank) */
    lines L = {bpe, bpe + bpe_len, 0};
    char *line = next_line(&L);
    if (!line || strncmp(line, "#version", 8)) {
        s = retnet_fail(RETNET_EFORMAT, "%s: line 1 is not \"#version: ...\"; not a GPT-2 vocab.bpe",
                        bpe_path);
        goto done;
    }
    tmp = malloc((size_t)bpe_len + 1);
    if (!tmp) goto oom;
    int32_t merges = 0;
    while ((line = next_line(&L))) {
        if (!*line && L.p >= L.end) break; /* the final newline */
        char *sp = strchr(line, ' ');
        int64_t n1 = sp ? gpt2_unmap(dec, line, sp - line, tmp) : -1;
        int64_t n2 = n1 > 0 ? gpt2_unmap(dec, sp + 1, (int64_t)strlen(sp + 1), tmp + n1) : -1;
        int32_t want = 256 + merges;
        if (n1 <= 0 || n2 <= 0) {
            s = retnet_fail(RETNET_EFORMAT, "%s: line %lld: want two tokens of GPT-2's alphabet "
                            "separated by one space", bpe_path, (long long)L.line);
            goto done;
        }
        int32_t got = whole_lookup(t, tmp, n1 + n2);
        if (got != want) {
            s = retnet_fail(RETNET_EFORMAT, "%s: line %lld: the merge \"%.60s\" makes id %d in "
                            "encoder.json, want %d (the two files do not belong together)",
                            bpe_path, (long long)L.line, line, got, want);
            goto done;
        }
        merges++;
    }
    if (merges != t->vocab - 257) {
        s = retnet_fail(RETNET_EFORMAT, "%s: %d merges for a vocabulary of %d (want %d); the file "
                        "is truncated or does not belong with %s", bpe_path, merges, t->vocab,
                        t->vocab - 257, enc_path);
        goto done;
    }
    /* The pair map: every split of every token into two tokens (tiktoken's rule). */
    if (!pairmap_init(&t->pairs, (int64_t)t->vocab * 4)) goto oom;
    for (int32_t id = 0; id < t->vocab; id++) {
        if (t->special[id]) continue;
        const unsigned char *p = (const unsigned char *)t->bytes + t->off[id];
        int64_t n = t->off[id + 1] - t->off[id];
        for (int64_t k = 1; k < n; k++) {
            int32_t a = whole_lookup(t, p, k), b = a >= 0 ? whole_lookup(t, p + k, n - k) : -1;
            if (b < 0) continue;
            int ins;
            if (pairmap_slot(&t->pairs, pair_key(a, b), id, &ins) < 0) goto oom;
        }
    }
    goto done;
oom:
    s = retnet_fail(RETNET_ENOMEM, "out of memory loading the GPT-2 tokenizer from %s", dir);
done:
    json_free(doc);
    free(enc);
    free(bpe);
    free(tmp);
    if (s != RETNET_OK) {
        retnet_tokenizer_free(t);
        t = NULL;
    }
    *out = t;
    return s;
}

static retnet_status load_hf_file(const char *path, retnet_tokenizer **out) {
    char *text;
    int64_t len;
    retnet_status s = read_tokenizer_file(path, &text, &len);
    if (s != RETNET_OK) return s;
    s = hf_load(path, text, len, out);
    free(text);
    return s;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

retnet_status retnet_tokenizer_load(const char *spec, retnet_tokenizer **out) {
    if (!spec || !out) return retnet_fail(RETNET_EINVAL, "retnet_tokenizer_load: NULL argument");
    *out = NULL;
    if (!strcmp(spec, "byte")) return build_bpe(NULL, NULL, 0, "byte", out);
    if (!strcmp(spec, "gpt2")) {
        const char *env = getenv("RETNET_GPT2_DIR");
        const char *dir = env && *env ? env : "data/gpt2";
        char enc[4096];
        snprintf(enc, sizeof enc, "%s/encoder.json", dir);
        if (access(enc, R_OK) != 0)
            return retnet_fail(RETNET_EIO, "GPT-2 tokenizer files not found in %s%s; run "
                               "scripts/get-gpt2-tokenizer.sh%s", dir,
                               env && *env ? " ($RETNET_GPT2_DIR)" : "",
                               env && *env ? "" : " or set RETNET_GPT2_DIR");
        return load_gpt2(dir, out);
    }
    if (is_dir(spec)) {
        /* GPT-2's files first (as before tokenizer.json was read), then tokenizer.json */
        char p[4096];
        snprintf(p, sizeof p, "%s/encoder.json", spec);
        if (access(p, F_OK) != 0) {
            snprintf(p, sizeof p, "%s/tokenizer.json", spec);
            if (access(p, F_OK) == 0) return load_hf_file(p, out);
            return retnet_fail(RETNET_EIO, "%s holds neither encoder.json (GPT-2's format, with "
                               "vocab.bpe) nor tokenizer.json (Hugging Face's)", spec);
        }
        return load_gpt2(spec, out);
    }
    size_t sl = strlen(spec);
    if (sl >= 5 && !strcmp(spec + sl - 5, ".json") &&
        !(sl >= 12 && !strcmp(spec + sl - 12, "encoder.json")))
        return load_hf_file(spec, out);
    if (sl >= 12 && !strcmp(spec + sl - 12, "encoder.json")) {
        char *copy = strdup(spec);
        if (!copy) return retnet_fail(RETNET_ENOMEM, "out of memory");
        retnet_status s = load_gpt2(dirname(copy), out);
        free(copy);
        return s;
    }
    char *text;
    int64_t len;
    retnet_status s = read_tokenizer_file(spec, &text, &len);
    if (s != RETNET_OK) {
        if (s == RETNET_EIO && access(spec, F_OK) != 0)
            return retnet_fail(RETNET_EIO, "tokenizer '%s' is not 'byte', 'gpt2', a directory or "
                               "an existing file", spec);
        return s;
    }
    int64_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r')) k++;
    /* a tokenizer.json by another name: a JSON object with a "model" */
    if (k < len && text[k] == '{' && strstr(text + k, "\"model\"")) s = hf_load(spec, text, len, out);
    else s = load_bpe(spec, text, len, out);
    free(text);
    return s;
}

/* ---------------------------------------------------------------- BPE training */

/* Max-heap entry of training: the pair's count when pushed. */
typedef struct { int64_t count; int32_t a, b, pair; } tcand;

static inline int tcand_above(const tcand *x, const tcand *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

typedef struct {
    tcand *h;
    int64_t n, cap;
} theap;

static int theap_push(theap *q, tcand c) {
    if (q->n == q->cap) {
        int64_t cap = q->cap ? 2 * q->cap : 1024;
        tcand *h = realloc(q->h, sizeof(tcand) * (size_t)cap);
        if (!h) return 0;
        q->h = h;
        q->cap = cap;
    }
    int64_t i = q->n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!tcand_above(&c, &q->h[p])) break;
        q->h[i] = q->h[p];
        i = p;
    }
    q->h[i] = c;
    return 1;
}

static tcand theap_pop(theap *q) {
    tcand top = q->h[0], last = q->h[--q->n];
    int64_t i = 0, n = q->n;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        const tcand *best = &last;
        if (l < n && tcand_above(&q->h[l], best)) { m = l; best = &q->h[l]; }
        if (r < n && tcand_above(&q->h[r], best)) m = r;
        if (m == i) break;
        q->h[i] = q->h[m];
        i = m;
    }
    if (n > 0) q->h[i] = last;
    return top;
}

/* A pair's state during training. */
typedef struct {
    int64_t count;
    int32_t a, b;
    int32_t *words;     /* words it occurs (or occurred) in, ascending appends, may be stale */
    int32_t nw, cw;
    int32_t stamp;      /* the last merge that gave it a new occurrence (1-based) */
} tpair;

typedef struct {
    pairmap map;        /* (a, b) -> index into pairs */
    tpair *pairs;
    int32_t n, cap;
} tpairs;

/* The index of pair (a, b), creating it with count 0; -1 on ENOMEM. */
static int32_t tpair_get(tpairs *P, int32_t a, int32_t b) {
    int ins;
    int64_t slot = pairmap_slot(&P->map, pair_key(a, b), P->n, &ins);
    if (slot < 0) return -1;
    if (!ins) return P->map.vals[slot];
    if (P->n == P->cap) {
        int32_t cap = P->cap ? 2 * P->cap : 4096;
        tpair *np = realloc(P->pairs, sizeof(tpair) * (size_t)cap);
        if (!np) return -1;
        P->pairs = np;
        P->cap = cap;
    }
    tpair *p = &P->pairs[P->n];
    memset(p, 0, sizeof *p);
    p->a = a;
    p->b = b;
    return P->n++;
}

static int tpair_add_word(tpair *p, int32_t w) {
    if (p->nw > 0 && p->words[p->nw - 1] == w) return 1;
    if (p->nw == p->cw) {
        int32_t cw = p->cw ? 2 * p->cw : 4;
        int32_t *nw = realloc(p->words, sizeof(int32_t) * (size_t)cw);
        if (!nw) return 0;
        p->words = nw;
        p->cw = cw;
    }
    p->words[p->nw++] = w;
    return 1;
}

typedef struct {
    /* unique words: bytes in the text, frequency; symbols in sym[start .. start + len) */
    int64_t *wstart, *wlen, *freq;
    int64_t *sstart;
    const char *text;
    int32_t n, cap;
    int32_t *table;     /* hash of words: word index or -1 */
    int64_t tcap;
} twords;

static int twords_grow_table(twords *W) {
    int64_t cap = W->tcap ? 2 * W->tcap : 1 << 16;
    int32_t *t = malloc(sizeof(int32_t) * (size_t)cap);
    if (!t) return 0;
    memset(t, 0xFF, sizeof(int32_t) * (size_t)cap);
    for (int32_t w = 0; w < W->n; w++) {
        int64_t i = (int64_t)(hash_bytes((const unsigned char *)W->text + W->wstart[w], W->wlen[w]) &
                              (uint64_t)(cap - 1));
        while (t[i] >= 0) i = (i + 1) & (cap - 1);
        t[i] = w;
    }
    free(W->table);
    W->table = t;
    W->tcap = cap;
    return 1;
}

/* Counts one occurrence of the word text[s .. s + n). */
static int twords_add(twords *W, int64_t s, int64_t n) {
    if (2 * ((int64_t)W->n + 1) > W->tcap && !twords_grow_table(W)) return 0;
    const unsigned char *p = (const unsigned char *)W->text + s;
    int64_t mask = W->tcap - 1, i = (int64_t)(hash_bytes(p, n) & (uint64_t)mask);
    for (;;) {
        int32_t w = W->table[i];
        if (w < 0) break;
        if (W->wlen[w] == n && !memcmp(W->text + W->wstart[w], p, (size_t)n)) {
            W->freq[w]++;
            return 1;
        }
        i = (i + 1) & mask;
    }
    if (W->n == INT32_MAX) return 0;
    if (W->n == W->cap) {
        int32_t cap = W->cap ? 2 * W->cap : 1 << 14;
        int64_t *a = realloc(W->wstart, sizeof(int64_t) * (size_t)cap);
        if (a) W->wstart = a;
        int64_t *b = realloc(W->wlen, sizeof(int64_t) * (size_t)cap);
        if (b) W->wlen = b;
        int64_t *c = realloc(W->freq, sizeof(int64_t) * (size_t)cap);
        if (c) W->freq = c;
        if (!a || !b || !c) return 0;
        W->cap = cap;
    }
    W->wstart[W->n] = s;
    W->wlen[W->n] = n;
    W->freq[W->n] = 1;
    W->table[i] = W->n++;
    return 1;
}

retnet_status retnet_bpe_train(const char *text, int64_t len, int32_t vocab_size,
                               const retnet_bpe_opts *opts, retnet_tokenizer **out) {
    if (!out || (len > 0 && !text) || len < 0)
        return retnet_fail(RETNET_EINVAL, "retnet_bpe_train: NULL argument or negative length");
    *out = NULL;
    if (vocab_size < RETNET_BYTE_VOCAB || vocab_size > (1 << 24))
        return retnet_fail(RETNET_EINVAL, "BPE vocabulary %d is out of range; give %d (bytes and "
                           "specials only) to %d", vocab_size, RETNET_BYTE_VOCAB, 1 << 24);
    int64_t min_freq = opts && opts->min_frequency > 0 ? opts->min_frequency : 2;
    int32_t want = vocab_size - RETNET_BYTE_VOCAB, done = 0;
    twords W = {0};
    W.text = text;
    tpairs P = {0};
    theap Q = {0};
    int32_t *sym = NULL, *left = NULL, *right = NULL, *touched = NULL;
    int32_t ntouched = 0, ctouched = 0;
    retnet_status s = RETNET_OK;
    if (!pairmap_init(&P.map, 1 << 16)) goto oom;
    left = malloc(sizeof(int32_t) * (size_t)(want ? want : 1));
    right = malloc(sizeof(int32_t) * (size_t)(want ? want : 1));
    if (!left || !right) goto oom;

    /* 1. unique pre-tokens and their frequencies */
    for (int64_t i = 0; i < len;) {
        int64_t e = retnet_pretoken_end(text, len, i);
        if (!twords_add(&W, i, e - i)) goto oom;
        i = e;
    }
    /* 2. their symbols, and the pairs with their counts and words */
    W.sstart = malloc(sizeof(int64_t) * (size_t)(W.n ? W.n : 1));
    int64_t nsym = 0;
    for (int32_t w = 0; w < W.n; w++) nsym += W.wlen[w];
    sym = malloc(sizeof(int32_t) * (size_t)(nsym ? nsym : 1));
    if (!W.sstart || !sym) goto oom;
    nsym = 0;
    for (int32_t w = 0; w < W.n; w++) {
        W.sstart[w] = nsym;
        const unsigned char *p = (const unsigned char *)text + W.wstart[w];
        for (int64_t k = 0; k < W.wlen[w]; k++) sym[nsym++] = p[k];
        for (int64_t k = 0; k + 1 < W.wlen[w]; k++) {
            int32_t pi = tpair_get(&P, p[k], p[k + 1]);
            if (pi < 0 || !tpair_add_word(&P.pairs[pi], w)) goto oom;
            P.pairs[pi].count += W.freq[w];
        }
    }
    for (int32_t pi = 0; pi < P.n; pi++)
        if (!theap_push(&Q, (tcand){P.pairs[pi].count, P.pairs[pi].a, P.pairs[pi].b, pi})) goto oom;

    /* 3. merges */
    while (done < want && Q.n > 0) {
        tcand c = theap_pop(&Q);
        tpair *best = &P.pairs[c.pair];
        if (c.count != best->count) { /* stale: re-queue with the current count */
            if (best->count > 0 && !theap_push(&Q, (tcand){best->count, c.a, c.b, c.pair})) goto oom;
            continue;
        }
        if (c.count < min_freq) break;
        int32_t a = c.a, b = c.b, id = RETNET_BYTE_VOCAB + done, merge_no = done + 1;
        left[done] = a;
        right[done] = b;
        done++;
        int32_t *ws = best->words, nws = best->nw;
        best->words = NULL;
        best->nw = best->cw = 0;
        ntouched = 0;
        for (int32_t k = 0; k < nws; k++) {
            int32_t w = ws[k];
            int32_t *y = sym + W.sstart[w];
            int64_t n = W.wlen[w], f = W.freq[w], j;
            for (j = 0; j + 1 < n && !(y[j] == a && y[j + 1] == b); j++) {}
            if (j + 1 >= n) continue; /* no longer holds the pair */
            for (j = 0; j + 1 < n; j++) P.pairs[pairmap_get(&P.map, pair_key(y[j], y[j + 1]))].count -= f;
            int64_t m = 0;
            for (j = 0; j < n; j++) {
                if (j + 1 < n && y[j] == a && y[j + 1] == b) { y[m++] = id; j++; }
                else y[m++] = y[j];
            }
            W.wlen[w] = n = m;
            for (j = 0; j + 1 < n; j++) {
                int32_t pi = tpair_get(&P, y[j], y[j + 1]);
                if (pi < 0) goto oom_ws;
                tpair *p = &P.pairs[pi];
                p->count += f;
                if (y[j] == id || y[j + 1] == id) {
                    if (!tpair_add_word(p, w)) goto oom_ws;
                    if (p->stamp != merge_no) {
                        p->stamp = merge_no;
                        if (ntouched == ctouched) {
                            int32_t cap = ctouched ? 2 * ctouched : 256;
                            int32_t *nt = realloc(touched, sizeof(int32_t) * (size_t)cap);
                            if (!nt) goto oom_ws;
                            touched = nt;
                            ctouched = cap;
                        }
                        touched[ntouched++] = pi;
                    }
                }
            }
        }
        free(ws);
        for (int32_t k = 0; k < ntouched; k++) {
            tpair *p = &P.pairs[touched[k]];
            if (p->count > 0 && !theap_push(&Q, (tcand){p->count, p->a, p->b, touched[k]})) goto oom;
        }
        if (opts && opts->progress && (done % 64 == 0)) opts->progress(opts->ctx, done, want);
        continue;
    oom_ws:
        free(ws);
        goto oom;
    }
    if (opts && opts->progress) opts->progress(opts->ctx, done, want);
    goto finish;
oom:
    s = retnet_fail(RETNET_ENOMEM, "out of memory training a BPE on %lld bytes", (long long)len);
finish:
    for (int32_t i = 0; i < P.n; i++) free(P.pairs[i].words);
    free(P.pairs);
    pairmap_free(&P.map);
    free(Q.h);
    free(sym);
    free(touched);
    free(W.wstart); free(W.wlen); free(W.freq); free(W.sstart); free(W.table);
    if (s != RETNET_OK) {
        free(left);
        free(right);
        return s;
    }
    /* build_bpe takes left/right; a zero-merge BPE is still a BPE (kind from `left` != NULL) */
    return build_bpe(left, right, done, "trained BPE", out);
}

/* ---------------------------------------------------------------- tokenizer.json */

#define RETNET_TOKENIZER_C
#include "tokenizer_hf.c"
