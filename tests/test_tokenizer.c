/*
 * test_tokenizer: the byte tokenizer, the GPT-2 pre-tokenizer, our BPE (training, encoding,
 * files) and GPT-2's BPE (golden ids from OpenAI's tokenizer, tests/fixtures/gpt2_golden.txt,
 * made by tests/tokenizer/make_golden.js).
 *
 * Our BPE's encoder (heap of candidate pairs over a linked list) is checked against a naive
 * one written here from the definition: repeatedly merge every occurrence, left to right, of
 * the adjacent pair with the lowest merge rank. GPT-2's needs encoder.json and vocab.bpe
 * (scripts/get-gpt2-tokenizer.sh puts them in data/gpt2/); without them those tests print
 * "skip" and are not counted.
 */
#include "test.h"
#include "tokenizer.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static char *read_whole(const char *path, int64_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) b[n] = 0;
    *len = n;
    return b;
}

static void write_whole(const char *path, const char *s, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(s, 1, (size_t)n, f); fclose(f); }
}

/* decode(encode(s)) == s; returns the token count (-1 on failure). */
static int64_t roundtrip(const retnet_tokenizer *t, const char *s, int64_t n, const char *what) {
    int32_t *ids = NULL;
    int64_t m = -1, len = -1;
    char *back = NULL;
    retnet_status st = retnet_tokenizer_encode(t, s, n, &ids, &m);
    CHECK(st == RETNET_OK, "%s: encode: %s", what, retnet_errmsg());
    if (st != RETNET_OK) return -1;
    CHECK(m <= n, "%s: %lld tokens for %lld bytes", what, (long long)m, (long long)n);
    for (int64_t i = 0; i < m; i++)
        if (ids[i] < 0 || ids[i] >= retnet_tokenizer_vocab(t) || retnet_tokenizer_is_special(t, ids[i])) {
            CHECK(0, "%s: token %lld is %d", what, (long long)i, ids[i]);
            break;
        }
    st = retnet_tokenizer_decode(t, ids, m, 0, &back, &len);
    CHECK(st == RETNET_OK, "%s: decode: %s", what, retnet_errmsg());
    CHECK(len == n && (n == 0 || !memcmp(back, s, (size_t)n)), "%s: round trip gave %lld bytes "
          "for %lld", what, (long long)len, (long long)n);
    free(ids);
    free(back);
    return m;
}

/* Random bytes biased towards what breaks things: NUL, invalid UTF-8, spaces, letters. */
static void random_bytes(char *s, int64_t n, uint64_t *rng) {
    static const char *pieces[] = {"\0", "\xff", "\xc3", "\xc3\xa9", "\xe2\x82", "\xf0\x9f\x98\x80",
                                   "\xed\xa0\x80", " ", "  ", "\n", "\t", "'s", "'", "the", " the",
                                   "e", "a", "1", "23", "\xe4\xb8\x80", "\xcc\x81", "!", "\xc2\xa0"};
    static const int lens[] = {1, 1, 1, 2, 2, 4, 3, 1, 2, 1, 1, 2, 1, 3, 4, 1, 1, 1, 2, 3, 2, 1, 2};
    int64_t i = 0;
    while (i < n) {
        double u = (test_rand(rng) + 1) / 2;
        if (u < 0.3) {
            s[i++] = (char)(int)((test_rand(rng) + 1) * 128);
        } else {
            int k = (int)((test_rand(rng) + 1) / 2 * (sizeof lens / sizeof lens[0]));
            for (int j = 0; j < lens[k] && i < n; j++) s[i++] = pieces[k][j];
        }
    }
}

/* ---------------------------------------------------------------- byte */

static void test_byte(void) {
    retnet_tokenizer *t;
    CHECK(retnet_tokenizer_load("byte", &t) == RETNET_OK, "%s", retnet_errmsg());
    if (!t) return;
    CHECK(retnet_tokenizer_vocab(t) == 260, "vocab %d", retnet_tokenizer_vocab(t));
    CHECK(retnet_tokenizer_bos(t) == 256 && retnet_tokenizer_eos(t) == 257 &&
          retnet_tokenizer_pad(t) == 258, "specials");
    CHECK(!strcmp(retnet_tokenizer_kind_name(t), "byte"), "kind");
    char s[1000];
    uint64_t rng = 7;
    random_bytes(s, sizeof s, &rng);
    int32_t *ids;
    int64_t n;
    CHECK(retnet_tokenizer_encode(t, s, sizeof s, &ids, &n) == RETNET_OK && n == (int64_t)sizeof s,
          "encode");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] != (unsigned char)s[i]) { CHECK(0, "id %lld is %d", (long long)i, ids[i]); break; }
    free(ids);
    roundtrip(t, s, sizeof s, "byte random");
    roundtrip(t, "", 0, "byte empty");
    /* specials decode to their names, or to nothing */
    int32_t sp[] = {256, 'h', 'i', 257, 258, 259};
    char *txt;
    int64_t len;
    CHECK(retnet_tokenizer_decode(t, sp, 6, 0, &txt, &len) == RETNET_OK &&
          len == 22 && !memcmp(txt, "<bos>hi<eos><pad><unk>", 22), "specials by name: %s", txt);
    free(txt);
    CHECK(retnet_tokenizer_decode(t, sp, 6, RETNET_DECODE_SKIP_SPECIAL, &txt, &len) == RETNET_OK &&
          len == 2 && !strcmp(txt, "hi"), "specials skipped");
    free(txt);
    int32_t bad[] = {'a', 260};
    txt = (char *)1;
    CHECK(retnet_tokenizer_decode(t, bad, 2, 0, &txt, &len) == RETNET_EINVAL && txt == NULL,
          "id 260 must be out of range");
    CHECK(strstr(retnet_errmsg(), "260") && strstr(retnet_errmsg(), "position 1"), "message: %s",
          retnet_errmsg());
    bad[1] = -1;
    CHECK(retnet_tokenizer_decode(t, bad, 2, 0, &txt, &len) == RETNET_EINVAL, "id -1");
    CHECK(retnet_tokenizer_save(t, "/tmp/never") == RETNET_EUNSUPPORTED, "byte cannot be saved");
    int64_t tl;
    const char *tb = retnet_tokenizer_token(t, 'x', &tl);
    CHECK(tb && tl == 1 && *tb == 'x', "token bytes");
    CHECK(retnet_tokenizer_token(t, 260, &tl) == NULL, "token out of range");
    retnet_tokenizer_free(t);
}

/* ---------------------------------------------------------------- pre-tokenizer */

/* Splits s and compares with the pieces separated by '|' in want (wn bytes). */
static void expect_split(const char *s, int64_t n, const char *want, int64_t wn) {
    char got[1024] = "";
    int64_t k = 0;
    for (int64_t i = 0; i < n;) {
        int64_t e = retnet_pretoken_end(s, n, i);
        if (e <= i || e > n) { CHECK(0, "bad end %lld at %lld", (long long)e, (long long)i); return; }
        if (i) got[k++] = '|';
        memcpy(got + k, s + i, (size_t)(e - i));
        k += e - i;
        i = e;
    }
    got[k] = 0;
    CHECK(wn == k && !memcmp(got, want, (size_t)k), "split of \"%s\": got \"%s\" "
          "want \"%s\"", s, got, want);
}

static void test_pretokenizer(void) {
#define SPLIT(s, want) expect_split(s, (int64_t)sizeof(s) - 1, want, (int64_t)sizeof(want) - 1)
    SPLIT("Hello world", "Hello| world");
    SPLIT("I'm you're we've they'll he'd it's don't", "I|'m| you|'re| we|'ve| they|'ll| he|'d| it|'s| don|'t");
    SPLIT("I'M 'x ''s", "I|'|M| '|x| ''|s");
    SPLIT("a  b   c", "a| | b|  | c");
    SPLIT("x\n\ny", "x|\n|\n|y");
    SPLIT("end   ", "end|   ");
    SPLIT("   ", "   ");
    SPLIT(" ", " ");
    SPLIT("abc123def 45 6.7", "abc|123|def| 45| 6|.|7");
    SPLIT("!!! ?? (x)", "!!!| ??| (|x|)");
    SPLIT("\t\tx", "\t|\t|x"); /* only ' ' joins the next word */
    /* unicode classes: accents and Greek/Cyrillic/CJK letters, Arabic-Indic digits, a combining
     * mark (other), NBSP and ideographic space (whitespace) */
    SPLIT("caf\xc3\xa9 \xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5 \xd0\xbc\xd0\xb8\xd1\x80 \xe4\xb8\x96\xe7\x95\x8c",
          "caf\xc3\xa9| \xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5| \xd0\xbc\xd0\xb8\xd1\x80| \xe4\xb8\x96\xe7\x95\x8c");
    SPLIT("\xd9\xa3\xd9\xa4x", "\xd9\xa3\xd9\xa4|x");
    SPLIT("cafe\xcc\x81s", "cafe|\xcc\x81|s");
    SPLIT("a\xc2\xa0\xc2\xa0" "b", "a|\xc2\xa0|\xc2\xa0|b"); /* NBSP is \s but not ' ' */
    SPLIT("a\xe3\x80\x80 b", "a|\xe3\x80\x80| b");
    /* invalid UTF-8: each byte is an "other" character */
    SPLIT("ab\xff\xfe" "cd \xc3(", "ab|\xff\xfe|cd| \xc3(");
    SPLIT("\xed\xa0\x80x", "\xed\xa0\x80|x");
    /* NUL is an ordinary "other" byte */
    SPLIT("a\0b", "a|\0|b");
#undef SPLIT
}

/* ---------------------------------------------------------------- our BPE */

static char *corpus;   /* tinyshakespeare excerpt (or a built-in text without it) */
static int64_t corpus_len;

static void load_corpus(void) {
    int64_t n = 0;
    char *s = read_whole("../shared/data/tinyshakespeare.txt", &n);
    if (s && n > 60000) {
        corpus = s;
        corpus_len = 60000;
        return;
    }
    free(s);
    /* a stand-in: repeated English with some variety */
    static const char *lines[] = {"First Citizen: Before we proceed any further, hear me speak.\n",
                                  "All: Speak, speak.\n", "You are all resolved rather to die than to famish?\n",
                                  "We know't, we know't. Let us kill him, and we'll have corn at our own price.\n"};
    corpus = malloc(60001);
    corpus_len = 0;
    for (int i = 0; corpus_len < 59000; i++) {
        const char *l = lines[i % 4];
        memcpy(corpus + corpus_len, l, strlen(l));
        corpus_len += (int64_t)strlen(l);
        corpus_len += sprintf(corpus + corpus_len, "%d ", i);
    }
}

/* The naive reference encoder: per pre-token, merge every occurrence of the lowest-rank pair. */
static int64_t naive_encode(const int32_t *L, const int32_t *R, int32_t nm, const char *s, int64_t n,
                            int32_t *out) {
    int64_t m = 0;
    int32_t *w = malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n;) {
        int64_t e = retnet_pretoken_end(s, n, i), k = e - i;
        for (int64_t j = 0; j < k; j++) w[j] = (unsigned char)s[i + j];
        for (;;) {
            int32_t best = -1;
            for (int64_t j = 0; j + 1 < k; j++)
                for (int32_t r = 0; r < (best < 0 ? nm : best); r++)
                    if (L[r] == w[j] && R[r] == w[j + 1]) { best = r; break; }
            if (best < 0) break;
            int64_t o = 0;
            for (int64_t j = 0; j < k; j++) {
                if (j + 1 < k && w[j] == L[best] && w[j + 1] == R[best]) { w[o++] = 260 + best; j++; }
                else w[o++] = w[j];
            }
            k = o;
        }
        memcpy(out + m, w, sizeof(int32_t) * (size_t)k);
        m += k;
        i = e;
    }
    free(w);
    return m;
}

static void check_against_naive(const retnet_tokenizer *t, const char *s, int64_t n, const char *what) {
    const int32_t *L, *R;
    int32_t nm;
    if (retnet_tokenizer_merges(t, &L, &R, &nm) != RETNET_OK) { CHECK(0, "merges"); return; }
    int32_t *want = malloc(sizeof(int32_t) * (size_t)(n + 1)), *got;
    int64_t nw = naive_encode(L, R, nm, s, n, want), ng;
    CHECK(retnet_tokenizer_encode(t, s, n, &got, &ng) == RETNET_OK, "encode");
    int64_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    CHECK(ng == nw && i == ng, "%s: differs from the naive encoder at token %lld of %lld/%lld "
          "(got %d want %d)", what, (long long)i, (long long)ng, (long long)nw,
          i < ng ? got[i] : -1, i < nw ? want[i] : -1);
    free(want);
    free(got);
}

/* The naive reference trainer: unique pre-tokens with counts, then per merge a full recount of
 * every pair into a dense (vocab x vocab) table; the highest count wins, ties to the smaller
 * left id, then the smaller right id; stops below 2. Returns the number of merges. */
static int32_t naive_train(const char *s, int64_t n, int32_t vocab, int32_t *L, int32_t *R) {
    int64_t nw = 0, *ws = malloc(sizeof(int64_t) * (size_t)n), *wl = malloc(sizeof(int64_t) * (size_t)n);
    int64_t *fr = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n;) {
        int64_t e = retnet_pretoken_end(s, n, i), k;
        for (k = 0; k < nw; k++)
            if (wl[k] == e - i && !memcmp(s + ws[k], s + i, (size_t)(e - i))) break;
        if (k == nw) { ws[nw] = i; wl[nw] = e - i; fr[nw++] = 0; }
        fr[k]++;
        i = e;
    }
    int32_t **w = malloc(sizeof(int32_t *) * (size_t)nw);
    for (int64_t k = 0; k < nw; k++) {
        w[k] = malloc(sizeof(int32_t) * (size_t)wl[k]);
        for (int64_t j = 0; j < wl[k]; j++) w[k][j] = (unsigned char)s[ws[k] + j];
    }
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)vocab * (size_t)vocab);
    int32_t m = 0;
    for (; 260 + m < vocab; m++) {
        memset(cnt, 0, sizeof(int64_t) * (size_t)vocab * (size_t)vocab);
        for (int64_t k = 0; k < nw; k++)
            for (int64_t j = 0; j + 1 < wl[k]; j++) cnt[(int64_t)w[k][j] * vocab + w[k][j + 1]] += fr[k];
        int64_t best = 0, bi = -1;
        for (int64_t i = 0; i < (int64_t)vocab * vocab; i++)
            if (cnt[i] > best) { best = cnt[i]; bi = i; }
        if (best < 2) break;
        L[m] = (int32_t)(bi / vocab);
        R[m] = (int32_t)(bi % vocab);
        for (int64_t k = 0; k < nw; k++) {
            int64_t o = 0;
            for (int64_t j = 0; j < wl[k]; j++) {
                if (j + 1 < wl[k] && w[k][j] == L[m] && w[k][j + 1] == R[m]) { w[k][o++] = 260 + m; j++; }
                else w[k][o++] = w[k][j];
            }
            wl[k] = o;
        }
    }
    for (int64_t k = 0; k < nw; k++) free(w[k]);
    free(w); free(cnt); free(ws); free(wl); free(fr);
    return m;
}

static void test_bpe_train_naive(void) {
    /* a text with many ties and repeats: short, so that the dense recount stays fast */
    int64_t n = 20000;
    int32_t L[200], R[200];
    int32_t nm = naive_train(corpus, n, 460, L, R);
    retnet_tokenizer *t = NULL;
    CHECK(retnet_bpe_train(corpus, n, 460, NULL, &t) == RETNET_OK && t, "%s", retnet_errmsg());
    if (!t) return;
    const int32_t *L2, *R2;
    int32_t n2;
    retnet_tokenizer_merges(t, &L2, &R2, &n2);
    int32_t i = 0;
    while (i < nm && i < n2 && L[i] == L2[i] && R[i] == R2[i]) i++;
    CHECK(nm >= 100 && n2 == nm && i == nm, "merge %d of %d/%d differs: got (%d %d) want (%d %d)", i,
          n2, nm, i < n2 ? L2[i] : -1, i < n2 ? R2[i] : -1, i < nm ? L[i] : -1, i < nm ? R[i] : -1);
    retnet_tokenizer_free(t);
    /* ties everywhere: every pair of this text occurs equally often */
    const char *tie = "ab cd ef gh ab cd ef gh ba dc fe hg ba dc fe hg";
    nm = naive_train(tie, (int64_t)strlen(tie), 300, L, R);
    CHECK(retnet_bpe_train(tie, (int64_t)strlen(tie), 300, NULL, &t) == RETNET_OK && t, "ties");
    if (!t) return;
    retnet_tokenizer_merges(t, &L2, &R2, &n2);
    CHECK(n2 == nm && !memcmp(L, L2, 4 * (size_t)nm) && !memcmp(R, R2, 4 * (size_t)nm),
          "tie-break differs from the naive trainer (%d/%d merges)", n2, nm);
    retnet_tokenizer_free(t);
}

static void test_bpe_train(void) {
    retnet_tokenizer *t = NULL, *t2 = NULL;
    CHECK(retnet_bpe_train(corpus, corpus_len, 400, NULL, &t) == RETNET_OK, "%s", retnet_errmsg());
    if (!t) return;
    CHECK(retnet_tokenizer_vocab(t) == 400, "vocab %d", retnet_tokenizer_vocab(t));
    CHECK(!strcmp(retnet_tokenizer_kind_name(t), "bpe"), "kind");
    CHECK(retnet_tokenizer_bos(t) == 256 && retnet_tokenizer_eos(t) == 257, "specials");
    /* deterministic: the same merges again */
    CHECK(retnet_bpe_train(corpus, corpus_len, 400, NULL, &t2) == RETNET_OK, "%s", retnet_errmsg());
    const int32_t *L1, *R1, *L2, *R2;
    int32_t n1 = 0, n2 = -1;
    retnet_tokenizer_merges(t, &L1, &R1, &n1);
    if (t2) retnet_tokenizer_merges(t2, &L2, &R2, &n2);
    CHECK(n1 == 140 && n1 == n2 && !memcmp(L1, L2, 4 * (size_t)n1) && !memcmp(R1, R2, 4 * (size_t)n1),
          "training twice gave different merges");
    /* the first merges of English: a space and a letter, or "th"/"he" and the like */
    int64_t l0;
    const char *b0 = retnet_tokenizer_token(t, 260, &l0);
    CHECK(l0 == 2, "first merge has %lld bytes (%.*s)", (long long)l0, (int)l0, b0);
    /* merges never cross pre-tokens: no token holds a letter followed by a space */
    for (int32_t id = 260; id < 400; id++) {
        int64_t l;
        const char *b = retnet_tokenizer_token(t, id, &l);
        for (int64_t k = 0; k + 1 < l; k++)
            if (((b[k] | 32) >= 'a' && (b[k] | 32) <= 'z') && b[k + 1] == ' ') {
                CHECK(0, "token %d \"%.*s\" crosses a word boundary", id, (int)l, b);
                break;
            }
    }
    /* it compresses its training text, and round-trips it */
    int64_t m = roundtrip(t, corpus, corpus_len, "corpus");
    CHECK(m > 0 && m < corpus_len * 6 / 10, "%lld tokens for %lld bytes", (long long)m, (long long)corpus_len);
    check_against_naive(t, corpus, 5000, "corpus");
    /* any bytes round-trip exactly, and encode as the naive reference does */
    uint64_t rng = 11;
    char s[3000];
    for (int r = 0; r < 20; r++) {
        int64_t n = (int64_t)((test_rand(&rng) + 1) / 2 * sizeof s);
        random_bytes(s, n, &rng);
        char what[32];
        snprintf(what, sizeof what, "random %d", r);
        roundtrip(t, s, n, what);
        check_against_naive(t, s, n, what);
    }
    /* a long pre-token (the heap path for large n) */
    char *big = malloc(20000);
    for (int i = 0; i < 20000; i++) big[i] = "the"[i % 3];
    check_against_naive(t, big, 2000, "thethethe...");
    roundtrip(t, big, 20000, "long word");
    memset(big, ' ', 20000);
    roundtrip(t, big, 20000, "long spaces");
    free(big);
    retnet_tokenizer_free(t);
    retnet_tokenizer_free(t2);

    /* more merges than pairs: stops early; bad sizes */
    CHECK(retnet_bpe_train("abab abab", 9, 1000, NULL, &t) == RETNET_OK && t &&
          retnet_tokenizer_vocab(t) < 270, "tiny text");
    if (t) roundtrip(t, "abab abab", 9, "tiny");
    retnet_tokenizer_free(t);
    CHECK(retnet_bpe_train(corpus, 100, 259, NULL, &t) == RETNET_EINVAL && !t, "vocab 259");
    CHECK(retnet_bpe_train("", 0, 300, NULL, &t) == RETNET_OK && t && retnet_tokenizer_vocab(t) == 260,
          "empty text");
    retnet_tokenizer_free(t);
}

static void test_bpe_min_frequency(void) {
    retnet_tokenizer *a = NULL;
    retnet_bpe_opts o = {.min_frequency = 50};
    CHECK(retnet_bpe_train(corpus, corpus_len, 5000, &o, &a) == RETNET_OK && a, "%s", retnet_errmsg());
    if (!a) return;
    int32_t v = retnet_tokenizer_vocab(a);
    CHECK(v > 300 && v < 5000, "min_frequency 50 gave vocab %d", v);
    retnet_tokenizer_free(a);
}

static void test_bpe_save_load(void) {
    retnet_tokenizer *t = NULL, *u = NULL;
    CHECK(retnet_bpe_train(corpus, corpus_len, 350, NULL, &t) == RETNET_OK, "%s", retnet_errmsg());
    if (!t) return;
    char path[512];
    snprintf(path, sizeof path, "%s/tok.bpe", tmpdir);
    CHECK(retnet_tokenizer_save(t, path) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_tokenizer_load(path, &u) == RETNET_OK, "%s", retnet_errmsg());
    if (u) {
        CHECK(retnet_tokenizer_vocab(u) == 350 && !strcmp(retnet_tokenizer_kind_name(u), "bpe"), "loaded");
        for (int32_t id = 0; id < 350; id++) {
            int64_t la, lb;
            const char *a = retnet_tokenizer_token(t, id, &la), *b = retnet_tokenizer_token(u, id, &lb);
            if (la != lb || memcmp(a, b, (size_t)la)) { CHECK(0, "token %d differs", id); break; }
        }
        int32_t *i1, *i2;
        int64_t n1, n2;
        retnet_tokenizer_encode(t, corpus, 20000, &i1, &n1);
        retnet_tokenizer_encode(u, corpus, 20000, &i2, &n2);
        CHECK(n1 == n2 && !memcmp(i1, i2, 4 * (size_t)n1), "encodings differ after save/load");
        free(i1);
        free(i2);
        /* saving again gives the same bytes */
        char path2[512];
        snprintf(path2, sizeof path2, "%s/tok2.bpe", tmpdir);
        CHECK(retnet_tokenizer_save(u, path2) == RETNET_OK, "%s", retnet_errmsg());
        int64_t la, lb;
        char *fa = read_whole(path, &la), *fb = read_whole(path2, &lb);
        CHECK(fa && fb && la == lb && !memcmp(fa, fb, (size_t)la), "save(load(save)) differs");
        CHECK(fa && !strncmp(fa, "retnet-bpe 1\n", 13), "magic line");
        free(fa);
        free(fb);
        unlink(path2);
    }
    /* no temp file left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/tok.bpe.tmp.%ld", tmpdir, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temp file left behind");
    retnet_tokenizer_free(t);
    retnet_tokenizer_free(u);
}

/* A bad tokenizer file fails with status st and a message holding phrase. */
static void expect_bad(const char *content, retnet_status st, const char *phrase) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.bpe", tmpdir);
    write_whole(path, content, (int64_t)strlen(content));
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    retnet_status got = retnet_tokenizer_load(path, &t);
    if (st == RETNET_OK) {
        CHECK(got == RETNET_OK && t, "'%.40s...': %s", content, retnet_errmsg());
        retnet_tokenizer_free(got == RETNET_OK ? t : NULL);
        unlink(path);
        return;
    }
    CHECK(got == st && t == NULL, "'%.40s...': status %s, want %s", content, retnet_status_name(got),
          retnet_status_name(st));
    CHECK(strstr(retnet_errmsg(), phrase) != NULL, "'%.40s...': message \"%s\" lacks \"%s\"",
          content, retnet_errmsg(), phrase);
    unlink(path);
}

#define HEAD "retnet-bpe 1\npretokenizer gpt2\n"
#define SPECIALS "special 256 <bos>\nspecial 257 <eos>\nspecial 258 <pad>\nspecial 259 <unk>\n"

static void test_bad_files(void) {
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    CHECK(retnet_tokenizer_load("no/such/file", &t) == RETNET_EIO && !t, "missing file");
    CHECK(strstr(retnet_errmsg(), "no/such/file") != NULL, "message: %s", retnet_errmsg());
    /* a good minimal file first */
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n260 99\n", RETNET_OK, "");
    expect_bad("{\"not\": \"ours\"}\n", RETNET_EFORMAT, "not a retnet BPE");
    expect_bad("", RETNET_EFORMAT, "not a retnet BPE");
    expect_bad("retnet-bpe 2\n", RETNET_EFORMAT, "line 1");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n", RETNET_EFORMAT, "truncated");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 3\n97 98\n1 2\n3 4\n", RETNET_EFORMAT, "want 2 merges");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n261 99\n", RETNET_EFORMAT, "below its own");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n256 99\n", RETNET_EFORMAT, "special");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n97 98\n", RETNET_EFORMAT, "repeats");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n97 x\n", RETNET_EFORMAT, "line 10");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n97  98\n", RETNET_EFORMAT, "line 10");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n97 -1\n", RETNET_EFORMAT, "line 10");
    expect_bad(HEAD "vocab 262\n" SPECIALS "merges 2\n97 98\n97 99\n5 5\n", RETNET_EFORMAT, "unexpected");
    expect_bad(HEAD "vocab 9999999999\n" SPECIALS "merges 0\n", RETNET_EFORMAT, "vocab N");
    expect_bad(HEAD "vocab 262\nspecial 256 <s>\n", RETNET_EFORMAT, "special 256 <bos>");
    expect_bad(HEAD "vocab 2000000000\n" SPECIALS "merges 1999999740\n97 98\n", RETNET_EFORMAT, "truncated");
    /* merges of merges double: 13 self-merges make a token of 8192 bytes (31 asked for 4 GB
     * of a few hundred bytes of file): refused past TOKEN_MAX_BYTES, 12 (4096) still taken */
    {
        static char bomb[4096];
        for (int nm = 12; nm <= 13; nm++) {
            int k = sprintf(bomb, HEAD "vocab %d\n" SPECIALS "merges %d\n97 97\n", 260 + nm, nm);
            for (int i = 1; i < nm; i++) k += sprintf(bomb + k, "%d %d\n", 259 + i, 259 + i);
            expect_bad(bomb, nm == 12 ? RETNET_OK : RETNET_EFORMAT, "bytes, more than");
        }
    }
    /* many long tokens: 11 self-merges make a 2048-byte token (id 270), then it is joined
     * with every byte, both ways (512 tokens of 2049 bytes): 1 MB of tokens from ~8 KB of
     * file, ~1000 bytes a merge on average: refused past 64 a merge (and past 1 MB in all);
     * the same file with the byte merges on 1 of 11 self-merges' tokens (3 bytes) is taken */
    for (int big = 0; big <= 1; big++) {
        const int nm = 11 + 512;
        char *f = malloc(16384);
        CHECK(f != NULL, "alloc");
        if (!f) return;
        int k = sprintf(f, HEAD "vocab %d\n" SPECIALS "merges %d\n97 97\n", 260 + nm, nm);
        for (int i = 1; i < 11; i++) k += sprintf(f + k, "%d %d\n", 259 + i, 259 + i);
        const int tok = big ? 270 : 260;
        for (int b = 0; b < 256; b++) k += sprintf(f + k, "%d %d\n", tok, b);
        for (int b = 0; b < 256; b++) k += sprintf(f + k, "%d %d\n", b, tok);
        expect_bad(f, big ? RETNET_EFORMAT : RETNET_OK, "on average");
        free(f);
    }
    /* GPT-2 directories: missing files, bad JSON, files that do not belong together */
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/g2", tmpdir);
    mkdir(dir, 0755);
    CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EIO && strstr(retnet_errmsg(), "encoder.json"),
          "empty dir: %s", retnet_errmsg());
    snprintf(p, sizeof p, "%s/encoder.json", dir);
    write_whole(p, "{\"a\": 0,", 8);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir);
    write_whole(p, "#version: 0.2\n", 14);
    CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EFORMAT && strstr(retnet_errmsg(), "not valid JSON"),
          "bad json: %s", retnet_errmsg());
    /* a well-formed 258-token GPT-2-style vocabulary: bytes in GPT-2's alphabet, "ab", eot */
    {
        static char json[16384];
        int64_t k = sprintf(json, "{");
        int n = 0;
        for (int b = 0; b < 256; b++) {
            int pr = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            int cp = pr ? b : 256 + n++;
            k += sprintf(json + k, "\"\\u%04x\": %d, ", cp, b);
        }
        k += sprintf(json + k, "\"ab\": 256, \"<|endoftext|>\": 257}");
        snprintf(p, sizeof p, "%s/encoder.json", dir);
        write_whole(p, json, k);
        snprintf(p, sizeof p, "%s/vocab.bpe", dir);
        write_whole(p, "#version: 0.2\na b\n", 18);
        retnet_tokenizer *g = NULL;
        CHECK(retnet_tokenizer_load(dir, &g) == RETNET_OK, "tiny gpt2: %s", retnet_errmsg());
        if (g) {
            int32_t *ids;
            int64_t n2;
            retnet_tokenizer_encode(g, "abc ab", 6, &ids, &n2);
            /* ids: byte b has id b here; " ab" -> " " (id 32) then "ab" (256) */
            CHECK(n2 == 4 && ids[0] == 256 && ids[1] == 'c' && ids[2] == ' ' && ids[3] == 256,
                  "tiny gpt2 ids");
            free(ids);
            CHECK(retnet_tokenizer_bos(g) == 257 && retnet_tokenizer_vocab(g) == 258, "eot");
            retnet_tokenizer_free(g);
        }
        write_whole(p, "#version: 0.2\nb a\n", 18);
        CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EFORMAT && strstr(retnet_errmsg(), "line 2"),
              "mismatched vocab.bpe: %s", retnet_errmsg());
        write_whole(p, "#version: 0.2\n", 14);
        CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EFORMAT && strstr(retnet_errmsg(), "0 merges"),
              "short vocab.bpe: %s", retnet_errmsg());
        write_whole(p, "a b\n", 4);
        CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EFORMAT && strstr(retnet_errmsg(), "#version"),
              "no version line: %s", retnet_errmsg());
        snprintf(p, sizeof p, "%s/encoder.json", dir);
        json[k - 1] = 0;
        k += sprintf(json + k - 1, ", \"dup\": 256}") - 1;
        write_whole(p, json, k);
        CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EFORMAT && strstr(retnet_errmsg(), "id 256"),
              "duplicate id: %s", retnet_errmsg());
    }
    snprintf(p, sizeof p, "%s/encoder.json", dir); unlink(p);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir); unlink(p);
    rmdir(dir);
}

/* ---------------------------------------------------------------- GPT-2 */

static retnet_tokenizer *gpt2;

static void test_gpt2_golden(void) {
    int64_t tl, gl;
    char *text = read_whole("tests/fixtures/gpt2_golden_text.txt", &tl);
    char *golden = read_whole("tests/fixtures/gpt2_golden.txt", &gl);
    CHECK(text && golden, "cannot read the golden fixtures (run from the repository root)");
    if (!text || !golden) { free(text); free(golden); return; }
    CHECK(retnet_tokenizer_vocab(gpt2) == 50257 && retnet_tokenizer_bos(gpt2) == 50256 &&
          retnet_tokenizer_eos(gpt2) == 50256 && retnet_tokenizer_pad(gpt2) == -1, "gpt2 specials");
    int cases = 0, ok = 0;
    int64_t total = 0;
    for (char *line = strtok(golden, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *p = line;
        long long off = strtoll(p, &p, 10), len = strtoll(p, &p, 10);
        if (off < 0 || len < 0 || off + len > tl) { CHECK(0, "bad golden line"); break; }
        int32_t want[8192];
        int64_t nw = 0;
        while (*p && nw < 8192) want[nw++] = (int32_t)strtol(p, &p, 10);
        int32_t *got;
        int64_t ng;
        cases++;
        if (retnet_tokenizer_encode(gpt2, text + off, len, &got, &ng) != RETNET_OK) continue;
        int64_t i = 0;
        while (i < ng && i < nw && got[i] == want[i]) i++;
        CHECK(ng == nw && i == ng, "case at byte %lld (\"%.30s\"): token %lld got %d want %d "
              "(%lld/%lld tokens)", off, text + off, (long long)i, i < ng ? got[i] : -1,
              i < nw ? want[i] : -1, (long long)ng, (long long)nw);
        ok += ng == nw && i == ng;
        total += nw;
        char *back;
        int64_t bl;
        if (retnet_tokenizer_decode(gpt2, got, ng, 0, &back, &bl) == RETNET_OK) {
            CHECK(bl == len && !memcmp(back, text + off, (size_t)len), "decode of case at %lld", off);
            free(back);
        }
        free(got);
    }
    CHECK(cases >= 20, "only %d golden cases", cases);
    fprintf(stderr, "     gpt2: %d of %d golden cases identical (%lld tokens)\n", ok, cases, (long long)total);
    int32_t eot = 50256;
    char *s;
    int64_t sl;
    CHECK(retnet_tokenizer_decode(gpt2, &eot, 1, 0, &s, &sl) == RETNET_OK && sl == 13 &&
          !strcmp(s, "<|endoftext|>"), "eot decodes to its name");
    free(s);
    free(text);
    free(golden);
}

static void test_gpt2_bytes(void) {
    uint64_t rng = 5;
    char s[4000];
    for (int r = 0; r < 20; r++) {
        int64_t n = (int64_t)((test_rand(&rng) + 1) / 2 * sizeof s);
        random_bytes(s, n, &rng);
        char what[32];
        snprintf(what, sizeof what, "gpt2 random %d", r);
        roundtrip(gpt2, s, n, what);
    }
    char *big = malloc(100000);
    memset(big, ' ', 100000);
    roundtrip(gpt2, big, 100000, "gpt2 long spaces");
    for (int i = 0; i < 100000; i++) big[i] = "xyz"[i % 3];
    roundtrip(gpt2, big, 100000, "gpt2 long word");
    free(big);
    int32_t bad = 50257;
    char *o;
    int64_t ol;
    CHECK(retnet_tokenizer_decode(gpt2, &bad, 1, 0, &o, &ol) == RETNET_EINVAL, "50257 out of range");
}

/* GPT-2's files with a chain of self-merges "a a", "aa aa", ... up to a token of 2^k bytes
 * (encoder.json: the 256 bytes in GPT-2's alphabet, the chain, <|endoftext|>). */
static void write_gpt2_chain(const char *dir, int k) {
    int16_t dec[512];
    for (int i = 0; i < 512; i++) dec[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int pr = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (pr) dec[b] = (int16_t)b;
        else dec[256 + n++] = (int16_t)b;
    }
    size_t cap = ((size_t)8 << k) + 16384;
    char *enc = malloc(cap), *bpe = malloc(cap), *tok = malloc(((size_t)1 << k) + 1);
    size_t e = (size_t)snprintf(enc, cap, "{"), v = (size_t)snprintf(bpe, cap, "#version: 0.2\n");
    for (int cp = 0; cp < 512; cp++) {
        if (dec[cp] < 0) continue;
        char u[4] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); }
        e += (size_t)snprintf(enc + e, cap - e, "%s\"%s%s\": %d", e > 1 ? ", " : "",
                              cp == '"' || cp == '\\' ? "\\" : "", u, dec[cp]);
    }
    strcpy(tok, "a");
    for (int i = 0; i < k; i++) {
        size_t l = strlen(tok);
        v += (size_t)snprintf(bpe + v, cap - v, "%s %s\n", tok, tok);
        memcpy(tok + l, tok, l);
        tok[2 * l] = 0;
        e += (size_t)snprintf(enc + e, cap - e, ", \"%s\": %d", tok, 256 + i);
    }
    e += (size_t)snprintf(enc + e, cap - e, ", \"<|endoftext|>\": %d}", 256 + k);
    char p[600];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/encoder.json", dir);
    write_whole(p, enc, (int64_t)e);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir);
    write_whole(p, bpe, (int64_t)v);
    free(enc);
    free(bpe);
    free(tok);
}

/* A token of more than TOKEN_MAX_BYTES in encoder.json (found reading load_gpt2 while fuzzing
 * the tokenizer loaders): the pair map tried all its splits, hashing both parts, quadratic in
 * its length (a 64 KB token in 270 KB of files took 2 s to load, 128 KB 8 s). Refused now,
 * naming the file. */
static void test_gpt2_long_token(void) {
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/gpt2chain", tmpdir);
    retnet_tokenizer *t = NULL;
    write_gpt2_chain(dir, 12); /* 4096 bytes: still taken */
    CHECK(retnet_tokenizer_load(dir, &t) == RETNET_OK && t && retnet_tokenizer_vocab(t) == 269,
          "a 4096-byte token: %s", retnet_errmsg());
    if (t) {
        static char text[5000];
        memset(text, 'a', 4096);
        roundtrip(t, text, 4096, "4096 a's");
        roundtrip(t, text, 5000 - 1, "4999 a's");
    }
    retnet_tokenizer_free(t);
    t = (retnet_tokenizer *)1;
    write_gpt2_chain(dir, 13); /* 8192 bytes */
    retnet_status st = retnet_tokenizer_load(dir, &t);
    CHECK(st == RETNET_EFORMAT && !t, "an 8192-byte token: status %s", retnet_status_name(st));
    CHECK(strstr(retnet_errmsg(), "encoder.json") && strstr(retnet_errmsg(), "8192 bytes"),
          "message: %s", retnet_errmsg());
    if (st == RETNET_OK) retnet_tokenizer_free(t);
    snprintf(p, sizeof p, "%s/encoder.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir);
    unlink(p);
    rmdir(dir);
}

static void test_spec(void) {
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    CHECK(retnet_tokenizer_load("nonesuch", &t) == RETNET_EIO && !t, "unknown spec");
    CHECK(strstr(retnet_errmsg(), "'byte', 'gpt2'") != NULL, "message: %s", retnet_errmsg());
    const char *env = getenv("RETNET_GPT2_DIR");
    char *saved = env ? strdup(env) : NULL;
    setenv("RETNET_GPT2_DIR", "/nonexistent/gpt2", 1);
    CHECK(retnet_tokenizer_load("gpt2", &t) == RETNET_EIO && !t, "gpt2 without files");
    CHECK(strstr(retnet_errmsg(), "get-gpt2-tokenizer.sh") != NULL, "message: %s", retnet_errmsg());
    if (saved) setenv("RETNET_GPT2_DIR", saved, 1);
    else unsetenv("RETNET_GPT2_DIR");
    free(saved);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/retnet_test_tok.%ld", (long)getpid());
    mkdir(tmpdir, 0755);
    load_corpus();
    RUN(test_byte);
    RUN(test_pretokenizer);
    RUN(test_bpe_train);
    RUN(test_bpe_train_naive);
    RUN(test_bpe_min_frequency);
    RUN(test_bpe_save_load);
    RUN(test_bad_files);
    RUN(test_spec);
    RUN(test_gpt2_long_token);
    if (retnet_tokenizer_load("gpt2", &gpt2) == RETNET_OK) {
        RUN(test_gpt2_golden);
        RUN(test_gpt2_bytes);
        retnet_tokenizer_free(gpt2);
    } else {
        fprintf(stderr, "skip test_gpt2_golden, test_gpt2_bytes: %s\n", retnet_errmsg());
    }
    free(corpus);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
