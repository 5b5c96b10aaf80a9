/*
 * safetensors.c: the safetensors reader and streaming writer of safetensors.h.
 *
 * Byte order: the format is little-endian. F32 data is read straight into the destination
 * on a little-endian host; everything else (16-bit types, F64, a big-endian host) goes
 * through a staging buffer and is assembled from bytes explicitly, so no unaligned or
 * host-order load is ever made.
 */
#include "safetensors.h"
#include "internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name; int size; } DTYPES[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1},     [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},       [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},     [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},       [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}
int st_dtype_size(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? DTYPES[t].size : 0; }

/* ---------------------------------------------------------------- conversions */

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN with its payload */
    } else {
        bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t st_f32_to_bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1); /* round to nearest, ties to even */
    return (uint16_t)(bits >> 16);
}

static inline uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}
static inline uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }

/* ---------------------------------------------------------------- reader */

/* Formats a shape as "[a, b]" for messages. */
static const char *shape_str(const int64_t *shape, int32_t ndim, char *buf, size_t cap) {
    json_writer w;
    json_writer_init(&w, buf, cap);
    json_put(&w, "[");
    for (int32_t i = 0; i < ndim; i++) json_putf(&w, i ? ", %lld" : "%lld", (long long)shape[i]);
    json_put(&w, "]");
    return buf;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}
static int cmp_by_begin(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Checks one header entry and fills *t. */
static retnet_status parse_entry(const st_file *f, const json_value *e, st_tensor *t) {
    const char *path = f->path, *name = e->key;
    t->name = name;
    if (e->type != JSON_OBJECT)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": the entry must be a JSON "
                           "object, got a %s", path, name, json_type_name(e->type));
    const json_value *dt = json_get(e, "dtype"), *sh = json_get(e, "shape"),
                     *off = json_get(e, "data_offsets");
    if (!dt || !sh || !off)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": missing \"%s\"", path, name,
                           !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (dt->type != JSON_STRING)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": dtype must be a string, got "
                           "a %s", path, name, json_type_name(dt->type));
    int found = -1;
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(dt->str, DTYPES[i].name)) found = i;
    if (found < 0)
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: tensor \"%.200s\": unknown dtype \"%.40s\" "
                           "(known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, "
                           "U32, F32, F64, I64, U64)", path, name, dt->str);
    t->dtype = (st_dtype)found;

    if (sh->type != JSON_ARRAY)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": shape must be an array, got "
                           "a %s", path, name, json_type_name(sh->type));
    if (sh->count > ST_MAX_DIMS)
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: tensor \"%.200s\": shape has %d "
                           "dimensions (at most %d supported)", path, name, sh->count,
                           ST_MAX_DIMS);
    t->ndim = sh->count;
    t->numel = 1;
    int32_t i = 0;
    for (const json_value *d = sh->child; d; d = d->next, i++) {
        if (d->type != JSON_NUMBER || !d->is_int || d->inum < 0)
            return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": shape[%d] must be a "
                               "non-negative integer below 2^63%s", path, name, i,
                               d->type == JSON_NUMBER && d->is_int ? " (it is negative)" : "");
        t->shape[i] = d->inum;
        if (!retnet_mul_ok(t->numel, d->inum, &t->numel))
            return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": the element count of "
                               "its shape overflows 64 bits", path, name);
    }
    int64_t bytes;
    if (!retnet_mul_ok(t->numel, DTYPES[t->dtype].size, &bytes))
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": its byte size overflows 64 "
                           "bits", path, name);

    if (off->type != JSON_ARRAY || off->count != 2 || off->child->type != JSON_NUMBER ||
        !off->child->is_int || off->child->inum < 0 || off->child->next->type != JSON_NUMBER ||
        !off->child->next->is_int || off->child->next->inum < 0)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": data_offsets must be two "
                           "integers in [0, 2^63)", path, name);
    t->begin = off->child->inum;
    t->end = off->child->next->inum;
    if (t->begin > t->end)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": data_offsets [%lld, %lld] "
                           "end before they begin", path, name, (long long)t->begin,
                           (long long)t->end);
    if (t->end - t->begin != bytes) {
        char s[256];
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": data_offsets [%lld, %lld] "
                           "hold %lld bytes, but dtype %s and shape %s need %lld (size "
                           "mismatch)", path, name, (long long)t->begin, (long long)t->end,
                           (long long)(t->end - t->begin), DTYPES[t->dtype].name,
                           shape_str(t->shape, t->ndim, s, sizeof s), (long long)bytes);
    }
    if (t->end > f->data_size)
        return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\": data_offsets [%lld, %lld] "
                           "go beyond the end of the data (%lld bytes): the file is truncated "
                           "or corrupt", path, name, (long long)t->begin, (long long)t->end,
                           (long long)f->data_size);
    return RETNET_OK;
}

static retnet_status parse_metadata(st_file *f, const json_value *m) {
    if (m->type != JSON_OBJECT)
        return retnet_fail(RETNET_EFORMAT, "%s: __metadata__ must be an object of strings, got "
                           "a %s", f->path, json_type_name(m->type));
    f->meta = calloc((size_t)m->count + 1, sizeof *f->meta);
    if (!f->meta) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", f->path);
    for (const json_value *v = m->child; v; v = v->next) {
        if (v->type != JSON_STRING)
            return retnet_fail(RETNET_EFORMAT, "%s: __metadata__ \"%.200s\" must be a string, "
                               "got a %s", f->path, v->key, json_type_name(v->type));
        f->meta[f->n_meta].key = v->key;
        f->meta[f->n_meta].value = v->str;
        f->n_meta++;
    }
    return RETNET_OK;
}

/* The header JSON and its entries. */
static retnet_status parse_header(st_file *f, int64_t header_len) {
    char err[256];
    retnet_status s = json_parse(f->header, header_len, &f->doc, err, sizeof err);
    if (s == RETNET_ENOMEM) return retnet_fail(s, "%s: header: %s", f->path, err);
    if (s != RETNET_OK)
        return retnet_fail(RETNET_EFORMAT, "%s: header is not valid JSON: %s", f->path, err);
    const json_value *root = json_root(f->doc);
    if (root->type != JSON_OBJECT)
        return retnet_fail(RETNET_EFORMAT, "%s: header must be a JSON object, got a %s", f->path,
                           json_type_name(root->type));
    f->tensors = calloc((size_t)root->count + 1, sizeof *f->tensors);
    if (!f->tensors) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", f->path);
    for (const json_value *e = root->child; e; e = e->next) {
        if (!strcmp(e->key, "__metadata__")) {
            if ((s = parse_metadata(f, e)) != RETNET_OK) return s;
            continue;
        }
        if ((s = parse_entry(f, e, &f->tensors[f->n_tensors])) != RETNET_OK) return s;
        f->n_tensors++;
    }
    /* Names are unique (the JSON parser rejects duplicate keys); check again, cheaply, since
     * lookups depend on it. */
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_by_name);
    for (int32_t i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\" appears twice", f->path,
                               f->tensors[i].name);
    /* The data must be packed, as the reference reader (huggingface/safetensors) requires:
     * sorted by offset, the tensors cover it from byte 0 to the end of the file, each one
     * beginning where the one before ends. One pass finds an overlap (a tensor beginning
     * before that), a hole and bytes appended after the data, so a file is read here exactly
     * when PyTorch's loader reads it. Empty tensors sit between their neighbours. */
    const st_tensor **order = malloc(sizeof *order * (size_t)(f->n_tensors + 1));
    if (!order) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", f->path);
    for (int32_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_by_begin);
    int64_t at = 0;
    const st_tensor *prev = NULL; /* the tensor that ends at `at` */
    for (int32_t i = 0; i < f->n_tensors && s == RETNET_OK; i++) {
        const st_tensor *t = order[i];
        if (t->begin < at)
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\" begins at byte %lld of the "
                            "data, inside \"%.200s\" [%lld, %lld]: the tensors overlap", f->path,
                            t->name, (long long)t->begin, prev->name, (long long)prev->begin,
                            (long long)prev->end);
        else if (t->begin > at)
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.200s\" begins at byte %lld of the "
                            "data, but the tensors before it end at %lld: safetensors data must "
                            "be packed without gaps (corrupt or hand-made file)", f->path,
                            t->name, (long long)t->begin, (long long)at);
        if (t->end > at || !prev) at = t->end, prev = t;
    }
    if (s == RETNET_OK && at != f->data_size)
        s = retnet_fail(RETNET_EFORMAT, "%s: %lld bytes follow the last tensor's data (the "
                        "tensors cover %lld of %lld data bytes): the file was appended to or is "
                        "corrupt", f->path, (long long)(f->data_size - at), (long long)at,
                        (long long)f->data_size);
    free(order);
    return s;
}

/* Reads exactly n bytes at offset off; a short read means the file changed under us. */
static retnet_status read_at(const st_file *f, void *dst, int64_t n, int64_t off) {
    unsigned char *b = dst;
    while (n > 0) {
        ssize_t k = pread(f->fd, b, (size_t)(n > (1 << 30) ? (1 << 30) : n), (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return retnet_fail(RETNET_EIO, "%s: read error: %s", f->path, strerror(errno));
        if (k == 0)
            return retnet_fail(RETNET_EIO, "%s: unexpected end of file at byte %lld (did the "
                               "file change while it was read?)", f->path, (long long)off);
        b += k;
        off += k;
        n -= k;
    }
    return RETNET_OK;
}

retnet_status st_open(const char *path, st_file **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "st_open: NULL argument");
    *out = NULL;
    if (!path) return retnet_fail(RETNET_EINVAL, "st_open: NULL path");
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (fstat rejects it next). */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    retnet_status s = RETNET_OK;
    struct stat st;
    unsigned char len8[8];
    if (f->fd < 0) {
        s = retnet_fail(RETNET_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = retnet_fail(RETNET_EIO, "%s: not a regular file", path);
        goto done;
    }
    f->file_size = (int64_t)st.st_size;
    if (f->file_size < 8) {
        s = retnet_fail(RETNET_EFORMAT, "%s: truncated: %lld bytes, but a safetensors file "
                        "starts with an 8-byte header length", path, (long long)f->file_size);
        goto done;
    }
    if (pread(f->fd, len8, 8, 0) != 8) {
        s = retnet_fail(RETNET_EIO, "%s: cannot read the header length: %s", path,
                        strerror(errno));
        goto done;
    }
    uint64_t n = le64(len8);
    if (n > (uint64_t)ST_MAX_HEADER) {
        s = retnet_fail(RETNET_EFORMAT, "%s: header length %llu is over the limit of %lld bytes "
                        "(not a safetensors file, or corrupt)", path, (unsigned long long)n,
                        (long long)ST_MAX_HEADER);
        goto done;
    }
    if ((int64_t)n > f->file_size - 8) {
        s = retnet_fail(RETNET_EFORMAT, "%s: truncated: header length %llu, but only %lld bytes "
                        "follow it", path, (unsigned long long)n, (long long)(f->file_size - 8));
        goto done;
    }
    f->header = malloc((size_t)n + 1);
    if (!f->header) {
        s = retnet_fail(RETNET_ENOMEM, "%s: out of memory for a %llu-byte header", path,
                        (unsigned long long)n);
        goto done;
    }
    if ((s = read_at(f, f->header, (int64_t)n, 8)) != RETNET_OK) goto done;
    f->data_start = 8 + (int64_t)n;
    f->data_size = f->file_size - f->data_start;
    s = parse_header(f, (int64_t)n);
done:
    if (s != RETNET_OK) {
        st_close(f);
        return s;
    }
    *out = f;
    return RETNET_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    free(f->header);
    if (f->fd >= 0) close(f->fd);
    json_free(f->doc);
    free(f->tensors);
    free(f->meta);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    st_tensor key;
    key.name = name;
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_by_name);
}

const char *st_meta_get(const st_file *f, const char *key) {
    for (int32_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

retnet_status st_read_f32(const st_file *f, const st_tensor *t, float *dst) {
    int size = st_dtype_size(t->dtype);
    if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16 && t->dtype != ST_F64)
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: tensor \"%.200s\": dtype %s cannot be "
                           "loaded as parameters (F32, F16, BF16 or F64 only)", f->path, t->name,
                           st_dtype_name(t->dtype));
    int64_t off = f->data_start + t->begin;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (t->dtype == ST_F32) return read_at(f, dst, 4 * t->numel, off); /* the bytes are floats */
#endif
    /* Through a staging buffer, a whole number of elements at a time. */
    enum { STAGE = 1 << 20 };
    unsigned char *stage = malloc(STAGE);
    if (!stage) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", f->path);
    retnet_status s = RETNET_OK;
    for (int64_t i = 0; i < t->numel && s == RETNET_OK;) {
        int64_t n = t->numel - i < STAGE / size ? t->numel - i : STAGE / size;
        if ((s = read_at(f, stage, n * size, off + i * size)) != RETNET_OK) break;
        const unsigned char *b = stage;
        for (int64_t j = 0; j < n; j++, b += size) {
            switch (t->dtype) {
            case ST_BF16: dst[i + j] = st_bf16_to_f32(le16(b)); break;
            case ST_F16: dst[i + j] = st_f16_to_f32(le16(b)); break;
            case ST_F32: {
                uint32_t u = le32(b);
                memcpy(&dst[i + j], &u, 4);
                break;
            }
            default: {
                uint64_t u = le64(b);
                double d;
                memcpy(&d, &u, 8);
                dst[i + j] = (float)d;
            }
            }
        }
        i += n;
    }
    free(stage);
    return s;
}

retnet_status st_read_bf16(const st_file *f, const st_tensor *t, uint16_t *dst) {
    if (t->dtype != ST_BF16) { /* through float32, rounded to nearest even */
        enum { PIECE = 1 << 18 };
        float *buf = malloc(sizeof(float) * (size_t)(t->numel < PIECE ? t->numel : PIECE));
        if (!buf) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", f->path);
        retnet_status s = RETNET_OK;
        st_tensor part = *t;
        int size = st_dtype_size(t->dtype);
        for (int64_t i = 0; i < t->numel && s == RETNET_OK; i += PIECE) {
            part.numel = t->numel - i < PIECE ? t->numel - i : PIECE;
            part.begin = t->begin + i * size;
            part.end = part.begin + part.numel * size;
            s = st_read_f32(f, &part, buf);
            for (int64_t j = 0; s == RETNET_OK && j < part.numel; j++)
                dst[i + j] = st_f32_to_bf16(buf[j]);
        }
        free(buf);
        return s;
    }
    int64_t off = f->data_start + t->begin;
    retnet_status s = read_at(f, dst, 2 * t->numel, off);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    for (int64_t i = 0; s == RETNET_OK && i < t->numel; i++)
        dst[i] = le16((const unsigned char *)&dst[i]);
#endif
    return s;
}

/* ---------------------------------------------------------------- writer */

#define STAGE_BYTES (1 << 20)

struct st_writer {
    char *path, *tmp;
    int fd;
    int failed;             /* a write failed: finish reports it */
    st_dtype *dtypes;
    int64_t *numel;
    char **names;
    int32_t n, cur;         /* tensors, and the one being written */
    int64_t cur_done;       /* values of the current tensor written so far */
    unsigned char *stage;   /* conversion and write buffer */
    int64_t staged;
};

static retnet_status write_all(st_writer *w, const unsigned char *b, int64_t n) {
    while (n > 0) {
        ssize_t k = write(w->fd, b, (size_t)(n > (1 << 30) ? (1 << 30) : n));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            w->failed = 1;
            return retnet_fail(RETNET_EIO, "%s: write failed: %s", w->tmp,
                               k < 0 ? strerror(errno) : "no progress");
        }
        b += k;
        n -= k;
    }
    return RETNET_OK;
}

static retnet_status flush_stage(st_writer *w) {
    retnet_status s = write_all(w, w->stage, w->staged);
    w->staged = 0;
    return s;
}

static void writer_free(st_writer *w) {
    if (!w) return;
    if (w->names)
        for (int32_t i = 0; i < w->n; i++) free(w->names[i]);
    free(w->names);
    free(w->dtypes);
    free(w->numel);
    free(w->stage);
    free(w->path);
    free(w->tmp);
    free(w);
}

void st_writer_abort(st_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp) unlink(w->tmp);
    writer_free(w);
}

/* The header JSON for these tensors, unpadded, into jw (measure with cap 0 first). */
static void put_header(json_writer *jw, const st_meta *meta, int32_t n_meta, const st_spec *specs,
                       int32_t n, const int64_t *numel) {
    json_put(jw, "{");
    int first = 1;
    if (n_meta > 0) {
        json_put(jw, "\"__metadata__\":{");
        for (int32_t i = 0; i < n_meta; i++) {
            if (i) json_put(jw, ",");
            json_put_string(jw, meta[i].key);
            json_put(jw, ":");
            json_put_string(jw, meta[i].value);
        }
        json_put(jw, "}");
        first = 0;
    }
    int64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!first) json_put(jw, ",");
        first = 0;
        json_put_string(jw, specs[i].name);
        json_putf(jw, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(specs[i].dtype));
        for (int32_t d = 0; d < specs[i].ndim; d++)
            json_putf(jw, d ? ",%lld" : "%lld", (long long)specs[i].shape[d]);
        int64_t bytes = numel[i] * st_dtype_size(specs[i].dtype);
        json_putf(jw, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + bytes));
        off += bytes;
    }
    json_put(jw, "}");
}

retnet_status st_writer_open(const char *path, const st_meta *meta, int32_t n_meta,
                             const st_spec *specs, int32_t n, st_writer **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "st_writer_open: NULL argument");
    *out = NULL;
    if (!path || (n > 0 && !specs) || n < 0 || (n_meta > 0 && !meta) || n_meta < 0)
        return retnet_fail(RETNET_EINVAL, "st_writer_open: bad arguments");
    st_writer *w = calloc(1, sizeof *w);
    if (!w) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    w->fd = -1;
    w->n = n;
    size_t tmp_len = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(tmp_len);
    w->dtypes = calloc((size_t)n + 1, sizeof *w->dtypes);
    w->numel = calloc((size_t)n + 1, sizeof *w->numel);
    w->names = calloc((size_t)n + 1, sizeof *w->names);
    w->stage = malloc(STAGE_BYTES);
    if (!w->path || !w->tmp || !w->dtypes || !w->numel || !w->names || !w->stage) {
        writer_free(w);
        return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());

    /* Check the tensors before touching the disk. */
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        const st_spec *sp = &specs[i];
        if (!sp->name || !sp->name[0] || !strcmp(sp->name, "__metadata__")) {
            writer_free(w);
            return retnet_fail(RETNET_EINVAL, "%s: tensor %d has an invalid name", path, i);
        }
        if (sp->dtype != ST_F32 && sp->dtype != ST_BF16) {
            writer_free(w);
            return retnet_fail(RETNET_EINVAL, "%s: tensor \"%.200s\": can only write F32 or BF16",
                               path, sp->name);
        }
        if (sp->ndim < 0 || sp->ndim > ST_MAX_DIMS) {
            writer_free(w);
            return retnet_fail(RETNET_EINVAL, "%s: tensor \"%.200s\": %d dimensions", path,
                               sp->name, sp->ndim);
        }
        int64_t ne = 1, bytes;
        for (int32_t d = 0; d < sp->ndim; d++)
            if (sp->shape[d] < 0 || !retnet_mul_ok(ne, sp->shape[d], &ne)) ne = -1;
        if (ne < 0 || !retnet_mul_ok(ne, st_dtype_size(sp->dtype), &bytes) ||
            !retnet_add_ok(total, bytes, &total)) {
            writer_free(w);
            return retnet_fail(RETNET_EINVAL, "%s: tensor \"%.200s\": bad shape or size", path,
                               sp->name);
        }
        w->numel[i] = ne;
        w->dtypes[i] = sp->dtype;
        if (!(w->names[i] = strdup(sp->name))) {
            writer_free(w);
            return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
        }
    }

    /* The header: measure, write, pad with spaces so that the data starts at 8 + N with N a
     * multiple of 8. */
    json_writer jw;
    json_writer_init(&jw, NULL, 0);
    put_header(&jw, meta, n_meta, specs, n, w->numel);
    int64_t raw = jw.len, padded = (raw + 7) / 8 * 8;
    if (padded > ST_MAX_HEADER) {
        writer_free(w);
        return retnet_fail(RETNET_EINVAL, "%s: header of %lld bytes is over the limit", path,
                           (long long)padded);
    }
    char *hdr = malloc((size_t)padded + 9);
    if (!hdr) {
        writer_free(w);
        return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < 8; i++) hdr[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    json_writer_init(&jw, hdr + 8, (size_t)raw + 1);
    put_header(&jw, meta, n_meta, specs, n, w->numel);
    memset(hdr + 8 + raw, ' ', (size_t)(padded - raw));

    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        free(hdr);
        retnet_status s = retnet_fail(RETNET_EIO, "%s: cannot create %s: %s", path, w->tmp,
                                      strerror(errno));
        writer_free(w);
        return s;
    }
    retnet_status s = write_all(w, (const unsigned char *)hdr, 8 + padded);
    free(hdr);
    if (s != RETNET_OK) {
        st_writer_abort(w);
        return s;
    }
    /* Skip leading empty tensors so that cur always points at one with room left. */
    while (w->cur < w->n && w->numel[w->cur] == 0) w->cur++;
    *out = w;
    return RETNET_OK;
}

retnet_status st_writer_put(st_writer *w, const float *data, int64_t n) {
    if (!w) return retnet_fail(RETNET_EINVAL, "st_writer_put: NULL writer");
    if (w->failed) return retnet_fail(RETNET_EIO, "%s: an earlier write failed", w->tmp);
    if (n < 0 || (n > 0 && !data)) return retnet_fail(RETNET_EINVAL, "st_writer_put: bad data");
    if (n == 0) return RETNET_OK;
    if (w->cur >= w->n) {
        w->failed = 1;
        return retnet_fail(RETNET_EINVAL, "%s: %lld values given after the last tensor", w->path,
                           (long long)n);
    }
    if (n > w->numel[w->cur] - w->cur_done) {
        w->failed = 1;
        return retnet_fail(RETNET_EINVAL, "%s: tensor \"%.200s\": %lld values given, only %lld "
                           "left", w->path, w->names[w->cur], (long long)n,
                           (long long)(w->numel[w->cur] - w->cur_done));
    }
    int size = st_dtype_size(w->dtypes[w->cur]);
    for (int64_t i = 0; i < n; i++) {
        if (w->staged + size > STAGE_BYTES) {
            retnet_status s = flush_stage(w);
            if (s != RETNET_OK) return s;
        }
        unsigned char *b = w->stage + w->staged;
        if (w->dtypes[w->cur] == ST_F32) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            b[0] = (unsigned char)u; b[1] = (unsigned char)(u >> 8);
            b[2] = (unsigned char)(u >> 16); b[3] = (unsigned char)(u >> 24);
        } else {
            uint16_t u = st_f32_to_bf16(data[i]);
            b[0] = (unsigned char)u; b[1] = (unsigned char)(u >> 8);
        }
        w->staged += size;
    }
    w->cur_done += n;
    if (w->cur_done == w->numel[w->cur]) {
        w->cur++;
        w->cur_done = 0;
        while (w->cur < w->n && w->numel[w->cur] == 0) w->cur++;
    }
    return RETNET_OK;
}

/* Makes the rename durable: fsync of the directory that holds path (best effort). */
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

retnet_status st_writer_finish(st_writer *w) {
    if (!w) return retnet_fail(RETNET_EINVAL, "st_writer_finish: NULL writer");
    retnet_status s = RETNET_OK;
    if (w->failed) {
        s = retnet_fail(RETNET_EIO, "%s: not written: an earlier write failed", w->path);
    } else if (w->cur < w->n) {
        s = retnet_fail(RETNET_EINVAL, "%s: tensor \"%.200s\": only %lld of %lld values were "
                        "written", w->path, w->names[w->cur], (long long)w->cur_done,
                        (long long)w->numel[w->cur]);
    }
    if (s == RETNET_OK) s = flush_stage(w);
    if (s == RETNET_OK && fsync(w->fd) != 0)
        s = retnet_fail(RETNET_EIO, "%s: fsync failed: %s", w->tmp, strerror(errno));
    if (s != RETNET_OK) {
        st_writer_abort(w);
        return s;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        s = retnet_fail(RETNET_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
        st_writer_abort(w);
        return s;
    }
    if (rename(w->tmp, w->path) != 0) {
        s = retnet_fail(RETNET_EIO, "%s: cannot rename %s over it: %s", w->path, w->tmp,
                        strerror(errno));
        st_writer_abort(w);
        return s;
    }
    sync_dir(w->path);
    writer_free(w);
    return RETNET_OK;
}
