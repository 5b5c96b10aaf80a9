/*
 * fuzz_json: src/json.c's parser (json_parse) on any bytes.
 *
 * Properties checked besides the sanitizers': a failure gives EFORMAT with a message and no
 * document; a success gives a tree whose counts and string lengths agree with its nodes,
 * and which, written back with json.h's writer and parsed again, is the same tree.
 */
#include "fuzz_common.h"
#include "json.h"

#include <math.h>

static void write_value(json_writer *w, const json_value *v) {
    switch (v->type) {
    case JSON_NULL: json_put(w, "null"); break;
    case JSON_BOOL: json_put(w, v->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->is_int) json_putf(w, "%lld", (long long)v->inum);
        else json_putf(w, "%.17g", v->num);
        break;
    case JSON_STRING: json_put_string(w, v->str); break;
    case JSON_ARRAY:
    case JSON_OBJECT: {
        json_put(w, v->type == JSON_ARRAY ? "[" : "{");
        for (const json_value *c = v->child; c; c = c->next) {
            if (c != v->child) json_put(w, ",");
            if (v->type == JSON_OBJECT) {
                json_put_string(w, c->key);
                json_put(w, ":");
            }
            write_value(w, c);
        }
        json_put(w, v->type == JSON_ARRAY ? "]" : "}");
        break;
    }
    }
}

/* Structural checks of one node; returns the number of nodes under it (itself included). */
static int64_t check_value(const json_value *v, int depth, int in_object) {
    FUZZ_CHECK(depth <= JSON_MAX_DEPTH, "depth %d", depth);
    FUZZ_CHECK((v->key != NULL) == in_object, "key presence");
    if (v->key) FUZZ_CHECK((int64_t)strlen(v->key) == v->key_len, "key length");
    if (v->type == JSON_STRING) FUZZ_CHECK((int64_t)strlen(v->str) == v->str_len, "string length");
    if (v->type == JSON_NUMBER) FUZZ_CHECK(isfinite(v->num), "non-finite number");
    if (v->type == JSON_NUMBER && v->is_int) FUZZ_CHECK((double)v->inum == v->num, "int %lld vs %.17g", (long long)v->inum, v->num);
    int64_t nodes = 1;
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        int32_t k = 0;
        for (const json_value *c = v->child; c; c = c->next, k++)
            nodes += check_value(c, depth + 1, v->type == JSON_OBJECT);
        FUZZ_CHECK(k == v->count, "count %d, children %d", v->count, k);
        if (v->type == JSON_OBJECT)
            for (const json_value *c = v->child; c; c = c->next) FUZZ_CHECK(json_get(v, c->key) == c, "json_get");
    }
    return nodes;
}

static void same_tree(const json_value *a, const json_value *b) {
    FUZZ_CHECK(a->type == b->type, "type %d vs %d", a->type, b->type);
    if (a->key) FUZZ_CHECK(b->key && a->key_len == b->key_len && !memcmp(a->key, b->key, (size_t)a->key_len), "key");
    switch (a->type) {
    case JSON_BOOL: FUZZ_CHECK(a->boolean == b->boolean, "bool"); break;
    case JSON_NUMBER:
        FUZZ_CHECK(a->num == b->num, "number %.17g vs %.17g", a->num, b->num);
        if (a->is_int) FUZZ_CHECK(b->is_int && a->inum == b->inum, "int %lld", (long long)a->inum);
        break;
    case JSON_STRING: FUZZ_CHECK(a->str_len == b->str_len && !memcmp(a->str, b->str, (size_t)a->str_len), "string"); break;
    case JSON_ARRAY:
    case JSON_OBJECT: {
        FUZZ_CHECK(a->count == b->count, "count");
        const json_value *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next) same_tree(x, y);
        FUZZ_CHECK(!x && !y, "children");
        break;
    }
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_doc *doc = (json_doc *)1;
    char err[256];
    retnet_status s = json_parse((const char *)data, (int64_t)size, &doc, err, sizeof err);
    if (s != RETNET_OK) {
        FUZZ_CHECK(s == RETNET_EFORMAT && doc == NULL && err[0], "failure: status %d", (int)s);
        return 0;
    }
    const json_value *root = json_root(doc);
    FUZZ_CHECK(root != NULL, "no root");
    check_value(root, 0, 0);

    json_writer w;
    json_writer_init(&w, NULL, 0);
    write_value(&w, root);
    int64_t need = w.len;
    char *text = malloc((size_t)need + 1);
    json_writer_init(&w, text, (size_t)need + 1);
    write_value(&w, root);
    FUZZ_CHECK(w.len == need && (int64_t)strlen(text) == need, "writer length");
    json_doc *back = NULL;
    s = json_parse(text, need, &back, err, sizeof err);
    FUZZ_CHECK(s == RETNET_OK, "the written tree does not parse: %s\n%.300s", err, text);
    same_tree(root, json_root(back));
    json_free(back);
    free(text);
    json_free(doc);
    return 0;
}
