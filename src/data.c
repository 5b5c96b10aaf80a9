/*
 * data.c: token files, dataset directories and window loaders of data.h; docs/TOKENIZER.md
 * specifies the files.
 *
 * Files are hostile: a token file's header is checked field by field and against the file's
 * size before any id is read, and the loaders check every id against the vocabulary once at
 * open, so that drawing windows afterwards cannot fail. Ids are assembled from little-endian
 * bytes explicitly (no host-order or unaligned loads). Everything written goes through a temp
 * file + rename.
 */
#include "data.h"
#include "internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char TOK_MAGIC[8] = {'R', 'T', 'N', 'T', 'O', 'K', '1', 0};

static inline uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t le64(const unsigned char *b) { return le32(b) | (uint64_t)le32(b + 4) << 32; }
static inline void put32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static inline void put64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* ---------------------------------------------------------------- sha256 (FIPS 180-4) */

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + SHA_K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void retnet_sha256_hex(const void *data, int64_t n, char hex[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) sha_block(h, p + i);
    unsigned char last[128] = {0};
    int64_t r = n - i;
    memcpy(last, p + i, (size_t)r);
    last[r] = 0x80;
    int64_t tail = r + 9 <= 64 ? 64 : 128; /* room for the 0x80 and the 8-byte length */
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) last[tail - 1 - k] = (unsigned char)(bits >> (8 * k)); /* big-endian */
    sha_block(h, last);
    if (tail == 128) sha_block(h, last + 64);
    for (int k = 0; k < 8; k++) snprintf(hex + 8 * k, 9, "%08x", h[k]);
}

/* ---------------------------------------------------------------- small files */

/* Makes a rename durable: fsync of the directory that holds path (best effort). */
static void sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

static retnet_status write_all(int fd, const unsigned char *b, int64_t n, const char *what) {
    while (n > 0) {
        ssize_t k = write(fd, b, (size_t)(n > (1 << 30) ? (1 << 30) : n));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return retnet_fail(RETNET_EIO, "%s: write failed: %s", what, k < 0 ? strerror(errno) : "no progress");
        b += k;
        n -= k;
    }
    return RETNET_OK;
}

static char *tmp_name(const char *path) {
    size_t n = strlen(path) + 32;
    char *t = malloc(n);
    if (t) snprintf(t, n, "%s.tmp.%ld", path, (long)getpid());
    return t;
}

/* Writes len bytes to path through a temp file + rename. */
static retnet_status write_file_atomic(const char *path, const void *data, int64_t len) {
    char *tmp = tmp_name(path);
    if (!tmp) return retnet_fail(RETNET_ENOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        retnet_status s = retnet_fail(RETNET_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return s;
    }
    retnet_status s = write_all(fd, data, len, tmp);
    if (s == RETNET_OK && fsync(fd) != 0) s = retnet_fail(RETNET_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == RETNET_OK) s = retnet_fail(RETNET_EIO, "%s: close failed: %s", tmp, strerror(errno));
    if (s == RETNET_OK && rename(tmp, path) != 0)
        s = retnet_fail(RETNET_EIO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (s != RETNET_OK) unlink(tmp);
    else sync_dir(path);
    free(tmp);
    return s;
}

/* Maps a whole file read-only (*p NULL for an empty file). */
static retnet_status map_file(const char *path, const unsigned char **p, int64_t *len) {
    *p = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return retnet_fail(RETNET_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return retnet_fail(RETNET_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            retnet_status s = retnet_fail(RETNET_EIO, "cannot map %s: %s", path, strerror(errno));
            close(fd);
            return s;
        }
        *p = m;
    }
    close(fd);
    *len = (int64_t)st.st_size;
    return RETNET_OK;
}

static void unmap_file(const unsigned char *p, int64_t len) {
    if (p && len > 0) munmap((void *)p, (size_t)len);
}

/* ---------------------------------------------------------------- token file writer */

#define STAGE_IDS (1 << 18)

struct retnet_tokfile_writer {
    char *path, *tmp;
    int fd;
    int32_t vocab, bos, width;
    int64_t count;
    unsigned char *stage;
};

static void header_bytes(unsigned char h[RETNET_TOKFILE_HEADER], int32_t vocab, int64_t count,
                         int32_t width, int32_t bos) {
    memset(h, 0, RETNET_TOKFILE_HEADER);
    memcpy(h, TOK_MAGIC, 8);
    put32(h + 8, RETNET_TOKFILE_VERSION);
    put32(h + 12, (uint32_t)vocab);
    put64(h + 16, (uint64_t)count);
    put32(h + 24, (uint32_t)width);
    put32(h + 28, (uint32_t)bos); /* -1 -> 0xFFFFFFFF */
}

void retnet_tokfile_abort(retnet_tokfile_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp) unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->stage);
    free(w);
}

retnet_status retnet_tokfile_create(const char *path, int32_t vocab, int32_t bos,
                                    retnet_tokfile_writer **out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "retnet_tokfile_create: NULL argument");
    *out = NULL;
    if (vocab < 1 || bos < -1 || bos >= vocab)
        return retnet_fail(RETNET_EINVAL, "%s: vocab %d / bos %d out of range", path, vocab, bos);
    retnet_tokfile_writer *w = calloc(1, sizeof *w);
    if (!w) return retnet_fail(RETNET_ENOMEM, "out of memory");
    w->fd = -1;
    w->vocab = vocab;
    w->bos = bos;
    w->width = vocab <= 65536 ? 2 : 4;
    w->path = strdup(path);
    w->tmp = tmp_name(path);
    w->stage = malloc((size_t)STAGE_IDS * 4);
    if (!w->path || !w->tmp || !w->stage) {
        retnet_tokfile_abort(w);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        retnet_status s = retnet_fail(RETNET_EIO, "%s: cannot create %s: %s", path, w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL; /* nothing to unlink */
        retnet_tokfile_abort(w);
        return s;
    }
    unsigned char h[RETNET_TOKFILE_HEADER];
    header_bytes(h, vocab, 0, w->width, bos);
    retnet_status s = write_all(w->fd, h, sizeof h, w->tmp);
    if (s != RETNET_OK) {
        retnet_tokfile_abort(w);
        return s;
    }
    *out = w;
    return RETNET_OK;
}

retnet_status retnet_tokfile_append(retnet_tokfile_writer *w, const int32_t *ids, int64_t n) {
    if (!w || (n > 0 && !ids) || n < 0) return retnet_fail(RETNET_EINVAL, "retnet_tokfile_append: bad argument");
    for (int64_t i = 0; i < n;) {
        int64_t k = n - i < STAGE_IDS ? n - i : STAGE_IDS;
        unsigned char *b = w->stage;
        for (int64_t j = 0; j < k; j++) {
            int32_t id = ids[i + j];
            if (id < 0 || id >= w->vocab)
                return retnet_fail(RETNET_EINVAL, "%s: token %d (at %lld) is out of range for the "
                                   "vocabulary of %d", w->path, id, (long long)(w->count + i + j),
                                   w->vocab);
            b[0] = (unsigned char)id;
            b[1] = (unsigned char)(id >> 8);
            if (w->width == 4) {
                b[2] = (unsigned char)(id >> 16);
                b[3] = (unsigned char)(id >> 24);
            }
            b += w->width;
        }
        retnet_status s = write_all(w->fd, w->stage, k * w->width, w->tmp);
        if (s != RETNET_OK) return s;
        i += k;
        w->count += k;
    }
    return RETNET_OK;
}

int64_t retnet_tokfile_written(const retnet_tokfile_writer *w) { return w->count; }

retnet_status retnet_tokfile_finish(retnet_tokfile_writer *w) {
    if (!w) return retnet_fail(RETNET_EINVAL, "retnet_tokfile_finish: NULL writer");
    unsigned char h[RETNET_TOKFILE_HEADER];
    header_bytes(h, w->vocab, w->count, w->width, w->bos);
    retnet_status s = RETNET_OK;
    if (pwrite(w->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        s = retnet_fail(RETNET_EIO, "%s: cannot write the header: %s", w->tmp, strerror(errno));
    if (s == RETNET_OK && fsync(w->fd) != 0)
        s = retnet_fail(RETNET_EIO, "%s: fsync failed: %s", w->tmp, strerror(errno));
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0 && s == RETNET_OK)
        s = retnet_fail(RETNET_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
    if (s == RETNET_OK && rename(w->tmp, w->path) != 0)
        s = retnet_fail(RETNET_EIO, "%s: cannot rename %s over it: %s", w->path, w->tmp, strerror(errno));
    if (s == RETNET_OK) {
        sync_dir(w->path);
        free(w->tmp);
        w->tmp = NULL;
    }
    retnet_tokfile_abort(w); /* frees; unlinks the temp file only on failure */
    return s;
}

/* ---------------------------------------------------------------- token file reader */

struct retnet_tokfile {
    char *path;
    const unsigned char *map;
    int64_t size;
    int32_t vocab, bos, width;
    int64_t count;
};

void retnet_tokfile_close(retnet_tokfile *f) {
    if (!f) return;
    unmap_file(f->map, f->size);
    free(f->path);
    free(f);
}

retnet_status retnet_tokfile_open(const char *path, int32_t expect_vocab, retnet_tokfile **out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "retnet_tokfile_open: NULL argument");
    *out = NULL;
    retnet_tokfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    retnet_status s = map_file(path, &f->map, &f->size);
    if (s != RETNET_OK) {
        retnet_tokfile_close(f);
        return s;
    }
#define BAD(...) do { s = retnet_fail(RETNET_EFORMAT, __VA_ARGS__); goto fail; } while (0)
    const unsigned char *h = f->map;
    if (f->size < RETNET_TOKFILE_HEADER)
        BAD("%s: truncated: %lld bytes, shorter than the %d-byte header of a token file", path,
            (long long)f->size, RETNET_TOKFILE_HEADER);
    if (memcmp(h, TOK_MAGIC, 8))
        BAD("%s: not a token file (no \"RTNTOK1\" magic); make one with 'retnet tokenize'", path);
    uint32_t version = le32(h + 8), vocab = le32(h + 12), width = le32(h + 24), bos = le32(h + 28);
    uint64_t count = le64(h + 16);
    if (version != RETNET_TOKFILE_VERSION) {
        s = retnet_fail(RETNET_EUNSUPPORTED, "%s: token file version %u; this build reads version %d",
                        path, version, RETNET_TOKFILE_VERSION);
        goto fail;
    }
    if (vocab < 1 || vocab > INT32_MAX) BAD("%s: vocabulary %u out of range", path, vocab);
    if (!(width == 2 && vocab <= 65536) && !(width == 4 && vocab > 65536))
        BAD("%s: dtype %u (bytes per id) does not fit the vocabulary %u (want %d)", path, width,
            vocab, vocab <= 65536 ? 2 : 4);
    if (bos != UINT32_MAX && bos >= vocab) BAD("%s: bos id %u is not below the vocabulary %u", path, bos, vocab);
    for (int i = 32; i < RETNET_TOKFILE_HEADER; i++)
        if (h[i]) BAD("%s: reserved header byte %d is not zero", path, i);
    int64_t body = f->size - RETNET_TOKFILE_HEADER;
    if (count > (uint64_t)INT64_MAX / width || (int64_t)count * width > body)
        BAD("%s: truncated: the header says %llu tokens (%llu bytes) but the file holds %lld bytes "
            "of ids", path, (unsigned long long)count, (unsigned long long)count * width, (long long)body);
    if ((int64_t)count * width < body)
        BAD("%s: %lld bytes after the %llu tokens the header declares; the file is damaged", path,
            (long long)(body - (int64_t)count * width), (unsigned long long)count);
    if (expect_vocab > 0 && (int32_t)vocab != expect_vocab)
        BAD("%s: vocabulary %u, expected %d (tokenized with another tokenizer?)", path, vocab, expect_vocab);
#undef BAD
    f->vocab = (int32_t)vocab;
    f->bos = bos == UINT32_MAX ? -1 : (int32_t)bos;
    f->width = (int32_t)width;
    f->count = (int64_t)count;
    *out = f;
    return RETNET_OK;
fail:
    retnet_tokfile_close(f);
    return s;
}

int64_t retnet_tokfile_count(const retnet_tokfile *f) { return f->count; }
int32_t retnet_tokfile_vocab(const retnet_tokfile *f) { return f->vocab; }
int32_t retnet_tokfile_bos(const retnet_tokfile *f) { return f->bos; }

static inline int32_t tok_at(const retnet_tokfile *f, int64_t i) {
    const unsigned char *p = f->map + RETNET_TOKFILE_HEADER + i * f->width;
    return f->width == 2 ? (int32_t)(p[0] | p[1] << 8) : (int32_t)le32(p);
}

retnet_status retnet_tokfile_check_ids(const retnet_tokfile *f) {
    for (int64_t i = 0; i < f->count; i++) {
        int32_t id = tok_at(f, i);
        if (id < 0 || id >= f->vocab)
            return retnet_fail(RETNET_EFORMAT, "%s: token %lld is %d, not below the vocabulary %d; "
                               "the file is damaged", f->path, (long long)i, id, f->vocab);
    }
    return RETNET_OK;
}

retnet_status retnet_tokfile_read(const retnet_tokfile *f, int64_t start, int64_t n, int32_t *ids) {
    if (start < 0 || n < 0 || start > f->count || n > f->count - start)
        return retnet_fail(RETNET_EINVAL, "%s: tokens [%lld, %lld) are outside [0, %lld)", f->path,
                           (long long)start, (long long)(start + n), (long long)f->count);
    for (int64_t i = 0; i < n; i++) ids[i] = tok_at(f, start + i);
    return RETNET_OK;
}

/* ---------------------------------------------------------------- tokenizing */

int64_t retnet_text_cut(const char *text, int64_t len, int64_t pos) {
    if (pos <= 0) return 0;
    for (int64_t i = pos; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        /* after "x\n", not after a blank line: GPT-2's pattern reads "\n\n" before a letter
         * as one token, which a cut between them would split */
        if (text[i - 1] == '\n' && c > ' ' && c < 0x7F &&
            (i < 2 || !isspace((unsigned char)text[i - 2])))
            return i;
    }
    return len;
}

#define PIECE_BYTES ((int64_t)1 << 20)

retnet_status retnet_tokenize_into(const retnet_tokenizer *tok, const char *text, int64_t len,
                                   retnet_tokfile_writer *w, retnet_progress_fn progress,
                                   void *ctx, const char *what) {
    for (int64_t i = 0; i < len;) {
        int64_t e = i + PIECE_BYTES >= len ? len : retnet_text_cut(text, len, i + PIECE_BYTES);
        int32_t *ids;
        int64_t n;
        /* pieces after the first continue the text: no leading "▁" or prefix space */
        retnet_status s = retnet_tokenizer_encode_ex(tok, text + i, e - i,
                                                     i > 0 ? RETNET_ENCODE_CONTINUE : 0, &ids, &n);
        if (s != RETNET_OK) return s;
        s = retnet_tokfile_append(w, ids, n);
        free(ids);
        if (s != RETNET_OK) return s;
        i = e;
        if (progress) progress(ctx, what, i, len);
    }
    return RETNET_OK;
}

/* ---------------------------------------------------------------- dataset directories */

static const char *const SPLITS[2] = {"train", "val"};

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_plain_spec(const char *spec) { return !strcmp(spec, "byte") || !strcmp(spec, "gpt2"); }

/* Tokenizes text into dir/<split>.bin; *tokens gets the count. */
static retnet_status write_split(const char *dir, int split, const retnet_tokenizer *tok,
                                 const char *text, int64_t len, const retnet_tokenize_opts *o,
                                 int64_t *tokens) {
    char name[16];
    snprintf(name, sizeof name, "%s.bin", SPLITS[split]);
    char *path = join(dir, name);
    if (!path) return retnet_fail(RETNET_ENOMEM, "out of memory");
    retnet_tokfile_writer *w;
    retnet_status s = retnet_tokfile_create(path, retnet_tokenizer_vocab(tok), retnet_tokenizer_bos(tok), &w);
    free(path);
    if (s != RETNET_OK) return s;
    s = retnet_tokenize_into(tok, text, len, w, o ? o->progress : NULL, o ? o->ctx : NULL, SPLITS[split]);
    if (s != RETNET_OK) {
        retnet_tokfile_abort(w);
        return s;
    }
    *tokens = retnet_tokfile_written(w);
    return retnet_tokfile_finish(w);
}

retnet_status retnet_dataset_build(const char *dir, const char *spec, const char *data_path,
                                   const retnet_tokenize_opts *opts, retnet_dataset_summary *summary) {
    if (!dir || !spec || !data_path)
        return retnet_fail(RETNET_EINVAL, "retnet_dataset_build: NULL argument");
    double t0 = retnet_now();
    const char *val_path = opts ? opts->val_data : NULL;
    double frac = opts && opts->val_fraction > 0 ? opts->val_fraction : 0.1;
    if (!val_path && !(frac > 0 && frac < 1))
        return retnet_fail(RETNET_EINVAL, "validation fraction %g is not in (0, 1)", frac);
    retnet_tokenizer *tok = NULL;
    retnet_status s = retnet_tokenizer_load(spec, &tok);
    if (s != RETNET_OK) return s;
    const unsigned char *src[2] = {NULL, NULL};
    int64_t src_len[2] = {0, 0};
    char sha[2][65] = {"", ""};
    int made = 0; /* the directory was made here */
    char *meta_path = NULL, *stored_spec = NULL, *json = NULL;
    int64_t off[2], bytes[2], tokens[2] = {0, 0};

    /* the texts, their checksums and the split */
    if ((s = map_file(data_path, &src[0], &src_len[0])) != RETNET_OK) goto done;
    if (src_len[0] == 0) {
        s = retnet_fail(RETNET_EINVAL, "%s is empty; give a text file", data_path);
        goto done;
    }
    retnet_sha256_hex(src[0], src_len[0], sha[0]);
    if (val_path) {
        if ((s = map_file(val_path, &src[1], &src_len[1])) != RETNET_OK) goto done;
        if (src_len[1] == 0) {
            s = retnet_fail(RETNET_EINVAL, "the validation text %s is empty", val_path);
            goto done;
        }
        retnet_sha256_hex(src[1], src_len[1], sha[1]);
        off[0] = 0; bytes[0] = src_len[0];
        off[1] = 0; bytes[1] = src_len[1];
    } else {
        const char *t = (const char *)src[0];
        int64_t len = src_len[0], want = (int64_t)((double)len * (1 - frac));
        int64_t cut = retnet_text_cut(t, len, want);
        if (cut >= len) { /* no line to cut at: the first character boundary from want */
            cut = want;
            while (cut < len && ((unsigned char)t[cut] & 0xC0) == 0x80) cut++;
        }
        if (cut <= 0 || cut >= len) {
            s = retnet_fail(RETNET_EINVAL, "%s (%lld bytes) is too short to hold out %g of it for "
                            "validation; give more text or --val-data", data_path, (long long)len, frac);
            goto done;
        }
        memcpy(sha[1], sha[0], 65);
        off[0] = 0; bytes[0] = cut;
        off[1] = cut; bytes[1] = len - cut;
    }

    /* only now, with the texts read and split, touch the directory: a bad --data leaves an
     * existing dataset as it was */
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (mkdir(dir, 0777) != 0) {
            s = retnet_fail(RETNET_EIO, "cannot create the directory %s: %s", dir, strerror(errno));
            goto done;
        }
        made = 1;
    } else if (!S_ISDIR(st.st_mode)) {
        s = retnet_fail(RETNET_EIO, "%s exists and is not a directory", dir);
        goto done;
    }
    meta_path = join(dir, "meta.json");
    if (!meta_path) goto oom;
    if (unlink(meta_path) != 0 && errno != ENOENT) {
        s = retnet_fail(RETNET_EIO, "cannot remove the old %s: %s", meta_path, strerror(errno));
        goto done;
    }

    for (int k = 0; k < 2; k++) {
        const char *t = (const char *)src[val_path ? k : 0] + off[k];
        if ((s = write_split(dir, k, tok, t, bytes[k], opts, &tokens[k])) != RETNET_OK) goto done;
        if (tokens[k] == 0) {
            s = retnet_fail(RETNET_EINVAL, "the %s split has no tokens", SPLITS[k]);
            goto done;
        }
    }

    /* the tokenizer as meta.json names it */
    if (retnet_tokenizer_kind_of(tok) == RETNET_TOKENIZER_BPE) {
        char *p = join(dir, "tokenizer.bpe");
        if (!p) goto oom;
        s = retnet_tokenizer_save(tok, p);
        free(p);
        if (s != RETNET_OK) goto done;
        stored_spec = strdup("tokenizer.bpe");
    } else if (is_plain_spec(spec)) {
        stored_spec = strdup(spec);
    } else {
        stored_spec = realpath(spec, NULL);
        if (!stored_spec) {
            s = retnet_fail(RETNET_EIO, "cannot resolve the path %s: %s", spec, strerror(errno));
            goto done;
        }
    }
    if (!stored_spec) goto oom;

    /* meta.json: measure (pass 0), then write (pass 1) */
    int64_t need = 0;
    for (int pass = 0; pass < 2; pass++) {
        json_writer jw;
        if (pass == 1 && !(json = malloc((size_t)need + 1))) goto oom;
        json_writer_init(&jw, json, pass ? (size_t)need + 1 : 0);
        json_put(&jw, "{\n  \"format\": \"retnet-tokens\",\n  \"version\": 1,\n  \"tokenizer\": ");
        json_put_string(&jw, stored_spec);
        json_put(&jw, ",\n  \"tokenizer_source\": ");
        json_put_string(&jw, spec);
        json_putf(&jw, ",\n  \"tokenizer_kind\": \"%s\",\n  \"vocab\": %d,\n  \"bos\": %d,\n  \"eos\": %d,\n"
                  "  \"dtype\": \"%s\",\n", retnet_tokenizer_kind_name(tok), retnet_tokenizer_vocab(tok),
                  retnet_tokenizer_bos(tok), retnet_tokenizer_eos(tok),
                  retnet_tokenizer_vocab(tok) <= 65536 ? "uint16" : "uint32");
        for (int k = 0; k < 2; k++) {
            json_putf(&jw, "  \"%s\": {\"file\": \"%s.bin\", \"tokens\": %lld, \"source\": ", SPLITS[k],
                      SPLITS[k], (long long)tokens[k]);
            json_put_string(&jw, k && val_path ? val_path : data_path);
            json_putf(&jw, ", \"offset\": %lld, \"bytes\": %lld, \"source_sha256\": \"%s\"},\n",
                      (long long)off[k], (long long)bytes[k], sha[k]);
        }
        if (val_path) {
            json_put(&jw, "  \"val_fraction\": null\n}\n");
        } else {
            json_put(&jw, "  \"val_fraction\": ");
            json_put_float(&jw, frac);
            json_put(&jw, "\n}\n");
        }
        need = jw.len;
    }
    s = write_file_atomic(meta_path, json, need);
    if (s == RETNET_OK && retnet_tokenizer_kind_of(tok) != RETNET_TOKENIZER_BPE) {
        /* an earlier build's BPE file, which this meta.json no longer names */
        char *p = join(dir, "tokenizer.bpe");
        if (p) remove(p);
        free(p);
    }
    if (s == RETNET_OK && summary) {
        summary->tokens[0] = tokens[0];
        summary->tokens[1] = tokens[1];
        summary->bytes[0] = bytes[0];
        summary->bytes[1] = bytes[1];
        summary->vocab = retnet_tokenizer_vocab(tok);
        summary->seconds = retnet_now() - t0;
    }
    goto done;
oom:
    s = retnet_fail(RETNET_ENOMEM, "out of memory making the dataset %s", dir);
done:
    if (s != RETNET_OK && made) rmdir(dir); /* made here and left empty: gone again */
    for (int k = 0; k < 2; k++) unmap_file(src[k], src_len[k]);
    free(meta_path);
    free(stored_spec);
    free(json);
    retnet_tokenizer_free(tok);
    return s;
}

struct retnet_dataset {
    char *dir, *spec;
    int32_t vocab, bos;
    int64_t tokens[2];
};

void retnet_dataset_free(retnet_dataset *d) {
    if (!d) return;
    free(d->dir);
    free(d->spec);
    free(d);
}

static int split_index(const char *split) {
    if (split && !strcmp(split, "train")) return 0;
    if (split && !strcmp(split, "val")) return 1;
    return -1;
}

retnet_status retnet_dataset_open(const char *dir, retnet_dataset **out) {
    if (!dir || !out) return retnet_fail(RETNET_EINVAL, "retnet_dataset_open: NULL argument");
    *out = NULL;
    char *meta_path = join(dir, "meta.json");
    retnet_dataset *d = calloc(1, sizeof *d);
    const unsigned char *text = NULL;
    int64_t len = 0;
    json_doc *doc = NULL;
    retnet_status s = RETNET_OK;
    if (!meta_path || !d || !(d->dir = strdup(dir))) {
        s = retnet_fail(RETNET_ENOMEM, "out of memory");
        goto done;
    }
    if (access(meta_path, F_OK) != 0) {
        s = retnet_fail(RETNET_EIO, "%s has no meta.json: not a dataset made by 'retnet tokenize' "
                        "(or the tokenizing did not finish)", dir);
        goto done;
    }
    if ((s = map_file(meta_path, &text, &len)) != RETNET_OK) goto done;
    char err[256];
    if (json_parse((const char *)text, len, &doc, err, sizeof err) != RETNET_OK) {
        s = retnet_fail(RETNET_EFORMAT, "%s: not valid JSON: %s", meta_path, err);
        goto done;
    }
    const json_value *root = json_root(doc), *v;
#define BAD(...) do { s = retnet_fail(RETNET_EFORMAT, __VA_ARGS__); goto done; } while (0)
    if (root->type != JSON_OBJECT) BAD("%s: want a JSON object", meta_path);
    v = json_get(root, "format");
    if (!v || v->type != JSON_STRING || strcmp(v->str, "retnet-tokens"))
        BAD("%s: \"format\" is not \"retnet-tokens\"", meta_path);
    v = json_get(root, "version");
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->inum != 1) BAD("%s: \"version\" is not 1", meta_path);
    v = json_get(root, "tokenizer");
    if (!v || v->type != JSON_STRING || !v->str_len) BAD("%s: no \"tokenizer\" string", meta_path);
    if (is_plain_spec(v->str) || v->str[0] == '/') d->spec = strdup(v->str);
    else d->spec = join(dir, v->str);
    if (!d->spec) {
        s = retnet_fail(RETNET_ENOMEM, "out of memory");
        goto done;
    }
    v = json_get(root, "vocab");
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->inum < 1 || v->inum > INT32_MAX)
        BAD("%s: no valid \"vocab\"", meta_path);
    d->vocab = (int32_t)v->inum;
    for (int k = 0; k < 2; k++) {
        const json_value *o = json_get(root, SPLITS[k]), *n = o ? json_get(o, "tokens") : NULL;
        if (!n || n->type != JSON_NUMBER || !n->is_int || n->inum < 0)
            BAD("%s: no \"%s\": {\"tokens\": N}", meta_path, SPLITS[k]);
        char name[16];
        snprintf(name, sizeof name, "%s.bin", SPLITS[k]);
        char *path = join(dir, name);
        retnet_tokfile *f = NULL;
        if (!path) {
            s = retnet_fail(RETNET_ENOMEM, "out of memory");
            goto done;
        }
        s = retnet_tokfile_open(path, d->vocab, &f);
        if (s == RETNET_OK && retnet_tokfile_count(f) != n->inum)
            s = retnet_fail(RETNET_EFORMAT, "%s holds %lld tokens but %s says %lld; tokenize again",
                            path, (long long)retnet_tokfile_count(f), meta_path, (long long)n->inum);
        if (s == RETNET_OK && k > 0 && retnet_tokfile_bos(f) != d->bos)
            s = retnet_fail(RETNET_EFORMAT, "%s was tokenized with bos %d, the other split with "
                            "%d; tokenize both again", path, retnet_tokfile_bos(f), d->bos);
        if (s == RETNET_OK) {
            d->tokens[k] = retnet_tokfile_count(f);
            d->bos = retnet_tokfile_bos(f);
        }
        retnet_tokfile_close(f);
        free(path);
        if (s != RETNET_OK) goto done;
    }
#undef BAD
done:
    json_free(doc);
    unmap_file(text, len);
    free(meta_path);
    if (s != RETNET_OK) {
        retnet_dataset_free(d);
        d = NULL;
    }
    *out = d;
    return s;
}

const char *retnet_dataset_tokenizer(const retnet_dataset *d) { return d->spec; }
int32_t retnet_dataset_vocab(const retnet_dataset *d) { return d->vocab; }
int32_t retnet_dataset_bos(const retnet_dataset *d) { return d->bos; }
int64_t retnet_dataset_tokens(const retnet_dataset *d, const char *split) {
    int k = split_index(split);
    return k < 0 ? -1 : d->tokens[k];
}

/* ---------------------------------------------------------------- loaders */

struct retnet_loader {
    retnet_tokfile *f;
    int32_t T, bos;       /* bos: the id prepended, or -1 */
    retnet_rng rng;
    int64_t next_window, drawn;
};

void retnet_loader_free(retnet_loader *l) {
    if (!l) return;
    retnet_tokfile_close(l->f);
    free(l);
}

int32_t retnet_loader_T(const retnet_loader *l) { return l->T; }

retnet_status retnet_loader_open_file(const char *path, int32_t expect_vocab, int32_t T, int bos,
                                      uint64_t seed, retnet_loader **out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "retnet_loader_open_file: NULL argument");
    *out = NULL;
    if (T < 2) return retnet_fail(RETNET_EINVAL, "window length %d is below 2", T);
    retnet_tokfile *f;
    retnet_status s = retnet_tokfile_open(path, expect_vocab, &f);
    if (s != RETNET_OK) return s;
    if (bos && retnet_tokfile_bos(f) < 0) {
        retnet_tokfile_close(f);
        return retnet_fail(RETNET_EINVAL, "%s has no bos id to prepend to windows", path);
    }
    int64_t need = bos ? T : (int64_t)T + 1;
    if (retnet_tokfile_count(f) < need) {
        s = retnet_fail(RETNET_EINVAL, "%s holds %lld tokens, shorter than one window of %lld "
                        "(%d tokens%s); use a shorter sequence length or more text", path,
                        (long long)retnet_tokfile_count(f), (long long)need, T,
                        bos ? ", <bos> included" : " plus the last target");
        retnet_tokfile_close(f);
        return s;
    }
    if ((s = retnet_tokfile_check_ids(f)) != RETNET_OK) {
        retnet_tokfile_close(f);
        return s;
    }
    retnet_loader *l = calloc(1, sizeof *l);
    if (!l) {
        retnet_tokfile_close(f);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    l->f = f;
    l->T = T;
    l->bos = bos ? retnet_tokfile_bos(f) : -1;
    retnet_rng_seed(&l->rng, seed);
    *out = l;
    return RETNET_OK;
}

retnet_status retnet_loader_open(const retnet_dataset *d, const char *split, int32_t T,
                                 uint64_t seed, retnet_loader **out) {
    if (!d || !out) return retnet_fail(RETNET_EINVAL, "retnet_loader_open: NULL argument");
    *out = NULL;
    int k = split_index(split);
    if (k < 0) return retnet_fail(RETNET_EINVAL, "unknown split '%s'; use train or val", split ? split : "(null)");
    char name[16];
    snprintf(name, sizeof name, "%s.bin", SPLITS[k]);
    char *path = join(d->dir, name);
    if (!path) return retnet_fail(RETNET_ENOMEM, "out of memory");
    retnet_status s = retnet_loader_open_file(path, d->vocab, T, d->bos >= 0, seed, out);
    free(path);
    return s;
}

/* Uniform in [0, n), n >= 1, without modulo bias. */
static uint64_t rng_below(retnet_rng *r, uint64_t n) {
    uint64_t rem = (UINT64_MAX % n + 1) % n; /* 2^64 mod n: the values to reject at the top */
    for (;;) {
        uint64_t x = retnet_rng_next(r);
        if (x <= UINT64_MAX - rem) return x % n;
    }
}

/* Window at start with r valid targets (r <= T): tokens/targets rows of T. */
static void fill_window(const retnet_loader *l, int64_t start, int64_t r, int32_t *tok, int32_t *tgt) {
    const retnet_tokfile *f = l->f;
    int32_t T = l->T;
    if (l->bos >= 0) {
        for (int64_t j = 0; j < r; j++) tgt[j] = tok_at(f, start + j);
        for (int64_t j = r; j < T; j++) tgt[j] = -1;
        tok[0] = l->bos;
        for (int64_t j = 1; j < T; j++) tok[j] = j - 1 < r ? tgt[j - 1] : l->bos;
    } else {
        for (int64_t j = 0; j < T; j++) {
            tok[j] = j < r ? tok_at(f, start + j) : 0;
            tgt[j] = j < r ? tok_at(f, start + j + 1) : -1;
        }
    }
}

void retnet_loader_next_random(retnet_loader *l, int32_t *tokens, int32_t *targets, int32_t B) {
    int64_t need = l->bos >= 0 ? l->T : (int64_t)l->T + 1;
    uint64_t span = (uint64_t)(l->f->count - need + 1);
    for (int32_t b = 0; b < B; b++) {
        int64_t start = (int64_t)rng_below(&l->rng, span);
        fill_window(l, start, l->T, tokens + (int64_t)b * l->T, targets + (int64_t)b * l->T);
        l->drawn++;
    }
}

int64_t retnet_loader_windows(const retnet_loader *l) {
    int64_t n = l->bos >= 0 ? l->f->count : l->f->count - 1;
    return (n + l->T - 1) / l->T;
}

int32_t retnet_loader_next_sequential(retnet_loader *l, int32_t *tokens, int32_t *targets, int32_t B) {
    int64_t total = retnet_loader_windows(l);
    int64_t n = l->bos >= 0 ? l->f->count : l->f->count - 1; /* targets in all */
    int32_t b = 0;
    for (; b < B && l->next_window < total; b++, l->next_window++) {
        int64_t start = l->next_window * l->T, r = n - start < l->T ? n - start : l->T;
        fill_window(l, start, r, tokens + (int64_t)b * l->T, targets + (int64_t)b * l->T);
    }
    return b;
}

void retnet_loader_rewind(retnet_loader *l) { l->next_window = 0; }

void retnet_loader_get_state(const retnet_loader *l, retnet_loader_state *s) {
    memcpy(s->rng, l->rng.s, sizeof s->rng);
    s->next_window = l->next_window;
    s->drawn = l->drawn;
    s->count = l->f->count;
    s->T = l->T;
    s->bos = l->bos;
}

retnet_status retnet_loader_set_state(retnet_loader *l, const retnet_loader_state *s) {
    if (s->count != l->f->count || s->T != l->T || s->bos != l->bos)
        return retnet_fail(RETNET_EINVAL, "the loader state is for windows of %d tokens (bos %d) "
                           "over %lld tokens; this loader has windows of %d (bos %d) over %lld "
                           "tokens of %s", s->T, s->bos, (long long)s->count, l->T, l->bos,
                           (long long)l->f->count, l->f->path);
    if (!(s->rng[0] | s->rng[1] | s->rng[2] | s->rng[3]))
        return retnet_fail(RETNET_EINVAL, "the loader state's generator is all zero (not a saved state)");
    /* drawn counts windows drawn: a run of 2^62 of them is not a saved state (and would
     * overflow as it counts on) */
    if (s->next_window < 0 || s->next_window > retnet_loader_windows(l) || s->drawn < 0 ||
        s->drawn > ((int64_t)1 << 62))
        return retnet_fail(RETNET_EINVAL, "the loader state's positions are out of range");
    memcpy(l->rng.s, s->rng, sizeof s->rng);
    l->next_window = s->next_window;
    l->drawn = s->drawn;
    return RETNET_OK;
}

#define STATE_FMT "rtl1:%d:%d:%lld:%lld:%lld:%016llx:%016llx:%016llx:%016llx"

int retnet_loader_state_str(const retnet_loader *l, char *buf, size_t cap) {
    retnet_loader_state s;
    retnet_loader_get_state(l, &s);
    return snprintf(buf, cap, STATE_FMT, s.T, s.bos, (long long)s.count, (long long)s.next_window,
                    (long long)s.drawn, (unsigned long long)s.rng[0], (unsigned long long)s.rng[1],
                    (unsigned long long)s.rng[2], (unsigned long long)s.rng[3]);
}

retnet_status retnet_loader_state_parse(retnet_loader *l, const char *str) {
    /* By hand, not sscanf: a number too big for its field is undefined behaviour for sscanf
     * (glibc wraps "4294967298" into the int 2, so a damaged state would pass as T = 2). Five
     * decimal fields (T and bos within int32), then four hex words, all ':'-separated. */
    long long v[5];
    unsigned long long r[4];
    const char *p = str;
    int ok = str && !strncmp(str, "rtl1:", 5);
    if (ok) p += 5;
    for (int i = 0; ok && i < 9; i++) {
        char *end = NULL;
        errno = 0;
        if (i < 5) {
            ok = isdigit((unsigned char)p[0]) || (p[0] == '-' && isdigit((unsigned char)p[1]));
            if (ok) v[i] = strtoll(p, &end, 10);
        } else {
            ok = isxdigit((unsigned char)p[0]);
            if (ok) r[i - 5] = strtoull(p, &end, 16);
        }
        ok = ok && !errno && *end == (i < 8 ? ':' : '\0');
        if (ok) p = end + 1;
    }
    if (!ok || v[0] < INT32_MIN || v[0] > INT32_MAX || v[1] < INT32_MIN || v[1] > INT32_MAX)
        return retnet_fail(RETNET_EFORMAT, "'%.80s' is not a loader state (rtl1:T:bos:count:next:drawn:rng)",
                           str ? str : "(null)");
    retnet_loader_state s;
    s.T = (int32_t)v[0];
    s.bos = (int32_t)v[1];
    s.count = v[2];
    s.next_window = v[3];
    s.drawn = v[4];
    for (int i = 0; i < 4; i++) s.rng[i] = r[i];
    return retnet_loader_set_state(l, &s);
}
