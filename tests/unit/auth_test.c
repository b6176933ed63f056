/*
 * auth_test.c - the pure parts of identification: the key format and its
 * hash (common/apikey.c), the Bearer header, the Origin allow-list and the
 * order of checks without a key (api/auth.c), the token bucket (api/keyring.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/api.h"
#include "../../api/keyring.h"
#include "apikey.h"
#include "tenant.h"

static void test_generate_and_parse(void **state)
{
    (void)state;
    char key[EH_APIKEY_LEN + 1], prefix[EH_APIKEY_PREFIX_LEN + 1], parsed[EH_APIKEY_PREFIX_LEN + 1];
    char key2[EH_APIKEY_LEN + 1], prefix2[EH_APIKEY_PREFIX_LEN + 1];
    assert_int_equal(eh_apikey_generate(key, prefix), EH_OK);
    assert_int_equal(eh_apikey_generate(key2, prefix2), EH_OK);
    assert_int_equal(strlen(key), EH_APIKEY_LEN);
    assert_memory_equal(key, "eh_", 3);
    assert_memory_equal(key + 3, prefix, EH_APIKEY_PREFIX_LEN);
    assert_string_not_equal(key, key2); /* random */
    assert_int_equal(eh_apikey_parse(key, strlen(key), parsed), EH_OK);
    assert_string_equal(parsed, prefix);
}

static void test_parse_refuses_anything_else(void **state)
{
    (void)state;
    char key[EH_APIKEY_LEN + 1], prefix[EH_APIKEY_PREFIX_LEN + 1], out[EH_APIKEY_PREFIX_LEN + 1];
    assert_int_equal(eh_apikey_generate(key, prefix), EH_OK);
    char bad[EH_APIKEY_LEN + 2];
    assert_int_equal(eh_apikey_parse(key, EH_APIKEY_LEN - 1, out), EH_DECLINED); /* truncated */
    assert_int_equal(eh_apikey_parse("", 0, out), EH_DECLINED);                  /* empty */
    memcpy(bad, key, EH_APIKEY_LEN);
    bad[EH_APIKEY_LEN] = 'A'; /* one more */
    assert_int_equal(eh_apikey_parse(bad, EH_APIKEY_LEN + 1, out), EH_DECLINED);
    const struct {
        size_t at;
        char c;
    } edits[] = {
        {0, 'E'},  {2, '-'},   {3, 'A'} /* prefix is lowercase hex */, {3 + EH_APIKEY_PREFIX_LEN, '-'}, {20, '+'},
        {20, '='}, {20, '\0'}, {EH_APIKEY_LEN - 1, (char)0xc3} /* non-ASCII */};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, key, EH_APIKEY_LEN + 1);
        bad[edits[i].at] = edits[i].c;
        assert_int_equal(eh_apikey_parse(bad, EH_APIKEY_LEN, out), EH_DECLINED);
    }
    char big[8192];
    memset(big, 'a', sizeof(big));
    memcpy(big, "eh_", 3);
    assert_int_equal(eh_apikey_parse(big, sizeof(big), out), EH_DECLINED); /* overlong */
}

static void test_hash_is_sha256(void **state)
{
    (void)state;
    unsigned char h[EH_APIKEY_HASH_LEN], h2[EH_APIKEY_HASH_LEN];
    /* SHA-256("abc"), FIPS 180-2 appendix B.1 */
    static const unsigned char abc[EH_APIKEY_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_int_equal(eh_apikey_hash("abc", 3, h), EH_OK);
    assert_memory_equal(h, abc, sizeof(abc));
    assert_true(eh_apikey_hash_equal(h, abc));
    assert_int_equal(eh_apikey_hash("abd", 3, h2), EH_OK);
    assert_false(eh_apikey_hash_equal(h, h2));
    assert_true(eh_apikey_secret_equal("s3cret", 6, "s3cret"));
    assert_false(eh_apikey_secret_equal("s3cre", 5, "s3cret"));
    assert_false(eh_apikey_secret_equal("s3cret!", 7, "s3cret"));
}

static void test_bearer(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    assert_int_equal(api_auth_bearer("Bearer abc", &t, &n), EH_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "abc", 3);
    assert_int_equal(api_auth_bearer("bearer   abc  ", &t, &n), EH_OK);
    assert_int_equal(n, 3);
    const char *bad[] = {NULL, "", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Bearerabc", "Token abc", "abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(api_auth_bearer(bad[i], &t, &n), EH_DECLINED);
}

static void test_origin_allow_list(void **state)
{
    (void)state;
    const char *list = "https://app.example, https://ops.example:8443";
    assert_true(api_auth_origin_allowed(list, NULL)); /* not a browser */
    assert_true(api_auth_origin_allowed(list, "https://app.example"));
    assert_true(api_auth_origin_allowed(list, "https://ops.example:8443"));
    assert_false(api_auth_origin_allowed(list, "https://ops.example"));
    assert_false(api_auth_origin_allowed(list, "https://app.example.evil"));
    assert_false(api_auth_origin_allowed(list, "null"));
    assert_false(api_auth_origin_allowed("", "https://app.example"));
    assert_false(api_auth_origin_allowed(" , ", ""));
    /* the page eh-api serves itself: Origin is the Host the upgrade came to */
    assert_true(api_auth_origin_same_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
    assert_true(api_auth_origin_same_host("https://EH.example", "eh.example"));
    assert_false(api_auth_origin_same_host("http://127.0.0.1:8081", "127.0.0.1:8080"));
    assert_false(api_auth_origin_same_host("http://evil.example", "eh.example"));
    assert_false(api_auth_origin_same_host("http://eh.example.evil", "eh.example"));
    assert_false(api_auth_origin_same_host("null", "eh.example"));
    assert_false(api_auth_origin_same_host("http://eh.example", NULL));
    assert_false(api_auth_origin_same_host(NULL, "eh.example"));
}

static void test_bucket(void **state)
{
    (void)state;
    api_bucket_t b = {0};
    int64_t after = 0;
    int64_t t = 1000;
    for (int i = 0; i < 4; i++) /* burst 4 */
        assert_true(api_bucket_take(&b, t, 2, 4, &after));
    assert_false(api_bucket_take(&b, t, 2, 4, &after));
    assert_int_equal(after, 1); /* 0.5 s to the next token at 2/s: whole seconds, at least 1 */
    assert_true(api_bucket_take(&b, t + 500, 2, 4, &after));
    assert_false(api_bucket_take(&b, t + 500, 2, 4, &after));
    assert_true(api_bucket_take(&b, t + 100000, 2, 4, &after)); /* refilled, capped at the burst */
    for (int i = 0; i < 3; i++)
        assert_true(api_bucket_take(&b, t + 100000, 2, 4, &after));
    assert_false(api_bucket_take(&b, t + 100000, 2, 4, &after));
    api_bucket_t slow = {0};
    assert_true(api_bucket_take(&slow, t, 1, 1, &after));
    assert_false(api_bucket_take(&slow, t + 1, 1, 1, &after));
    assert_int_equal(after, 1);
    api_bucket_t tenth = {0};      /* 1 request per 10 s would be rps 0.1: not expressible, rps is whole */
    for (int i = 0; i < 1000; i++) /* rps 0: no limit */
        assert_true(api_bucket_take(&tenth, t, 0, 1, &after));
}

static void test_decide_without_keys(void **state)
{
    (void)state;
    eh_config_t cfg = {.auth = 1, .admin_token = "adm", .allowed_origins = ""};
    api_caller_t caller;
    api_auth_refusal_t r;
    /* No key, a bad scheme, a token in a REST query: 401 before any lookup (keys is never touched). */
    api_auth_input_t in = {.auth = API_AUTH_KEY, .scope = API_SCOPE_READ};
    assert_int_equal(api_auth_decide(&cfg, NULL, &in, &caller, &r), EH_DECLINED);
    assert_int_equal(r.status, 401);
    in.authorization = "Basic eA==";
    assert_int_equal(api_auth_decide(&cfg, NULL, &in, &caller, &r), EH_DECLINED);
    assert_int_equal(r.status, 401);
    in.authorization = NULL;
    in.token_in_query = true;
    in.query_token = "eh_x";
    assert_int_equal(api_auth_decide(&cfg, NULL, &in, &caller, &r), EH_DECLINED);
    assert_int_equal(r.status, 401);
    /* Open routes and EH_AUTH=off: the default tenant with write scope. */
    api_auth_input_t open = {.auth = API_AUTH_NONE};
    assert_int_equal(api_auth_decide(&cfg, NULL, &open, &caller, &r), EH_OK);
    cfg.auth = 0;
    assert_int_equal(api_auth_decide(&cfg, NULL, &in, &caller, &r), EH_OK);
    assert_string_equal(caller.tenant_id, EH_DEFAULT_TENANT_ID);
    assert_int_equal(caller.scope, API_SCOPE_WRITE);
    /* ...but the admin routes still take the admin token only. */
    api_auth_input_t admin = {.auth = API_AUTH_ADMIN, .authorization = "Bearer adm"};
    assert_int_equal(api_auth_decide(&cfg, NULL, &admin, &caller, &r), EH_OK);
    assert_true(caller.admin);
    admin.authorization = "Bearer ad";
    assert_int_equal(api_auth_decide(&cfg, NULL, &admin, &caller, &r), EH_DECLINED);
    assert_int_equal(r.status, 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_parse),  cmocka_unit_test(test_parse_refuses_anything_else),
        cmocka_unit_test(test_hash_is_sha256),      cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_origin_allow_list),   cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_decide_without_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
