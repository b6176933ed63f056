/* config_test.c - the EH_* table: defaults, range checks, errors that name the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"
#include "log.h"

typedef struct {
    const char *const *pairs; /* name, value, name, value, …, NULL */
} fake_env_t;

static const char *fake_get(const char *name, void *ud)
{
    const fake_env_t *env = ud;
    for (const char *const *p = env->pairs; p != NULL && *p != NULL; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

static int load(const char *const *pairs, eh_config_t *cfg, char *err, size_t errlen)
{
    fake_env_t env = {pairs};
    return eh_config_load_from(cfg, fake_get, &env, err, errlen);
}

static void defaults_apply(void **state)
{
    (void)state;
    eh_config_t cfg;
    char err[256] = "";
    assert_int_equal(load(NULL, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.http_port, 8080);
    assert_int_equal(cfg.max_upload_bytes, 1073741824LL);
    assert_int_equal(cfg.max_line_bytes, 1048576);
    assert_int_equal(cfg.line_delay_max_ms, 1000);
    assert_string_equal(cfg.s3_bucket, "eh-uploads");
    assert_true(cfg.workers >= 1);
    assert_int_equal(cfg.log_level, EH_LOG_INFO);
    eh_config_free(&cfg);
}

static void values_override_defaults(void **state)
{
    (void)state;
    const char *pairs[] = {"EH_HTTP_PORT",
                           "9090",
                           "EH_WORKERS",
                           "3",
                           "EH_S3_HTTPS",
                           "true",
                           "EH_LOG_LEVEL",
                           "DEBUG",
                           "EH_DATABASE_URL",
                           "postgres://u:p@h:1/d",
                           NULL};
    eh_config_t cfg;
    char err[256] = "";
    assert_int_equal(load(pairs, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.http_port, 9090);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.s3_https, 1);
    assert_int_equal(cfg.log_level, EH_LOG_DEBUG);
    assert_string_equal(cfg.database_url, "postgres://u:p@h:1/d");
    eh_config_free(&cfg);
}

/* Issue 10: identity settings, EH_AUTH=off, and per-binary S3 keys that fall back to EH_S3_*. */
static void identity_settings(void **state)
{
    (void)state;
    eh_config_t cfg;
    char err[256] = "";
    assert_int_equal(load(NULL, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.auth, 1);
    assert_string_equal(cfg.admin_token, "");
    assert_int_equal(cfg.rate_limit_rps, 20);
    assert_int_equal(cfg.rate_limit_burst, 40);
    assert_int_equal(cfg.tenant_max_active_jobs, 100);
    assert_string_equal(cfg.allowed_origins, "");
    assert_string_equal(cfg.api_s3_access_key, "S3RVER");
    assert_string_equal(cfg.worker_s3_secret_key, "S3RVER");
    eh_config_free(&cfg);
    const char *pairs[] = {
        "EH_AUTH", "off", "EH_S3_ACCESS_KEY", "shared", "EH_API_S3_ACCESS_KEY", "api-only", "EH_ADMIN_TOKEN",
        "t0ken",   NULL};
    assert_int_equal(load(pairs, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.auth, 0);
    assert_string_equal(cfg.api_s3_access_key, "api-only");
    assert_string_equal(cfg.worker_s3_access_key, "shared");
    assert_string_equal(cfg.admin_token, "t0ken");
    eh_config_free(&cfg);
    const char *bad[] = {"EH_RATE_LIMIT_BURST", "0", NULL};
    assert_int_equal(load(bad, &cfg, err, sizeof(err)), EH_ERR);
    assert_non_null(strstr(err, "EH_RATE_LIMIT_BURST"));
}

typedef struct {
    const char *name, *value, *expect_in_error;
} bad_case_t;

/* EH_SHUTDOWN_TIMEOUT_S bounds the drain; the deprecated EH_SHUTDOWN_GRACE_MS, when set, wins. */
static void shutdown_timeout_and_its_deprecated_override(void **state)
{
    (void)state;
    eh_config_t cfg;
    char err[256] = "";
    assert_int_equal(load(NULL, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.shutdown_timeout_s, 10);
    assert_int_equal(cfg.shutdown_grace_ms, 10000);
    assert_false(cfg.shutdown_grace_ms_set);
    eh_config_free(&cfg);

    const char *seconds[] = {"EH_SHUTDOWN_TIMEOUT_S", "1", NULL};
    assert_int_equal(load(seconds, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.shutdown_grace_ms, 1000);
    assert_false(cfg.shutdown_grace_ms_set);
    eh_config_free(&cfg);

    const char *old_name[] = {"EH_SHUTDOWN_GRACE_MS", "2500", NULL};
    assert_int_equal(load(old_name, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.shutdown_grace_ms, 2500);
    assert_true(cfg.shutdown_grace_ms_set);
    eh_config_free(&cfg);

    const char *both[] = {"EH_SHUTDOWN_TIMEOUT_S", "30", "EH_SHUTDOWN_GRACE_MS", "250", NULL};
    assert_int_equal(load(both, &cfg, err, sizeof(err)), EH_OK);
    assert_int_equal(cfg.shutdown_timeout_s, 30);
    assert_int_equal(cfg.shutdown_grace_ms, 250);
    eh_config_free(&cfg);

    const char *too_long[] = {"EH_SHUTDOWN_TIMEOUT_S", "601", NULL};
    assert_int_equal(load(too_long, &cfg, err, sizeof(err)), EH_ERR);
    assert_non_null(strstr(err, "EH_SHUTDOWN_TIMEOUT_S"));
}

static void bad_values_name_the_variable(void **state)
{
    (void)state;
    static const bad_case_t cases[] = {
        {"EH_HTTP_PORT", "80a", "EH_HTTP_PORT: \"80a\" is not a whole number"},
        {"EH_HTTP_PORT", "", "EH_HTTP_PORT: \"\" is not a whole number"},
        {"EH_HTTP_PORT", "70000", "EH_HTTP_PORT: 70000 is out of range"},
        {"EH_WORKERS", "0", "EH_WORKERS: 0 is out of range"},
        {"EH_MAX_UPLOAD_BYTES", "99999999999999999999", "EH_MAX_UPLOAD_BYTES"},
        {"EH_LINE_DELAY_MAX_MS", "-1", "EH_LINE_DELAY_MAX_MS: -1 is out of range"},
        {"EH_S3_HTTPS", "maybe", "EH_S3_HTTPS: \"maybe\" is not a boolean"},
        {"EH_LOG_LEVEL", "loud", "EH_LOG_LEVEL: \"loud\" is not one of"},
        {"EH_DATABASE_URL", "mysql://x", "EH_DATABASE_URL: not a URL of scheme"},
        {"EH_AMQP_URL", "localhost:5672", "EH_AMQP_URL: not a URL of scheme amqp"},
        {"EH_AMQP_URL", "amqp://", "EH_AMQP_URL"},
        {"EH_S3_BUCKET", "", "EH_S3_BUCKET: must not be empty"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(cases); i++) {
        const char *pairs[] = {cases[i].name, cases[i].value, NULL};
        eh_config_t cfg;
        char err[256] = "";
        assert_int_equal(load(pairs, &cfg, err, sizeof(err)), EH_ERR);
        if (strstr(err, cases[i].expect_in_error) == NULL)
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].expect_in_error);
        /* A failed load leaves nothing allocated. */
        assert_null(cfg.http_host);
    }
}

static void url_secret_is_not_in_the_error(void **state)
{
    (void)state;
    const char *pairs[] = {"EH_DATABASE_URL", "mysql://user:hunter2@host/db", NULL};
    eh_config_t cfg;
    char err[256] = "";
    assert_int_equal(load(pairs, &cfg, err, sizeof(err)), EH_ERR);
    assert_null(strstr(err, "hunter2"));
}

static void url_secrets_are_masked(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"postgresql://eh@127.0.0.1:5432/eh", "postgresql://eh@127.0.0.1:5432/eh"},
        {"postgresql://eh:hunter2@db:5432/eh", "postgresql://eh:***@db:5432/eh"},
        {"postgresql://eh@db/eh?password=hunter2", "postgresql://eh@db/eh?password=***"},
        {"postgresql://eh@db/eh?sslmode=disable&password=hunter2&application_name=x",
         "postgresql://eh@db/eh?sslmode=disable&password=***&application_name=x"},
        {"postgresql://db/eh?PassWord=hunter2&sslpassword=hunter3", "postgresql://db/eh?PassWord=***&sslpassword=***"},
        {"postgresql://u:p@ss@db/eh?application_name=a@b", "postgresql://u:***@db/eh?application_name=a@b"},
        {"amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"},
        {"postgresql://db/eh?password", "postgresql://db/eh?password"},
        {"postgresql://db/eh?password=&x=1", "postgresql://db/eh?password=***&x=1"},
    };
    for (size_t i = 0; i < EH_ARRAY_LEN(rows); i++) {
        char out[256];
        assert_int_equal(eh_config_mask_url(rows[i].in, out, sizeof(out)), EH_OK);
        assert_string_equal(out, rows[i].out);
    }
    char small[8];
    assert_int_equal(eh_config_mask_url("postgresql://eh:hunter2@db/eh", small, sizeof(small)), EH_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(values_override_defaults),
        cmocka_unit_test(bad_values_name_the_variable),
        cmocka_unit_test(shutdown_timeout_and_its_deprecated_override),
        cmocka_unit_test(url_secret_is_not_in_the_error),
        cmocka_unit_test(identity_settings),
        cmocka_unit_test(url_secrets_are_masked),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
