/*
 * identity.h - tenants and API keys in PostgreSQL: what the admin endpoints
 * of eh-api and the eh-admin program both do (one implementation).
 *
 * Results are the contract's JSON objects (new references):
 *   tenant {"tenant_id", "name", "created_at"}
 *   key    {"key_id", "key", "scope", "tenant_id", "created_at"}; "key" is
 *          the secret, present only in the answer of its creation.
 */
#ifndef EH_IDENTITY_H
#define EH_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "eh.h"

#define EH_TENANT_NAME_MAX 100

/* True when name is 1-100 characters of [A-Za-z0-9._-]. */
bool eh_identity_name_valid(const char *name);

/* EH_OK with *out; EH_DECLINED when the name is taken; EH_AGAIN (database down) or EH_ERR. */
EH_MUST_CHECK int eh_identity_tenant_create(eh_db_t *db, const char *name, json_t **out);

/* {"tenants": [tenant, ...]} by name. EH_OK, EH_AGAIN or EH_ERR. */
EH_MUST_CHECK int eh_identity_tenant_list(eh_db_t *db, json_t **out);

/* The id of a tenant named or identified by ref, into id. EH_OK, EH_DECLINED (none), EH_AGAIN, EH_ERR. */
EH_MUST_CHECK int eh_identity_tenant_find(eh_db_t *db, const char *ref, char id[EH_UUID_STRLEN + 1]);

/*
 * A new key of scope "read" or "write" for tenant_id (a valid UUID).
 * EH_OK with *out (holding the secret: show it once, never log it);
 * EH_DECLINED when there is no such tenant; EH_AGAIN or EH_ERR.
 */
EH_MUST_CHECK int eh_identity_key_create(eh_db_t *db, const char *tenant_id, const char *scope, json_t **out);

/*
 * Revokes key_id (a valid UUID); revoking a revoked key again is a success.
 * EH_OK; EH_DECLINED when there is no such key; EH_AGAIN or EH_ERR.
 */
EH_MUST_CHECK int eh_identity_key_revoke(eh_db_t *db, const char *key_id);

#endif
