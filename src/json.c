/*
 * json.c: the strict JSON parser and string writer of json.h.
 *
 * The parser is recursive descent with an explicit depth cap (JSON_MAX_DEPTH), so the C
 * stack is bounded whatever the input. It runs twice over the text: pass 1 (build = 0)
 * validates and counts nodes and decoded string bytes; pass 2 (build = 1) fills one
 * allocation of exactly that size. Both passes run the same code, so they cannot disagree.
 */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_doc {
    json_value *root;
    json_value *nodes;
    char *strings;
};

typedef struct {
    const unsigned char *s;
    int64_t len, pos;
    int build;                 /* 0: counting pass, 1: building pass */
    json_value *nodes;         /* build: the node array */
    int64_t n_nodes;
    char *strbuf;              /* build: the decoded strings */
    int64_t str_used;
    char *err;
    size_t errcap;
    int failed;
    int oom;
} parser;

/* Records the first error with its line and column (computed only on failure). */
static int fail_at(parser *p, int64_t pos, const char *fmt, ...) {
    if (p->failed) return 0;
    p->failed = 1;
    if (!p->err || p->errcap == 0) return 0;
    int64_t line = 1, col = 1;
    if (pos > p->len) pos = p->len;
    for (int64_t i = 0; i < pos; i++) {
        if (p->s[i] == '\n') { line++; col = 1; }
        else col++;
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errcap, "line %lld, column %lld: %s", (long long)line, (long long)col,
             what);
    return 0;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Describes the byte at pos for messages ("end of text", "'x'" or "byte 0xNN"). */
static const char *describe(parser *p, int64_t pos, char *buf, size_t cap) {
    if (pos >= p->len) snprintf(buf, cap, "end of text");
    else if (p->s[pos] >= 0x20 && p->s[pos] < 0x7f) snprintf(buf, cap, "'%c'", p->s[pos]);
    else snprintf(buf, cap, "byte 0x%02x", p->s[pos]);
    return buf;
}

static json_value *new_node(parser *p, json_type type, int64_t offset) {
    if (p->n_nodes >= JSON_MAX_NODES) {
        fail_at(p, offset, "more than %d values", JSON_MAX_NODES);
        return NULL;
    }
    int64_t i = p->n_nodes++;
    if (!p->build) return (json_value *)p; /* any non-NULL marker: nothing is stored */
    json_value *v = &p->nodes[i];
    memset(v, 0, sizeof *v);
    v->type = type;
    v->offset = offset;
    return v;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at p->pos; -1 on error. */
static int32_t read_hex4(parser *p) {
    if (p->len - p->pos < 4) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    p->pos += 4;
    return v;
}

/* Appends decoded bytes to the current string (counting pass: only counts). */
static void emit(parser *p, const unsigned char *b, int n) {
    if (p->build) memcpy(p->strbuf + p->str_used, b, (size_t)n);
    p->str_used += n;
}

/* Length of the valid UTF-8 sequence at pos, or 0 if it is not one. */
static int utf8_len(parser *p, int64_t pos) {
    const unsigned char *s = p->s + pos;
    int64_t left = p->len - pos;
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) { n = 3; lo = 0xa0; }
    else if (c >= 0xe1 && c <= 0xec) n = 3;
    else if (c == 0xed) { n = 3; hi = 0x9f; }  /* no UTF-16 surrogates */
    else if (c >= 0xee && c <= 0xef) n = 3;
    else if (c == 0xf0) { n = 4; lo = 0x90; }  /* no overlong forms */
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else if (c == 0xf4) { n = 4; hi = 0x8f; }  /* nothing above U+10FFFF */
    else return 0;
    if (left < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

/* Parses a string at p->pos (which is '"'); *out gets the decoded text in the build pass. */
static int parse_string(parser *p, const char **out, int64_t *out_len) {
    int64_t start = p->pos;
    p->pos++; /* the opening quote */
    int64_t begin = p->str_used;
    for (;;) {
        if (p->pos >= p->len) return fail_at(p, start, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20)
            return fail_at(p, p->pos, "control character 0x%02x in a string (write it as an "
                           "escape)", c);
        if (c == '\\') {
            int64_t esc = p->pos;
            p->pos++;
            if (p->pos >= p->len) return fail_at(p, start, "unterminated string");
            unsigned char e = p->s[p->pos++];
            unsigned char b;
            switch (e) {
            case '"': b = '"'; break;
            case '\\': b = '\\'; break;
            case '/': b = '/'; break;
            case 'b': b = '\b'; break;
            case 'f': b = '\f'; break;
            case 'n': b = '\n'; break;
            case 'r': b = '\r'; break;
            case 't': b = '\t'; break;
            case 'u': {
                int32_t cp = read_hex4(p);
                if (cp < 0) return fail_at(p, esc, "\\u must be followed by 4 hex digits");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail_at(p, esc, "lone low surrogate \\u%04x", (unsigned)cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    /* A high surrogate must be followed by an escaped low surrogate. */
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return fail_at(p, esc, "high surrogate \\u%04x without a low surrogate",
                                       (unsigned)cp);
                    p->pos += 2;
                    int32_t lo = read_hex4(p);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail_at(p, esc, "high surrogate \\u%04x without a low surrogate",
                                       (unsigned)cp);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0) return fail_at(p, esc, "\\u0000 (NUL) is not allowed in strings");
                unsigned char u[4];
                int n;
                if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
                else if (cp < 0x800) {
                    u[0] = (unsigned char)(0xc0 | (cp >> 6));
                    u[1] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 2;
                } else if (cp < 0x10000) {
                    u[0] = (unsigned char)(0xe0 | (cp >> 12));
                    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    u[2] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 3;
                } else {
                    u[0] = (unsigned char)(0xf0 | (cp >> 18));
                    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    u[3] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 4;
                }
                emit(p, u, n);
                continue;
            }
            default: {
                char d[32];
                return fail_at(p, esc, "unknown escape \\%s", describe(p, esc + 1, d, sizeof d));
            }
            }
            emit(p, &b, 1);
            continue;
        }
        if (c < 0x80) {
            emit(p, &c, 1);
            p->pos++;
            continue;
        }
        int n = utf8_len(p, p->pos);
        if (!n) return fail_at(p, p->pos, "invalid UTF-8 byte 0x%02x in a string", c);
        emit(p, p->s + p->pos, n);
        p->pos += n;
    }
    unsigned char nul = 0;
    emit(p, &nul, 1);
    if (p->build) {
        *out = p->strbuf + begin;
        *out_len = p->str_used - begin - 1;
    }
    return 1;
}

static int is_digit(parser *p, int64_t pos) {
    return pos < p->len && p->s[pos] >= '0' && p->s[pos] <= '9';
}

/* Parses a number (grammar of RFC 8259 §6), its double value and, for integer literals, the
 * exact int64 value when it fits (safetensors offsets must not go through a double). */
static int parse_number(parser *p, json_value *v) {
    int64_t start = p->pos, pos = p->pos;
    int neg = 0, integer = 1;
    if (p->s[pos] == '-') { neg = 1; pos++; }
    if (!is_digit(p, pos)) return fail_at(p, start, "invalid number");
    if (p->s[pos] == '0') {
        pos++;
        if (is_digit(p, pos)) return fail_at(p, start, "leading zeros are not allowed in numbers");
    } else {
        while (is_digit(p, pos)) pos++;
    }
    if (pos < p->len && p->s[pos] == '.') {
        integer = 0;
        pos++;
        if (!is_digit(p, pos)) return fail_at(p, start, "a digit must follow the decimal point");
        while (is_digit(p, pos)) pos++;
    }
    if (pos < p->len && (p->s[pos] == 'e' || p->s[pos] == 'E')) {
        integer = 0;
        pos++;
        if (pos < p->len && (p->s[pos] == '+' || p->s[pos] == '-')) pos++;
        if (!is_digit(p, pos)) return fail_at(p, start, "a digit must follow the exponent");
        while (is_digit(p, pos)) pos++;
    }
    int64_t n = pos - start;
    char buf[400];
    if (n >= (int64_t)sizeof buf) return fail_at(p, start, "number longer than %d characters",
                                                 (int)sizeof buf - 1);
    memcpy(buf, p->s + start, (size_t)n);
    buf[n] = 0;
    /* strtod follows the C locale's decimal point; JSON's is always '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *dot = strchr(buf, '.');
        if (dot) *dot = dp[0];
    }
    double d = strtod(buf, NULL);
    if (!isfinite(d)) return fail_at(p, start, "number %s is out of range", buf);
    p->pos = pos;
    if (!p->build) return 1;
    v->num = d;
    if (integer) {
        /* Accumulate negatively so that INT64_MIN fits. */
        int64_t acc = 0;
        int ok = 1;
        for (int64_t i = neg; i < n; i++) {
            int digit = buf[i] - '0';
            if (acc < (INT64_MIN + digit) / 10) { ok = 0; break; }
            acc = acc * 10 - digit;
        }
        if (ok && !neg && acc == INT64_MIN) ok = 0;
        if (ok) {
            v->is_int = 1;
            v->inum = neg ? acc : -acc;
        }
    }
    return 1;
}

static int literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if ((int64_t)n > p->len - p->pos || memcmp(p->s + p->pos, word, n)) return 0;
    p->pos += (int64_t)n;
    return 1;
}

static int cmp_member_keys(const void *a, const void *b) {
    const json_value *x = *(const json_value *const *)a, *y = *(const json_value *const *)b;
    return strcmp(x->key, y->key);
}

/* Rejects an object with two members of the same key (build pass only). */
static int check_duplicates(parser *p, json_value *obj) {
    if (obj->count < 2) return 1;
    const json_value *dup = NULL;
    if (obj->count <= 16) {
        for (const json_value *a = obj->child; a && !dup; a = a->next)
            for (const json_value *b = a->next; b; b = b->next)
                if (!strcmp(a->key, b->key)) { dup = b; break; }
    } else {
        const json_value **m = malloc(sizeof *m * (size_t)obj->count);
        if (!m) {
            p->oom = 1;
            return fail_at(p, obj->offset, "out of memory");
        }
        int32_t i = 0;
        for (const json_value *a = obj->child; a; a = a->next) m[i++] = a;
        qsort(m, (size_t)obj->count, sizeof *m, cmp_member_keys);
        for (i = 1; i < obj->count && !dup; i++)
            if (!strcmp(m[i - 1]->key, m[i]->key))
                dup = m[i - 1]->offset > m[i]->offset ? m[i - 1] : m[i];
        free(m);
    }
    if (dup) return fail_at(p, dup->offset, "duplicate key \"%.200s\"", dup->key);
    return 1;
}

static int parse_value(parser *p, int depth, json_value **out);

static int parse_container(parser *p, int depth, int is_object, json_value **out) {
    int64_t start = p->pos;
    if (depth >= JSON_MAX_DEPTH)
        return fail_at(p, start, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    json_value *v = new_node(p, is_object ? JSON_OBJECT : JSON_ARRAY, start);
    if (!v) return 0;
    p->pos++; /* '[' or '{' */
    char close = is_object ? '}' : ']';
    json_value *prev = NULL;
    int32_t count = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            const char *key = NULL;
            int64_t key_len = 0;
            char d[32];
            skip_ws(p);
            if (is_object) {
                if (p->pos >= p->len || p->s[p->pos] != '"')
                    return fail_at(p, p->pos, "expected a key string, got %s",
                                   describe(p, p->pos, d, sizeof d));
                if (!parse_string(p, &key, &key_len)) return 0;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':')
                    return fail_at(p, p->pos, "expected ':' after a key, got %s",
                                   describe(p, p->pos, d, sizeof d));
                p->pos++;
                skip_ws(p);
            }
            json_value *child = NULL;
            if (!parse_value(p, depth + 1, &child)) return 0;
            if (p->build) {
                child->key = key;
                child->key_len = key_len;
                if (prev) prev->next = child;
                else v->child = child;
                prev = child;
            }
            count++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; break; }
            return fail_at(p, p->pos, "expected ',' or '%c', got %s", close,
                           describe(p, p->pos, d, sizeof d));
        }
    }
    if (p->build) {
        v->count = count;
        if (is_object && !check_duplicates(p, v)) return 0;
    }
    *out = v;
    return 1;
}

static int parse_value(parser *p, int depth, json_value **out) {
    skip_ws(p);
    char d[32];
    if (p->pos >= p->len) return fail_at(p, p->pos, "expected a value, got end of text");
    int64_t start = p->pos;
    unsigned char c = p->s[p->pos];
    json_value *v;
    switch (c) {
    case '{': return parse_container(p, depth, 1, out);
    case '[': return parse_container(p, depth, 0, out);
    case '"': {
        if (!(v = new_node(p, JSON_STRING, start))) return 0;
        const char *s = NULL;
        int64_t n = 0;
        if (!parse_string(p, &s, &n)) return 0;
        if (p->build) { v->str = s; v->str_len = n; }
        *out = v;
        return 1;
    }
    case 't': case 'f': case 'n': {
        json_type t = c == 'n' ? JSON_NULL : JSON_BOOL;
        if (!literal(p, c == 't' ? "true" : c == 'f' ? "false" : "null"))
            return fail_at(p, start, "invalid literal (expected true, false or null)");
        if (!(v = new_node(p, t, start))) return 0;
        if (p->build) v->boolean = c == 't';
        *out = v;
        return 1;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (!(v = new_node(p, JSON_NUMBER, start))) return 0;
            if (!parse_number(p, p->build ? v : NULL)) return 0;
            *out = v;
            return 1;
        }
        return fail_at(p, start, "expected a value, got %s", describe(p, start, d, sizeof d));
    }
}

/* One pass over the whole text. */
static int run_pass(parser *p, json_value **root) {
    p->pos = 0;
    p->n_nodes = 0;
    p->str_used = 0;
    /* A UTF-8 byte order mark is not JSON, but editors write it; it carries no meaning. */
    if (p->len >= 3 && p->s[0] == 0xef && p->s[1] == 0xbb && p->s[2] == 0xbf) p->pos = 3;
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, p->pos, "empty text (expected a JSON value)");
    if (!parse_value(p, 0, root)) return 0;
    skip_ws(p);
    if (p->pos < p->len) {
        char d[32];
        return fail_at(p, p->pos, "unexpected %s after the JSON value",
                       describe(p, p->pos, d, sizeof d));
    }
    return 1;
}

retnet_status json_parse(const char *text, int64_t len, json_doc **out, char *err, size_t errcap) {
    if (out) *out = NULL;
    if (err && errcap) err[0] = 0;
    if (!out || (!text && len > 0) || len < 0) {
        if (err && errcap) snprintf(err, errcap, "invalid arguments");
        return RETNET_EINVAL;
    }
    parser p = {0};
    p.s = (const unsigned char *)(text ? text : "");
    p.len = len;
    p.err = err;
    p.errcap = errcap;
    json_value *root = NULL;
    if (!run_pass(&p, &root)) return RETNET_EFORMAT;

    int64_t n_nodes = p.n_nodes, n_str = p.str_used;
    json_doc *doc = calloc(1, sizeof *doc);
    if (doc) {
        doc->nodes = malloc(sizeof(json_value) * (size_t)n_nodes);
        doc->strings = malloc((size_t)n_str + 1);
    }
    if (!doc || !doc->nodes || !doc->strings) {
        json_free(doc);
        if (err && errcap) snprintf(err, errcap, "out of memory (%lld values)", (long long)n_nodes);
        return RETNET_ENOMEM;
    }
    p.build = 1;
    p.nodes = doc->nodes;
    p.strbuf = doc->strings;
    if (!run_pass(&p, &root)) {
        json_free(doc);
        return p.oom ? RETNET_ENOMEM : RETNET_EFORMAT;
    }
    doc->root = root;
    *out = doc;
    return RETNET_OK;
}

void json_free(json_doc *doc) {
    if (!doc) return;
    free(doc->nodes);
    free(doc->strings);
    free(doc);
}

const json_value *json_root(const json_doc *doc) { return doc ? doc->root : NULL; }

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT || !key) return NULL;
    for (const json_value *m = obj->child; m; m = m->next)
        if (!strcmp(m->key, key)) return m;
    return NULL;
}

const char *json_type_name(json_type t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "?";
}

/* ---------------------------------------------------------------- writer */

void json_writer_init(json_writer *w, char *buf, size_t cap) {
    w->buf = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    if (w->cap) w->buf[0] = 0;
}

static void put_bytes(json_writer *w, const char *s, size_t n) {
    if (w->cap > 0 && (uint64_t)w->len < w->cap - 1) {
        size_t room = w->cap - 1 - (size_t)w->len;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->len, s, k);
        w->buf[(size_t)w->len + k] = 0;
    }
    w->len += (int64_t)n;
}

void json_put(json_writer *w, const char *s) { put_bytes(w, s, strlen(s)); }

void json_putf(json_writer *w, const char *fmt, ...) {
    char small[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { va_end(ap2); return; }
    if ((size_t)n < sizeof small) {
        put_bytes(w, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            put_bytes(w, big, (size_t)n);
            free(big);
        } else {
            w->len += n; /* the measure stays right; the content is truncated anyway */
        }
    }
    va_end(ap2);
}

void json_put_string(json_writer *w, const char *s) {
    put_bytes(w, "\"", 1);
    const char *run = s; /* bytes that need no escape are copied in runs */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            put_bytes(w, run, (size_t)(s - run));
            json_put(w, esc);
            run = s + 1;
        }
    }
    put_bytes(w, run, (size_t)(s - run));
    put_bytes(w, "\"", 1);
}

void json_put_float(json_writer *w, double v) {
    if (!isfinite(v)) { json_put(w, "null"); return; } /* keeps the output valid JSON */
    /* The shortest of %.6g .. %.9g that reads back as the same float32: 1e-06, not
     * 9.99999997e-07 (9 digits always suffice for a float32). */
    char b[64];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtof(b, NULL) == (float)v) break;
    }
    for (char *q = b; *q; q++)
        if (*q == ',') *q = '.'; /* a locale with a decimal comma */
    json_put(w, b);
}
