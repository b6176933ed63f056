#include "identity.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "log.h"
#include "timefmt.h"
#include "uuid.h"

#define SQLSTATE_UNIQUE "23505"
#define SQLSTATE_FOREIGN_KEY "23503"
#define KEY_ATTEMPTS 3 /* a prefix collision (48 random bits) is retried with a new key */

#define CREATED_MS "(extract(epoch FROM created_at) * 1000)::bigint"

static const char SQL_TENANT_INSERT[] =
    "INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING id::text, name, " CREATED_MS;
static const char SQL_TENANT_LIST[] = "SELECT id::text, name, " CREATED_MS " FROM tenants ORDER BY name";
static const char SQL_TENANT_FIND[] = "SELECT id::text FROM tenants WHERE name = $1 OR id::text = lower($1)";
static const char SQL_KEY_INSERT[] =
    "INSERT INTO api_keys (id, tenant_id, prefix, hash, scope) VALUES ($1, $2, $3, decode($4, 'hex'), $5) "
    "RETURNING " CREATED_MS;
static const char SQL_KEY_REVOKE[] =
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id";

bool eh_identity_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > EH_TENANT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static json_t *tenant_json(const PGresult *res, int row)
{
    char created[EH_TIME_BUFLEN];
    eh_time_format_ms(strtoll(PQgetvalue(res, row, 2), NULL, 10), created);
    return json_pack("{s:s, s:s, s:s}", "tenant_id", PQgetvalue(res, row, 0), "name", PQgetvalue(res, row, 1),
                     "created_at", created);
}

int eh_identity_tenant_create(eh_db_t *db, const char *name, json_t **out)
{
    char id[EH_UUID_STRLEN + 1];
    if (eh_uuid_v4(id) != EH_OK)
        return EH_ERR;
    const char *params[] = {id, name};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_TENANT_INSERT, 2, params, &status);
    if (res == NULL)
        return strcmp(eh_db_last_sqlstate(db), SQLSTATE_UNIQUE) == 0 ? EH_DECLINED : status;
    *out = tenant_json(res, 0);
    PQclear(res);
    return *out != NULL ? EH_OK : EH_ERR;
}

int eh_identity_tenant_list(eh_db_t *db, json_t **out)
{
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_TENANT_LIST, 0, NULL, &status);
    if (res == NULL)
        return status;
    json_t *list = json_array();
    int rc = list != NULL ? EH_OK : EH_ERR;
    for (int i = 0; rc == EH_OK && i < PQntuples(res); i++) {
        if (json_array_append_new(list, tenant_json(res, i)) != 0)
            rc = EH_ERR;
    }
    PQclear(res);
    *out = rc == EH_OK ? json_pack("{s:o}", "tenants", list) : NULL;
    if (rc != EH_OK)
        json_decref(list);
    return *out != NULL ? EH_OK : EH_ERR;
}

int eh_identity_tenant_find(eh_db_t *db, const char *ref, char id[EH_UUID_STRLEN + 1])
{
    const char *params[] = {ref};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_TENANT_FIND, 1, params, &status);
    if (res == NULL)
        return status;
    int rc = PQntuples(res) >= 1 ? EH_OK : EH_DECLINED;
    if (rc == EH_OK)
        snprintf(id, EH_UUID_STRLEN + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* One attempt: EH_OK with *out, EH_AGAIN after a prefix collision (retry), EH_DECLINED, or the failure. */
static int key_insert(eh_db_t *db, const char *tenant_id, const char *scope, json_t **out, bool *collision)
{
    char key[EH_APIKEY_LEN + 1], prefix[EH_APIKEY_PREFIX_LEN + 1], id[EH_UUID_STRLEN + 1];
    unsigned char hash[EH_APIKEY_HASH_LEN];
    char hex[2 * EH_APIKEY_HASH_LEN + 1];
    if (eh_uuid_v4(id) != EH_OK || eh_apikey_generate(key, prefix) != EH_OK ||
        eh_apikey_hash(key, EH_APIKEY_LEN, hash) != EH_OK)
        return EH_ERR;
    for (size_t i = 0; i < EH_APIKEY_HASH_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    const char *params[] = {id, tenant_id, prefix, hex, scope};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_KEY_INSERT, 5, params, &status);
    int rc = status;
    if (res != NULL) {
        char created[EH_TIME_BUFLEN];
        eh_time_format_ms(strtoll(PQgetvalue(res, 0, 0), NULL, 10), created);
        PQclear(res);
        *out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", id, "key", key, "scope", scope, "tenant_id", tenant_id,
                         "created_at", created);
        rc = *out != NULL ? EH_OK : EH_ERR;
    } else if (strcmp(eh_db_last_sqlstate(db), SQLSTATE_FOREIGN_KEY) == 0) {
        rc = EH_DECLINED;
    } else if (strcmp(eh_db_last_sqlstate(db), SQLSTATE_UNIQUE) == 0) {
        *collision = true;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int eh_identity_key_create(eh_db_t *db, const char *tenant_id, const char *scope, json_t **out)
{
    if (strcmp(scope, "read") != 0 && strcmp(scope, "write") != 0)
        return EH_ERR;
    int rc = EH_ERR;
    for (int attempt = 0; attempt < KEY_ATTEMPTS; attempt++) {
        bool collision = false;
        rc = key_insert(db, tenant_id, scope, out, &collision);
        if (!collision)
            break;
    }
    return rc;
}

int eh_identity_key_revoke(eh_db_t *db, const char *key_id)
{
    const char *params[] = {key_id};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_KEY_REVOKE, 1, params, &status);
    if (res == NULL)
        return status;
    int rc = PQntuples(res) == 1 ? EH_OK : EH_DECLINED;
    PQclear(res);
    return rc;
}
