/*
 * json.h: a small, strict JSON parser and a string writer (internal).
 *
 * The parser reads RFC 8259 JSON and nothing else (no comments, no trailing commas, no NaN,
 * no leading zeros, no control characters or invalid UTF-8 in strings, no duplicate keys in
 * an object), because its inputs are configs typed by people and safetensors headers written
 * by anyone: a file that another parser would read differently is rejected, not guessed at.
 * It is safe on hostile input: nesting is capped at JSON_MAX_DEPTH, the node count at
 * JSON_MAX_NODES, and the text is read within [text, text + len) (no NUL terminator needed).
 *
 * A parse makes two passes over the text: the first checks the syntax and counts nodes and
 * string bytes, the second builds the tree into one allocation of exactly that size. All
 * strings are decoded (escapes resolved) and NUL-terminated; "\u0000" is rejected so that
 * every string is a C string.
 *
 * The writer has snprintf semantics: it writes into a fixed buffer (possibly of size 0),
 * always NUL-terminated, and counts the length the whole output needs, so a caller can
 * measure first and write second.
 */
#ifndef RETNET_JSON_H
#define RETNET_JSON_H

#include "retnet.h"
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_NODES (1 << 22) /* 4M: a real header has ~10 values per tensor */

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int32_t count;          /* array/object: number of elements/members */
    int boolean;            /* JSON_BOOL: 0 or 1 */
    int is_int;             /* JSON_NUMBER: written without fraction/exponent and fits int64 */
    int64_t inum;           /* JSON_NUMBER with is_int: the exact value */
    double num;             /* JSON_NUMBER: the value (always finite) */
    const char *str;        /* JSON_STRING: decoded, NUL-terminated */
    int64_t str_len;
    const char *key;        /* a member of an object: its key (decoded), else NULL */
    int64_t key_len;
    int64_t offset;         /* byte offset of the value in the text, for messages */
    json_value *child;      /* array/object: the first element/member */
    json_value *next;       /* the next sibling */
};

typedef struct json_doc json_doc;

/*
 * Parses text[0 .. len). On success *out owns the tree (free with json_free) and RETNET_OK is
 * returned. On failure *out is NULL, the status is RETNET_EFORMAT (bad JSON) or
 * RETNET_ENOMEM, and err (if errcap > 0) receives "line L, column C: what is wrong".
 * Does not call retnet_fail: the caller knows which file it is and words the message.
 */
retnet_status json_parse(const char *text, int64_t len, json_doc **out, char *err, size_t errcap);
void json_free(json_doc *doc);
const json_value *json_root(const json_doc *doc);

/* The member of an object with this key, or NULL (also NULL if obj is not an object). */
const json_value *json_get(const json_value *obj, const char *key);
/* "null", "boolean", "number", "string", "array", "object". */
const char *json_type_name(json_type t);

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *buf;      /* may be NULL when cap is 0 */
    size_t cap;
    int64_t len;    /* bytes the output needs, without the NUL (may exceed cap) */
} json_writer;

void json_writer_init(json_writer *w, char *buf, size_t cap);
/* Appends raw text. */
void json_put(json_writer *w, const char *s);
void json_putf(json_writer *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as a quoted JSON string, escaping '"', '\\' and control characters. */
void json_put_string(json_writer *w, const char *s);
/* Appends a finite double with %.9g (enough for a float to read back exactly) and the
 * decimal point '.' whatever the locale. */
void json_put_float(json_writer *w, double v);

#endif
