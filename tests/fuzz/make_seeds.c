/*
 * make_seeds: writes the seed corpora of tests/fuzz/corpus/ (run by hand when the formats
 * change: `tests/fuzz/make_seeds.sh`). The files are made with the library's own writers,
 * from the tiny config of fuzz_common.h, so each is a few KB; the harness that reads a first
 * "option" byte gets it prefixed here.
 */
#include "fuzz_common.h"
#include "data.h"
#include "safetensors.h"
#include "tokenizer.h"

#include <sys/stat.h>

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
    fuzz_write(p, data, n);
}

static void put_str(const char *target, const char *name, const char *s) { put(target, name, s, strlen(s)); }

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 2);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) exit(1);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* The file at path, with an option byte in front, as seed `name` of target. */
static void put_file(const char *target, const char *name, const char *path, int prefix) {
    size_t n;
    char *b = slurp(path, &n);
    if (prefix >= 0) {
        memmove(b + 1, b, n);
        b[0] = (char)prefix;
        n++;
    }
    put(target, name, b, n);
    free(b);
}

#define OK(x) do { if ((x) != RETNET_OK) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, retnet_errmsg()); exit(1); } } while (0)

int main(int argc, char **argv) {
    root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    char p[512], q[512];

    /* json */
    put_str("json", "object", "{\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\\n\\u00e9\\ud83d\\ude00\"}}");
    put_str("json", "numbers", "[0, -0, 9223372036854775807, -9223372036854775808, 1e308, 1.5E-7, 18446744073709551616]");
    put_str("json", "strings", "\xef\xbb\xbf[\"\", \"\\\"\\\\\\/\\b\\f\\r\\t\", \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    put_str("json", "deep", "[[[[[[[[[[[[[[[[{\"k\": [[[]]]}]]]]]]]]]]]]]]]]");

    /* safetensors: our writer (F32, BF16), and a hand-made file with the other dtypes */
    retnet_config c = fuzz_tiny_config();
    retnet_model *m;
    OK(retnet_model_create(&c, &m));
    OK(retnet_model_init(m, 1));
    OK(retnet_model_save(m, fuzz_path(p, "f32.safetensors")));
    put_file("safetensors", "model_f32", p, -1);
    put_file("checkpoint", "model_f32", p, 0);
    OK(retnet_model_save_ex(m, fuzz_path(p, "bf16.safetensors"), RETNET_SAVE_BF16));
    put_file("safetensors", "model_bf16", p, -1);
    put_file("checkpoint", "model_bf16_ifstored", p, 4);
    {
        retnet_config tf;
        retnet_model *mt;
        OK(retnet_config_transformer(&c, 4, &tf));
        OK(retnet_model_create(&tf, &mt));
        OK(retnet_model_init(mt, 1));
        OK(retnet_model_save(mt, fuzz_path(p, "tf.safetensors")));
        put_file("checkpoint", "transformer", p, 0);
        retnet_model_free(mt);
    }
    {
        const char *hdr = "{\"__metadata__\": {\"format\": \"pt\"}, \"a\": {\"dtype\": \"F16\", \"shape\": [2], "
                          "\"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"F64\", \"shape\": [1, 1], "
                          "\"data_offsets\": [4, 12]}, \"c\": {\"dtype\": \"I32\", \"shape\": [], "
                          "\"data_offsets\": [12, 16]}, \"d\": {\"dtype\": \"BF16\", \"shape\": [0, 3], "
                          "\"data_offsets\": [16, 16]}}";
        unsigned char b[1024];
        uint64_t n = strlen(hdr);
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
        memcpy(b + 8, hdr, n);
        static const unsigned char vals[16] = {0x00, 0x3c, 0x00, 0xc0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 7, 0, 0, 0};
        memcpy(b + 8 + n, vals, 16);
        put("safetensors", "dtypes", b, 8 + n + 16);
    }

    /* config */
    {
        char j[2048];
        retnet_config_to_json(&c, j, sizeof j);
        put_str("config", "ours", j);
        put_str("config", "ours_short", "{\"d_model\": 16, \"n_layer\": 1, \"n_head\": 2, \"vocab\": 50, \"arch\": \"transformer\", \"context\": 8}");
        put_str("config", "torchscale", "{\"decoder_embed_dim\": 16, \"decoder_value_embed_dim\": 32, "
                "\"decoder_retention_heads\": 2, \"decoder_ffn_embed_dim\": 32, \"decoder_layers\": 1, "
                "\"vocab_size\": 20, \"activation_fn\": \"swish\", \"no_scale_embedding\": true, "
                "\"layernorm_eps\": 1e-5, \"deepnorm\": false, \"moe_freq\": 0}");
        put_str("config", "fla", "{\"model_type\": \"retnet\", \"hidden_size\": 16, \"num_hidden_layers\": 1, "
                "\"num_heads\": 2, \"expand_k\": 1, \"expand_v\": 2, \"hidden_ratio\": 2, \"hidden_act\": \"swish\", "
                "\"use_output_gate\": true, \"elementwise_affine\": true, \"norm_eps\": 1e-6, \"vocab_size\": 20, "
                "\"tie_word_embeddings\": false, \"max_position_embeddings\": 64, \"retnet_chunk\": 8, "
                "\"use_short_conv\": false, \"num_kv_heads\": 2}");
    }

    /* tokenizers: tokenizer.json (Llama-like with byte fallback; GPT-2-like byte level) */
    {
        static char t[16384];
        int k = snprintf(t, sizeof t, "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", "
                         "\"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 2, "
                         "\"content\": \"</s>\", \"special\": true}], \"normalizer\": {\"type\": \"Sequence\", "
                         "\"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, {\"type\": \"Replace\", "
                         "\"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]}, \"pre_tokenizer\": null, "
                         "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
                         "{\"String\": \"\xe2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": "
                         "\"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}, "
                         "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<unk>\", \"fuse_unk\": true, "
                         "\"byte_fallback\": true, \"ignore_merges\": false, \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");
        for (int b = 0; b < 256; b += 17) k += snprintf(t + k, sizeof t - (size_t)k, ", \"<0x%02X>\": %d", b, 3 + b / 17);
        k += snprintf(t + k, sizeof t - (size_t)k, ", \"\xe2\x96\x81\": 19, \"a\": 20, \"b\": 21, \"c\": 22, "
                      "\"ab\": 23, \"\xe2\x96\x81" "ab\": 24, \"abc\": 25}, \"merges\": [\"a b\", "
                      "[\"\xe2\x96\x81\", \"ab\"], \"ab c\"]}}");
        put("tokenizer_hf", "llama_like", t, (size_t)k);
        /* byte level: GPT-2's alphabet for the 256 bytes */
        int16_t dec[512];
        for (int i = 0; i < 512; i++) dec[i] = -1;
        int nn = 0;
        for (int b = 0; b < 256; b++) {
            int pr = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            if (pr) dec[b] = (int16_t)b; else dec[256 + nn++] = (int16_t)b;
        }
        uint32_t enc[256];
        for (int cp = 0; cp < 512; cp++) if (dec[cp] >= 0) enc[dec[cp]] = (uint32_t)cp;
        static char enc_json[8192];
        int e = snprintf(enc_json, sizeof enc_json, "{");
        for (int b = 0; b < 256; b++) {
            uint32_t cp = enc[b];
            char u[8];
            int ul;
            if (cp < 0x80) { u[0] = (char)cp; ul = 1; }
            else { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); ul = 2; }
            u[ul] = 0;
            const char *esc = (cp == '"' || cp == '\\') ? "\\" : "";
            e += snprintf(enc_json + e, sizeof enc_json - (size_t)e, "%s\"%s%s\": %d", b ? ", " : "", esc, u, b);
        }
        e += snprintf(enc_json + e, sizeof enc_json - (size_t)e, ", \"\xc4\xa0t\": 256, \"he\": 257, "
                      "\"\xc4\xa0the\": 258, \"<|endoftext|>\": 259}");
        k = snprintf(t, sizeof t, "{\"added_tokens\": [{\"id\": 259, \"content\": \"<|endoftext|>\", \"special\": true}], "
                     "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                     "\"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
                     "\"vocab\": %s, \"merges\": [\"\xc4\xa0 t\", \"h e\", \"\xc4\xa0t he\"]}}", enc_json);
        put("tokenizer_hf", "gpt2_like", t, (size_t)k);
        /* GPT-2's own pair of files: encoder.json, then vocab.bpe from its "#version" line */
        k = snprintf(t, sizeof t, "\001%s\n#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\n", enc_json);
        put("tokenizer_bpe", "gpt2_pair", t, (size_t)k);
    }
    {
        const char *text = "the cat sat on the mat; the cat ate the rat. 1234 1234 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9!";
        retnet_tokenizer *tok;
        OK(retnet_bpe_train(text, (int64_t)strlen(text), 290, NULL, &tok));
        OK(retnet_tokenizer_save(tok, fuzz_path(p, "tok.bpe")));
        put_file("tokenizer_bpe", "bpe", p, 0);
        retnet_tokenizer_free(tok);
    }

    /* training state and decoding states, of the harnesses' models */
    {
        int64_t np = retnet_config_param_count(&c);
        float *m1 = calloc((size_t)np, sizeof(float)), *m2 = calloc((size_t)np, sizeof(float));
        for (int64_t i = 0; i < np; i++) m1[i] = 0.001f * (float)i, m2[i] = 0.5f;
        OK(retnet_train_state_save(fuzz_path(p, "state.train"), m, m1, m2, 17,
                                   "{\"loader\": \"rtl1:2:-1:50:0:0:1:2:3:4\", \"lr\": 0.001}"));
        put_file("train_state", "state", p, -1);
        free(m1);
        free(m2);
    }
    {
        retnet_config tf;
        OK(retnet_config_transformer(&c, 4, &tf));
        retnet_model *mt;
        OK(retnet_model_create(&tf, &mt));
        OK(retnet_model_init(mt, 1));
        retnet_model *ms[2] = {m, mt};
        for (int i = 0; i < 2; i++) {
            const retnet_config *ci = retnet_model_config(ms[i]);
            int64_t nf = retnet_state_floats(ci);
            float *buf = calloc((size_t)nf, sizeof(float));
            retnet_state st = {0, buf};
            int32_t toks[2] = {3, 5};
            OK(retnet_forward(ms[i], toks, 1, 2, RETNET_FORM_RECURRENT, 0, &st, NULL));
            int32_t last = 5;
            OK(retnet_state_save_ex(fuzz_path(p, "s.state"), ms[i], &st, &last, "{\"rng\": 5}"));
            put_file("state_file", i ? "transformer" : "retnet", p, i);
            free(buf);
        }
        retnet_model_free(mt);
    }
    retnet_model_free(m);

    /* token files, meta.json, loader states */
    {
        retnet_tokfile_writer *w;
        OK(retnet_tokfile_create(fuzz_path(p, "t.bin"), 260, 256, &w));
        int32_t ids[12] = {1, 2, 3, 256, 257, 259, 0, 255, 100, 7, 7, 7};
        OK(retnet_tokfile_append(w, ids, 12));
        OK(retnet_tokfile_finish(w));
        put_file("data", "tokens16", p, 0);
        OK(retnet_tokfile_create(fuzz_path(p, "t.bin"), 70000, -1, &w));
        int32_t big[5] = {69999, 0, 65536, 1, 2};
        OK(retnet_tokfile_append(w, big, 5));
        OK(retnet_tokfile_finish(w));
        put_file("data", "tokens32", p, 0);
        snprintf(q, sizeof q, "\001{\"format\": \"retnet-tokens\", \"version\": 1, \"tokenizer\": \"byte\", "
                 "\"tokenizer_kind\": \"byte\", \"vocab\": 260, \"bos\": 256, \"eos\": 257, \"dtype\": \"uint16\", "
                 "\"train\": {\"file\": \"train.bin\", \"tokens\": 40}, \"val\": {\"file\": \"val.bin\", \"tokens\": 9}}");
        put_str("data", "meta", q);
        put_str("data", "loader_state", "\002rtl1:2:-1:50:3:10:0123456789abcdef:1:2:3");
    }
    return 0;
}
