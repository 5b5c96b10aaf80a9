/*
 * test_config.c: configs as JSON (our keys and torchscale's) and the JSON parser under them.
 *
 *  - every preset survives to_json -> from_json unchanged, and to_json is deterministic;
 *  - defaults: missing keys keep the base, or the "small" preset; a new d_model brings the
 *    paper's d_key/d_value/d_ffn unless they are given;
 *  - torchscale's keys map onto our fields and imply its variant; its defaults are
 *    RetNetConfig's; options we cannot represent fail as unsupported;
 *  - bad values fail with EINVAL and a message that names the key (and the allowed values);
 *  - retnet_config_load: files, missing files, messages with the path;
 *  - the JSON parser: RFC 8259 accepted and nothing else (escapes, surrogates, UTF-8, number
 *    grammar, int64 limits, depth cap, duplicate keys, text without a NUL), and the writer's
 *    escaping and truncation.
 */
#include "json.h"
#include "retnet.h"
#include "test.h"

#include <unistd.h>

static int same_config(const retnet_config *a, const retnet_config *b) {
    return !memcmp(a, b, sizeof *a); /* all fields are 4-byte scalars: no padding */
}

static retnet_status parse(const char *json, const retnet_config *base, retnet_config *out) {
    return retnet_config_from_json(json, strlen(json), base, out);
}

static void test_presets_round_trip(void) {
    int n = 0;
    for (const char *const *p = retnet_preset_names(); *p; p++, n++) {
        retnet_config c, back;
        CHECK(retnet_config_preset(*p, &c) == RETNET_OK, "preset %s", *p);
        char buf[2048], again[2048];
        int64_t len = retnet_config_to_json(&c, buf, sizeof buf);
        CHECK(len > 0 && len == (int64_t)strlen(buf), "%s: length %lld", *p, (long long)len);
        retnet_status s = parse(buf, NULL, &back);
        CHECK(s == RETNET_OK, "%s: %s", *p, retnet_errmsg());
        CHECK(same_config(&c, &back), "%s: round trip differs: %s", *p, buf);
        retnet_config_to_json(&back, again, sizeof again);
        CHECK(!strcmp(buf, again), "%s: to_json not deterministic", *p);
        /* With the preset as base, the same. And from an unrelated base: all keys are written,
         * so the base must not matter. */
        retnet_config other;
        retnet_config_preset("tiny", &other);
        other.norm = RETNET_NORM_RMSNORM;
        other.chunk = 3;
        s = parse(buf, &other, &back);
        CHECK(s == RETNET_OK && same_config(&c, &back), "%s: base leaked into a full config", *p);
    }
    CHECK(n == 6, "%d presets", n);

    /* Every non-default option survives too. */
    retnet_config c, back;
    retnet_config_preset("tiny", &c);
    c.norm = RETNET_NORM_RMSNORM; c.head_norm = RETNET_HEADNORM_RMSNORM; c.head_norm_affine = 0;
    c.ffn = RETNET_FFN_GLU; c.ffn_act = RETNET_ACT_SWISH; c.rope = RETNET_ROPE_HALF;
    c.rope_base = 500000.0f; c.decay = RETNET_DECAY_LINSPACE; c.normalize = 0; c.eps = 1.2345e-5f;
    c.tie_embeddings = 0; c.embed_scale = 1; c.chunk = 7; c.d_value = 96; c.d_ffn = 100;
    char buf[2048];
    retnet_config_to_json(&c, buf, sizeof buf);
    CHECK(parse(buf, NULL, &back) == RETNET_OK && same_config(&c, &back),
          "variant round trip: %s (%s)", buf, retnet_errmsg());

    /* The Transformer and the ablation switches too. */
    retnet_config t;
    CHECK(retnet_config_preset("tf-small", &t) == RETNET_OK, "tf-small: %s", retnet_errmsg());
    CHECK(t.arch == RETNET_ARCH_TRANSFORMER && t.d_key == t.d_model && t.d_value == t.d_model,
          "tf-small: arch %d, d_key %d, d_value %d", t.arch, t.d_key, t.d_value);
    retnet_config_preset("small", &back);
    double ratio = (double)retnet_config_param_count(&t) / retnet_config_param_count(&back);
    CHECK(fabs(ratio - 1) < 0.01, "tf-small has %.4f times small's parameters", ratio);
    t.context = 777;
    retnet_config_to_json(&t, buf, sizeof buf);
    CHECK(parse(buf, NULL, &back) == RETNET_OK && same_config(&t, &back) &&
          back.arch == RETNET_ARCH_TRANSFORMER && back.context == 777,
          "transformer round trip: %s (%s)", buf, retnet_errmsg());
    c.gate = 0, c.head_norm = RETNET_HEADNORM_NONE, c.decay = RETNET_DECAY_NONE;
    retnet_config_to_json(&c, buf, sizeof buf);
    CHECK(parse(buf, NULL, &back) == RETNET_OK && same_config(&c, &back) && back.gate == 0 &&
          back.head_norm == RETNET_HEADNORM_NONE && back.decay == RETNET_DECAY_NONE,
          "ablation round trip: %s (%s)", buf, retnet_errmsg());
    for (const char *const *p = retnet_preset_names(); *p; p++) {
        char name[32];
        snprintf(name, sizeof name, "tf-%s", *p);
        retnet_config r;
        retnet_config_preset(*p, &r);
        CHECK(retnet_config_preset(name, &t) == RETNET_OK, "%s: %s", name, retnet_errmsg());
        ratio = (double)retnet_config_param_count(&t) / retnet_config_param_count(&r);
        CHECK(fabs(ratio - 1) < 0.01, "%s has %.4f times %s's parameters", name, ratio, *p);
    }

    /* The documented key order. */
    const char *keys[] = {"arch", "vocab", "d_model", "n_layer", "n_head", "d_key", "d_value",
                          "d_ffn", "norm", "head_norm", "head_norm_affine", "ffn", "ffn_act",
                          "rope", "rope_base", "decay", "normalize", "eps", "tie_embeddings",
                          "embed_scale", "chunk", "gate", "context"};
    const char *prev = buf;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char q[64];
        snprintf(q, sizeof q, "\"%s\":", keys[i]);
        const char *at = strstr(buf, q);
        CHECK(at && at >= prev, "key %s missing or out of order in %s", keys[i], buf);
        if (at) prev = at;
    }

    /* snprintf semantics: measure with 0, truncate safely. */
    int64_t need = retnet_config_to_json(&c, NULL, 0);
    CHECK(need == (int64_t)strlen(buf), "measure %lld vs %zu", (long long)need, strlen(buf));
    char small[10];
    memset(small, 'x', sizeof small);
    CHECK(retnet_config_to_json(&c, small, sizeof small) == need, "truncated return value");
    CHECK(small[9] == 0 && strlen(small) == 9 && !strncmp(small, buf, 9), "truncation");
}

static void test_defaults_and_derivation(void) {
    retnet_config c, small, tiny;
    retnet_config_preset("small", &small);
    retnet_config_preset("tiny", &tiny);
    CHECK(parse("{}", NULL, &c) == RETNET_OK && same_config(&c, &small), "{} is the small preset");
    CHECK(parse(" {\"arch\": \"retnet\"} ", &tiny, &c) == RETNET_OK && same_config(&c, &tiny),
          "{} with a base is the base");

    CHECK(parse("{\"d_model\": 512, \"n_head\": 4}", NULL, &c) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.d_model == 512 && c.d_key == 512 && c.d_value == 1024 && c.d_ffn == 1024 &&
          c.n_head == 4 && c.n_layer == small.n_layer, "paper widths from d_model: %d %d %d",
          c.d_key, c.d_value, c.d_ffn);
    CHECK(parse("{\"d_model\": 128, \"d_value\": 192, \"n_head\": 2}", NULL, &c) == RETNET_OK, "%s",
          retnet_errmsg());
    CHECK(c.d_key == 128 && c.d_value == 192 && c.d_ffn == 256, "explicit d_value kept");

    retnet_config base = tiny;
    base.d_value = 96; /* a base with its own widths */
    base.d_ffn = 80;
    CHECK(parse("{\"n_layer\": 3}", &base, &c) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.n_layer == 3 && c.d_value == 96 && c.d_ffn == 80, "base widths kept");
    CHECK(parse("{\"d_model\": 64}", &base, &c) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.d_value == 96 && c.d_ffn == 80, "unchanged d_model keeps the base widths");
    CHECK(parse("{\"d_model\": 32}", &base, &c) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.d_key == 32 && c.d_value == 64 && c.d_ffn == 64, "new d_model derives the widths");
    CHECK(parse("{\"d_model\": 32, \"d_ffn\": 48}", &base, &c) == RETNET_OK && c.d_ffn == 48 &&
          c.d_value == 64, "explicit d_ffn with a new d_model");
    CHECK(parse("{\"eps\": 0}", &tiny, &c) == RETNET_OK && c.eps == 0.0f, "eps 0 is allowed");
    CHECK(parse("{\"eps\": 1e-5, \"rope_base\": 500000}", &tiny, &c) == RETNET_OK &&
          c.eps == 1e-5f && c.rope_base == 500000.0f, "floats");
    /* Unknown keys are ignored. */
    CHECK(parse("{\"comment\": [1, {\"x\": null}], \"vocab\": 300}", &tiny, &c) == RETNET_OK &&
          c.vocab == 300, "unknown keys: %s", retnet_errmsg());
}

static void test_torchscale_keys(void) {
    retnet_config c;
    /* torchscale's RetNetConfig() with only vocab_size, layers and heads given (its default
     * of 3 heads does not divide its default value width 1280: torchscale fails there too). */
    retnet_status s = parse("{\"decoder_layers\": 2, \"vocab_size\": 100}", NULL, &c);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "divisible"), "1280 / 3: %s",
          retnet_errmsg());
    s = parse("{\"decoder_layers\": 2, \"vocab_size\": 100, \"decoder_retention_heads\": 4}",
              NULL, &c);
    CHECK(s == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.d_model == 768 && c.d_key == 768 && c.d_value == 1280 &&
          c.d_ffn == 1280 && c.n_layer == 2 && c.vocab == 100 && c.n_head == 4,
          "torchscale default sizes");
    CHECK(c.eps == 1e-6f && c.chunk == 512 && c.embed_scale == 0 && c.tie_embeddings == 0,
          "torchscale defaults: eps %g chunk %d", (double)c.eps, c.chunk);
    CHECK(c.norm == RETNET_NORM_RMSNORM && c.head_norm == RETNET_HEADNORM_RMSNORM &&
          c.head_norm_affine == 0 && c.ffn == RETNET_FFN_GLU && c.ffn_act == RETNET_ACT_GELU &&
          c.rope == RETNET_ROPE_PAPER && c.decay == RETNET_DECAY_POW2 && c.normalize == 1,
          "torchscale variant");

    /* A full dump of RetNetConfig.__dict__ (unrelated keys included). */
    const char *full =
        "{\"decoder_embed_dim\": 2048, \"decoder_value_embed_dim\": 3456, "
        "\"decoder_retention_heads\": 8, \"decoder_ffn_embed_dim\": 3456, \"decoder_layers\": 24, "
        "\"decoder_normalize_before\": true, \"activation_fn\": \"swish\", \"dropout\": 0.1, "
        "\"drop_path_rate\": 0.0, \"activation_dropout\": 0.0, \"no_scale_embedding\": false, "
        "\"layernorm_embedding\": false, \"moe_freq\": 0, \"moe_top1_expert\": false, "
        "\"moe_expert_count\": 0, \"moe_gating_use_fp32\": true, "
        "\"moe_eval_capacity_token_fraction\": 0.25, \"moe_second_expert_policy\": \"random\", "
        "\"moe_normalize_gate_prob_before_dropping\": false, \"use_xmoe\": false, "
        "\"rel_pos_buckets\": 0, \"max_rel_pos\": 0, \"deepnorm\": false, \"subln\": true, "
        "\"multiway\": false, \"share_decoder_input_output_embed\": true, "
        "\"max_target_positions\": 1024, \"no_output_layer\": false, \"layernorm_eps\": 1e-05, "
        "\"chunkwise_recurrent\": false, \"recurrent_chunk_size\": 256, \"vocab_size\": 64000, "
        "\"checkpoint_activations\": false, \"fsdp\": false, \"ddp_rank\": 0, "
        "\"xpos_rel_pos\": false, \"xpos_scale_base\": 512}";
    s = parse(full, NULL, &c);
    CHECK(s == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.d_model == 2048 && c.d_key == 2048 && c.d_value == 3456 && c.n_head == 8 &&
          c.d_ffn == 3456 && c.n_layer == 24 && c.vocab == 64000, "sizes");
    CHECK(c.ffn_act == RETNET_ACT_SWISH && c.embed_scale == 1 && c.tie_embeddings == 1 &&
          c.eps == 1e-5f && c.chunk == 256, "options");

    CHECK(parse("{\"decoder_layers\": 1, \"vocab_size\": 10, \"activation_fn\": \"silu\", \"decoder_retention_heads\": 2}", NULL,
                &c) == RETNET_OK && c.ffn_act == RETNET_ACT_SWISH, "silu");
    CHECK(parse("{\"decoder_layers\": 1, \"vocab_size\": 10, \"recurrent_chunk_size\": null, \"decoder_retention_heads\": 2}",
                NULL, &c) == RETNET_OK && c.chunk == 512, "null means default");
    /* Our keys beside torchscale's win. */
    CHECK(parse("{\"decoder_layers\": 1, \"vocab_size\": 10, \"chunk\": 32, \"decoder_retention_heads\": 2}", NULL, &c) ==
          RETNET_OK && c.chunk == 32, "our chunk key");
    /* With a base, torchscale keys still imply the variant; missing sizes keep the base. */
    retnet_config tiny;
    retnet_config_preset("tiny", &tiny);
    CHECK(parse("{\"decoder_layers\": 3}", &tiny, &c) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(c.n_layer == 3 && c.d_model == tiny.d_model && c.vocab == tiny.vocab &&
          c.norm == RETNET_NORM_RMSNORM && c.ffn == RETNET_FFN_GLU && c.head_norm_affine == 0,
          "torchscale keys over a base");

    /* Required and unsupported. */
    s = parse("{\"decoder_layers\": 2}", NULL, &c);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "vocab_size"), "vocab_size required: %s",
          retnet_errmsg());
    s = parse("{\"decoder_layers\": 2, \"vocab_size\": -1}", NULL, &c);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "vocab_size"), "vocab_size -1: %s",
          retnet_errmsg());
    const char *unsup[][2] = {
        {"{\"decoder_layers\": 2, \"vocab_size\": 9, \"deepnorm\": true}", "deepnorm"},
        {"{\"decoder_layers\": 2, \"vocab_size\": 9, \"decoder_normalize_before\": false}",
         "decoder_normalize_before"},
        {"{\"decoder_layers\": 2, \"vocab_size\": 9, \"layernorm_embedding\": true}",
         "layernorm_embedding"},
        {"{\"decoder_layers\": 2, \"vocab_size\": 9, \"no_output_layer\": true}", "no_output_layer"},
        {"{\"decoder_layers\": 2, \"vocab_size\": 9, \"moe_freq\": 2}", "moe_freq"},
    };
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        s = parse(unsup[i][0], NULL, &c);
        CHECK(s == RETNET_EUNSUPPORTED && strstr(retnet_errmsg(), unsup[i][1]),
              "%s: %s %s", unsup[i][1], retnet_status_name(s), retnet_errmsg());
    }
}

static void test_bad_values(void) {
    const struct { const char *json; retnet_status st; const char *phrase1, *phrase2; } cases[] = {
        {"{\"d_model\": \"64\"}", RETNET_EINVAL, "\"d_model\"", "integer"},
        {"{\"d_model\": 1.5}", RETNET_EINVAL, "\"d_model\"", "integer"},
        {"{\"d_model\": 64.0}", RETNET_EINVAL, "\"d_model\"", "integer"},
        {"{\"d_model\": 0}", RETNET_EINVAL, "\"d_model\"", "out of range"},
        {"{\"d_model\": -64}", RETNET_EINVAL, "\"d_model\"", "out of range"},
        {"{\"d_model\": 10000000000}", RETNET_EINVAL, "\"d_model\"", "out of range"},
        {"{\"d_model\": 99999999999999999999999}", RETNET_EINVAL, "\"d_model\"", "integer"},
        {"{\"vocab\": null}", RETNET_EINVAL, "\"vocab\"", "null"},
        {"{\"n_layer\": true}", RETNET_EINVAL, "\"n_layer\"", "boolean"},
        {"{\"n_head\": 5}", RETNET_EINVAL, "n_head", "divisible"},
        {"{\"chunk\": 0}", RETNET_EINVAL, "\"chunk\"", "out of range"},
        {"{\"d_model\": 4194304}", RETNET_EINVAL, "d_model", "out of range"},
        {"{\"norm\": \"batchnorm\"}", RETNET_EINVAL, "\"norm\"", "\"layernorm\" or \"rmsnorm\""},
        {"{\"norm\": 1}", RETNET_EINVAL, "\"norm\"", "\"layernorm\""},
        {"{\"head_norm\": \"layernorm\"}", RETNET_EINVAL, "\"head_norm\"", "\"groupnorm\""},
        {"{\"ffn\": \"swiglu\"}", RETNET_EINVAL, "\"ffn\"", "\"glu\""},
        {"{\"ffn_act\": \"relu\"}", RETNET_EINVAL, "\"ffn_act\"", "\"swish\""},
        {"{\"rope\": \"xpos\"}", RETNET_EINVAL, "\"rope\"", "\"paper\" or \"half\""},
        {"{\"decay\": \"exp\"}", RETNET_EINVAL, "\"decay\"", "\"single\" or \"none\""},
        {"{\"arch\": \"transformer\", \"context\": 0}", RETNET_EINVAL, "\"context\"", "out of range"},
        {"{\"gate\": 0}", RETNET_EINVAL, "\"gate\"", "true or false"},
        {"{\"normalize\": 1}", RETNET_EINVAL, "\"normalize\"", "true or false"},
        {"{\"head_norm_affine\": \"yes\"}", RETNET_EINVAL, "\"head_norm_affine\"", "true or false"},
        {"{\"tie_embeddings\": null}", RETNET_EINVAL, "\"tie_embeddings\"", "true or false"},
        {"{\"embed_scale\": []}", RETNET_EINVAL, "\"embed_scale\"", "array"},
        {"{\"eps\": -1e-6}", RETNET_EINVAL, "\"eps\"", "out of range"},
        {"{\"eps\": \"1e-6\"}", RETNET_EINVAL, "\"eps\"", "number"},
        {"{\"eps\": 2}", RETNET_EINVAL, "eps", "[0, 1)"},
        {"{\"rope_base\": 0}", RETNET_EINVAL, "\"rope_base\"", "out of range"},
        {"{\"rope_base\": 1e39}", RETNET_EINVAL, "\"rope_base\"", "float"},
        {"{\"rope_base\": 1e999}", RETNET_EFORMAT, "invalid JSON", "out of range"},
        {"{\"arch\": \"gpt\"}", RETNET_EINVAL, "\"arch\"", "\"retnet\""},
        {"{\"arch\": 3}", RETNET_EINVAL, "\"arch\"", "\"retnet\""},
        {"{\"vocab_size\": 10, \"decoder_layers\": 1, \"activation_fn\": \"relu\"}", RETNET_EINVAL,
         "\"activation_fn\"", "\"gelu\", \"swish\" or \"silu\""},
        {"{\"vocab_size\": 10, \"decoder_embed_dim\": \"big\"}", RETNET_EINVAL,
         "\"decoder_embed_dim\"", "integer"},
        {"{\"vocab_size\": 10, \"decoder_layers\": 1, \"no_scale_embedding\": 0}", RETNET_EINVAL,
         "\"no_scale_embedding\"", "true or false"},
        {"{\"vocab_size\": 10, \"decoder_layers\": 1, \"layernorm_eps\": -1}", RETNET_EINVAL,
         "\"layernorm_eps\"", "out of range"},
        {"[1, 2]", RETNET_EINVAL, "object", "array"},
        {"\"retnet\"", RETNET_EINVAL, "object", "string"},
        {"{", RETNET_EFORMAT, "invalid JSON", "line 1"},
        {"", RETNET_EFORMAT, "invalid JSON", "empty"},
        {"{\"vocab\": 260,}", RETNET_EFORMAT, "invalid JSON", "expected a key"},
        {"{\"vocab\": 260, \"vocab\": 5}", RETNET_EFORMAT, "duplicate key", "vocab"},
        {"{\"vocab\": 260}\n// comment", RETNET_EFORMAT, "invalid JSON", "line 2, column 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        retnet_config c;
        memset(&c, 0x5a, sizeof c);
        retnet_config before = c;
        retnet_status s = parse(cases[i].json, NULL, &c);
        const char *msg = retnet_errmsg();
        CHECK(s == cases[i].st, "%s: status %s, want %s (%s)", cases[i].json,
              retnet_status_name(s), retnet_status_name(cases[i].st), msg);
        CHECK(strstr(msg, cases[i].phrase1) && strstr(msg, cases[i].phrase2),
              "%s: message \"%s\" lacks \"%s\" / \"%s\"", cases[i].json, msg, cases[i].phrase1,
              cases[i].phrase2);
        CHECK(same_config(&c, &before), "%s: output written on failure", cases[i].json);
    }
    retnet_config c;
    CHECK(retnet_config_from_json(NULL, 0, NULL, &c) == RETNET_EINVAL, "NULL text");
    CHECK(retnet_config_to_json(NULL, NULL, 0) < 0, "to_json(NULL)");
    /* Text without a NUL terminator: only len bytes are read. */
    const char text[] = "{\"vocab\": 300}garbage";
    retnet_config tiny;
    retnet_config_preset("tiny", &tiny);
    CHECK(retnet_config_from_json(text, 14, &tiny, &c) == RETNET_OK && c.vocab == 300,
          "length-bounded text: %s", retnet_errmsg());
}

static void test_config_load(void) {
    char path[] = "/tmp/retnet_test_config.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    const char *good = "{\n  \"vocab\": 512,\n  \"d_model\": 128,\n  \"n_head\": 2\n}\n";
    CHECK(write(fd, good, strlen(good)) == (ssize_t)strlen(good), "write");
    close(fd);
    retnet_config c;
    CHECK(retnet_config_load(path, &c) == RETNET_OK, "load: %s", retnet_errmsg());
    CHECK(c.vocab == 512 && c.d_model == 128 && c.d_value == 256 && c.n_head == 2, "values");

    FILE *f = fopen(path, "w");
    fputs("{\n  \"vocab\": 512,\n  \"norm\": \"batch\"\n}\n", f);
    fclose(f);
    retnet_status s = retnet_config_load(path, &c);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), path) && strstr(retnet_errmsg(), "norm"),
          "bad file: %s", retnet_errmsg());
    f = fopen(path, "w");
    fputs("{\n  \"vocab\": 512\n  \"norm\": \"rmsnorm\"\n}\n", f);
    fclose(f);
    s = retnet_config_load(path, &c);
    CHECK(s == RETNET_EFORMAT && strstr(retnet_errmsg(), "line 3, column 3"),
          "syntax error position: %s", retnet_errmsg());
    unlink(path);
    s = retnet_config_load(path, &c);
    CHECK(s == RETNET_EIO && strstr(retnet_errmsg(), path), "missing file: %s", retnet_errmsg());
    s = retnet_config_load("/tmp", &c);
    CHECK(s != RETNET_OK, "a directory is not a config");
}

/* ---------------------------------------------------------------- JSON parser */

/* Parses text (whole string) and returns the doc, or NULL with err filled. */
static json_doc *jp(const char *text, char *err) {
    json_doc *d = NULL;
    json_parse(text, (int64_t)strlen(text), &d, err, 256);
    return d;
}

static void test_json_valid(void) {
    char err[256];
    json_doc *d = jp(" {\"a\": [1, -2.5e3, true, false, null, \"s\"], \"b\": {}, \"c\": [],"
                     " \"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\": 0} ", err);
    CHECK(d != NULL, "valid document: %s", err);
    if (d) {
        const json_value *r = json_root(d), *a = json_get(r, "a");
        CHECK(r->type == JSON_OBJECT && r->count == 4, "root");
        CHECK(a && a->type == JSON_ARRAY && a->count == 6, "array");
        const json_value *e = a->child;
        CHECK(e->type == JSON_NUMBER && e->is_int && e->inum == 1, "1");
        e = e->next;
        CHECK(e->type == JSON_NUMBER && !e->is_int && e->num == -2500.0, "-2.5e3");
        e = e->next;
        CHECK(e->type == JSON_BOOL && e->boolean == 1, "true");
        e = e->next;
        CHECK(e->type == JSON_BOOL && e->boolean == 0, "false");
        e = e->next;
        CHECK(e->type == JSON_NULL, "null");
        e = e->next;
        CHECK(e->type == JSON_STRING && !strcmp(e->str, "s") && e->str_len == 1 && !e->next, "s");
        CHECK(json_get(r, "b") && json_get(r, "b")->count == 0, "{}");
        const json_value *k = r->child->next->next->next;
        CHECK(!strcmp(k->key, "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/\b\f\r\t"), "escapes decoded");
        CHECK(json_get(r, "zz") == NULL && json_get(a, "a") == NULL, "absent / not an object");
        json_free(d);
    }
    /* Raw UTF-8 in strings, and a byte order mark. */
    d = jp("\xef\xbb\xbf[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]", err);
    CHECK(d && !strcmp(json_root(d)->child->str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
          "raw UTF-8: %s", err);
    json_free(d);
    /* int64 limits: exact integers only when they fit. */
    d = jp("[9223372036854775807, -9223372036854775808, 9223372036854775808, "
           "18446744073709551615, -0, 0, 1e2, 10]", err);
    CHECK(d != NULL, "%s", err);
    if (d) {
        const json_value *e = json_root(d)->child;
        CHECK(e->is_int && e->inum == INT64_MAX, "INT64_MAX");
        e = e->next;
        CHECK(e->is_int && e->inum == INT64_MIN, "INT64_MIN");
        e = e->next;
        CHECK(!e->is_int && e->num == 9223372036854775808.0, "2^63 is not an int64");
        e = e->next;
        CHECK(!e->is_int, "2^64-1 is not an int64");
        e = e->next;
        CHECK(e->is_int && e->inum == 0, "-0");
        e = e->next->next;
        CHECK(!e->is_int && e->num == 100.0, "1e2 is not an integer literal");
        e = e->next;
        CHECK(e->is_int && e->inum == 10, "10");
        json_free(d);
    }
    /* Depth: 64 levels parse, 65 do not; a million do not crash. */
    char deep[200];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = 0;
    d = jp(deep, err);
    CHECK(d != NULL, "64 levels: %s", err);
    json_free(d);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = 0;
    d = jp(deep, err);
    CHECK(!d && strstr(err, "nesting"), "65 levels: %s", err);
    int64_t big = 1000000;
    char *huge = malloc((size_t)big + 1);
    memset(huge, '[', (size_t)big);
    huge[big] = 0;
    d = jp(huge, err);
    CHECK(!d && strstr(err, "nesting"), "a million '[': %s", err);
    for (int64_t i = 0; i < big; i++) huge[i] = (i % 2) ? '{' : '[';
    d = jp(huge, err);
    CHECK(!d, "mixed deep nesting");
    free(huge);
    /* The value count is capped (a hostile 100 MB header cannot make a 10 GB tree). */
    int64_t nv = JSON_MAX_NODES, tl = 2 * nv + 1; /* nv values + the array = cap + 1 */
    char *many = malloc((size_t)tl + 1);
    many[0] = '[';
    for (int64_t i = 0; i < nv; i++) { many[1 + 2 * i] = '0'; many[2 + 2 * i] = ','; }
    many[tl - 1] = ']';
    many[tl] = 0;
    d = NULL;
    CHECK(json_parse(many, tl, &d, err, sizeof err) == RETNET_EFORMAT && strstr(err, "more than"),
          "value cap: %s", err);
    many[tl - 3] = ']'; /* one value fewer: exactly the cap, accepted */
    CHECK(json_parse(many, tl - 2, &d, err, sizeof err) == RETNET_OK &&
          json_root(d)->count == JSON_MAX_NODES - 1, "at the cap: %s", err);
    json_free(d);
    free(many);
    /* Duplicate keys in a large object (the sorted check). */
    char obj[4096];
    int n = snprintf(obj, sizeof obj, "{");
    for (int i = 0; i < 100; i++) n += snprintf(obj + n, sizeof obj - (size_t)n, "\"k%d\":%d,", i, i);
    snprintf(obj + n, sizeof obj - (size_t)n, "\"k57\":0}");
    d = jp(obj, err);
    CHECK(!d && strstr(err, "duplicate key \"k57\""), "duplicate in a large object: %s", err);
    obj[n - 1] = '}';
    obj[n] = 0;
    d = jp(obj, err);
    CHECK(d && json_root(d)->count == 100 && json_get(json_root(d), "k99")->inum == 99,
          "large object: %s", err);
    json_free(d);
}

static void test_json_invalid(void) {
    const char *bad[] = {
        "", "   ", "nul", "tru", "True", "NaN", "Infinity", "-", "01", "-01", "1.", ".5", "1e",
        "1e+", "+1", "0x10", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}",
        "[1 2]", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\u0000\"", "\"a\tb\"", "\"a\nb\"", "\"\x80\"", "\"\xc0\xaf\"",
        "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf0\x9f\x98\"",
        "\"\xff\"", "[1] [2]", "{} x", "/* c */ {}", "[1e999]", "[-1e999]", "{\"a\":1}}",
        "[\"a\"", "{\"a\":", "\xef\xbb", "[1,\xef\xbb\xbf 2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        json_doc *d = NULL;
        retnet_status s = json_parse(bad[i], (int64_t)strlen(bad[i]), &d, err, sizeof err);
        CHECK(s == RETNET_EFORMAT && d == NULL && err[0], "accepted or no message: [%s] %s",
              bad[i], err);
        CHECK(strstr(err, "line ") && strstr(err, "column "), "no position: %s", err);
        json_free(d);
    }
    /* Length-bounded: a valid prefix of a longer buffer, and a cut inside a literal. */
    json_doc *d = NULL;
    CHECK(json_parse("[1]xyz", 3, &d, NULL, 0) == RETNET_OK, "prefix");
    json_free(d);
    d = NULL;
    CHECK(json_parse("true", 3, &d, NULL, 0) == RETNET_EFORMAT && !d, "cut literal");
    CHECK(json_parse("\"ab\"", 3, &d, NULL, 0) == RETNET_EFORMAT, "cut string");
    CHECK(json_parse("12", 1, &d, NULL, 0) == RETNET_OK && json_root(d)->inum == 1, "cut number");
    json_free(d);
}

static void test_json_writer(void) {
    char buf[256];
    json_writer w;
    json_writer_init(&w, buf, sizeof buf);
    json_put(&w, "[");
    const char *s = "quote\" back\\ nl\n tab\t ctl\x01 \x1f del\x7f utf\xc3\xa9";
    json_put_string(&w, s);
    json_put(&w, ",");
    json_put_float(&w, 1e-6f);
    json_put(&w, ",");
    json_put_float(&w, INFINITY);
    json_putf(&w, ",%d]", 42);
    CHECK(w.len == (int64_t)strlen(buf), "length");
    json_doc *d = NULL;
    char err[256];
    CHECK(json_parse(buf, w.len, &d, err, sizeof err) == RETNET_OK, "writer output parses: %s: %s",
          buf, err);
    if (d) {
        const json_value *e = json_root(d)->child;
        CHECK(!strcmp(e->str, s), "escape round trip");
        CHECK((float)e->next->num == 1e-6f, "%%.9g round trip of a float");
        CHECK(e->next->next->type == JSON_NULL, "non-finite written as null");
        CHECK(e->next->next->next->inum == 42, "putf");
        json_free(d);
    }
    CHECK(strstr(buf, "\\u0001") && strstr(buf, "\\u001f"), "control escapes: %s", buf);
    /* Truncation keeps a NUL and counts the full length. */
    char small[8];
    json_writer_init(&w, small, sizeof small);
    json_put_string(&w, "abcdefghij");
    json_putf(&w, "%s", "0123456789012345678901234567890123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789012345678901234567890123456789");
    CHECK(w.len == 12 + 280 && small[7] == 0 && !strcmp(small, "\"abcdef"), "truncation: %s",
          small);
    json_writer_init(&w, NULL, 0);
    json_put_string(&w, "x\"y");
    CHECK(w.len == 6, "measure only: %lld", (long long)w.len);
}

int main(void) {
    RUN(test_presets_round_trip);
    RUN(test_defaults_and_derivation);
    RUN(test_torchscale_keys);
    RUN(test_bad_values);
    RUN(test_config_load);
    RUN(test_json_valid);
    RUN(test_json_invalid);
    RUN(test_json_writer);
    return TEST_SUMMARY();
}
