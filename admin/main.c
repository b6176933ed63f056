/*
 * eh-admin: tenants and API keys, directly on the database (first setup,
 * or when no admin token is configured). The same operations as the admin
 * endpoints of eh-api (common/identity.c).
 *
 *   eh-admin tenant create NAME
 *   eh-admin tenant list
 *   eh-admin key create TENANT --scope read|write    (TENANT: name or id)
 *   eh-admin key revoke KEY_ID
 *
 * Prints the result as one JSON object on stdout. A created key's secret is
 * printed there once and nowhere else (never in the log on stderr).
 * Exit codes: 0 done, 1 failure (or conflict / not found), 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "identity.h"
#include "log.h"
#include "uuid.h"

#define EXIT_USAGE 2
#define DB_WAIT_MS 10000

static int usage(void)
{
    fprintf(stderr, "usage: eh-admin tenant create NAME\n"
                    "       eh-admin tenant list\n"
                    "       eh-admin key create TENANT --scope read|write\n"
                    "       eh-admin key revoke KEY_ID\n"
                    "The database is EH_DATABASE_URL.\n");
    return EXIT_USAGE;
}

static int print(json_t *out)
{
    int rc = json_dumpf(out, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0 ? 0 : 1;
    json_decref(out);
    return rc;
}

static int fail(int rc, const char *what)
{
    if (rc == EH_AGAIN)
        fprintf(stderr, "eh-admin: the database is not reachable\n");
    else
        fprintf(stderr, "eh-admin: %s\n", what);
    return 1;
}

static int tenant_create(eh_db_t *db, const char *name)
{
    if (!eh_identity_name_valid(name)) {
        fprintf(stderr, "eh-admin: a tenant name is 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', '-'\n");
        return EXIT_USAGE;
    }
    json_t *out = NULL;
    int rc = eh_identity_tenant_create(db, name, &out);
    if (rc == EH_DECLINED)
        return fail(rc, "a tenant with this name exists");
    return rc == EH_OK ? print(out) : fail(rc, "could not create the tenant");
}

static int tenant_list(eh_db_t *db)
{
    json_t *out = NULL;
    int rc = eh_identity_tenant_list(db, &out);
    return rc == EH_OK ? print(out) : fail(rc, "could not list the tenants");
}

static int key_create(eh_db_t *db, const char *tenant, const char *scope)
{
    if (strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0)
        return usage();
    char id[EH_UUID_STRLEN + 1];
    int rc = eh_identity_tenant_find(db, tenant, id);
    if (rc != EH_OK)
        return fail(rc, "no such tenant");
    json_t *out = NULL;
    rc = eh_identity_key_create(db, id, scope, &out);
    if (rc != EH_OK)
        return fail(rc, rc == EH_DECLINED ? "no such tenant" : "could not create the key");
    return print(out);
}

static int key_revoke(eh_db_t *db, const char *key_id)
{
    if (!eh_uuid_valid(key_id, strlen(key_id))) {
        fprintf(stderr, "eh-admin: a key id is a UUID\n");
        return EXIT_USAGE;
    }
    char lower[EH_UUID_STRLEN + 1];
    for (size_t i = 0; i <= EH_UUID_STRLEN; i++)
        lower[i] = (char)(key_id[i] >= 'A' && key_id[i] <= 'F' ? key_id[i] + ('a' - 'A') : key_id[i]);
    int rc = eh_identity_key_revoke(db, lower);
    if (rc != EH_OK)
        return fail(rc, rc == EH_DECLINED ? "no such key" : "could not revoke the key");
    json_t *out = json_pack("{s:s, s:b}", "key_id", lower, "revoked", 1);
    return out != NULL ? print(out) : 1;
}

static int run(eh_db_t *db, int argc, char **argv)
{
    const char *what = argv[1], *verb = argv[2];
    if (strcmp(what, "tenant") == 0 && strcmp(verb, "create") == 0 && argc == 4)
        return tenant_create(db, argv[3]);
    if (strcmp(what, "tenant") == 0 && strcmp(verb, "list") == 0 && argc == 3)
        return tenant_list(db);
    if (strcmp(what, "key") == 0 && strcmp(verb, "create") == 0 && argc == 6 && strcmp(argv[4], "--scope") == 0)
        return key_create(db, argv[3], argv[5]);
    if (strcmp(what, "key") == 0 && strcmp(verb, "revoke") == 0 && argc == 4)
        return key_revoke(db, argv[3]);
    return usage();
}

int main(int argc, char **argv)
{
    eh_log_init("admin");
    if (argc < 3)
        return usage();
    eh_config_t cfg;
    char err[256];
    if (eh_config_load(&cfg, err, sizeof(err)) != EH_OK) {
        fprintf(stderr, "eh-admin: bad configuration: %s\n", err);
        return EXIT_USAGE;
    }
    eh_log_set_level((int)cfg.log_level);
    eh_db_t *db = eh_db_connect(cfg.database_url, DB_WAIT_MS);
    eh_config_free(&cfg);
    if (db == NULL)
        return fail(EH_AGAIN, "");
    int rc = run(db, argc, argv);
    eh_db_destroy(db);
    return rc;
}
