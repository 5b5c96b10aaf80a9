/*
 * fuzz_config: config JSON (src/config_json.c). The input is parsed as our config (no base,
 * and over the tiny preset), and as fla's config.json (retnet_config_from_fla_json), and
 * through retnet_config_load from a file.
 *
 * Properties: a failure has a message; a config that parses is valid, and written back
 * (retnet_config_to_json) and parsed again it is the same config.
 */
#include "fuzz_common.h"
#include "internal.h"

static void round_trip(const retnet_config *c) {
    FUZZ_CHECK(retnet_config_validate(c) == RETNET_OK, "parsed an invalid config: %s", retnet_errmsg());
    char a[2048], b[2048];
    int64_t n = retnet_config_to_json(c, a, sizeof a);
    FUZZ_CHECK(n > 0 && n < (int64_t)sizeof a, "to_json length %lld", (long long)n);
    retnet_config back;
    FUZZ_CHECK(retnet_config_from_json(a, (size_t)n, NULL, &back) == RETNET_OK, "%s does not parse back: %s", a,
               retnet_errmsg());
    retnet_config_to_json(&back, b, sizeof b);
    FUZZ_CHECK(!strcmp(a, b), "round trip:\n%s\n%s", a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    retnet_config c, base;
    retnet_config_preset("tiny", &base);
    retnet_status s = retnet_config_from_json(text, size, NULL, &c);
    if (s == RETNET_OK) round_trip(&c);
    else FUZZ_CHECK(retnet_errmsg()[0], "no message");
    s = retnet_config_from_json(text, size, &base, &c);
    if (s == RETNET_OK) round_trip(&c);
    else FUZZ_CHECK(retnet_errmsg()[0], "no message");
    s = retnet_config_from_fla_json(text, size, &c);
    if (s == RETNET_OK) round_trip(&c);
    else FUZZ_CHECK(retnet_errmsg()[0], "no message");

    char path[512];
    fuzz_path(path, "config.json");
    fuzz_write(path, data, size);
    s = retnet_config_load(path, &c);
    if (s == RETNET_OK) round_trip(&c);
    else fuzz_check_failure(s, path);
    return 0;
}
