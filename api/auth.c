/*
 * auth.c - who is calling: the one place that turns a request into a caller
 * (tenant, scope). Every handler reads rq->caller and passes its tenant to
 * the job queries; none identifies anyone itself.
 *
 * Until API keys exist every request is the default tenant with write scope
 * (the mode EH_AUTH=off keeps for experiments).
 */
#include <stdio.h>

#include "api.h"
#include "tenant.h"

int api_auth_request(api_ctx_t *ctx, struct MHD_Connection *c, api_request_t *rq, enum MHD_Result *res)
{
    EH_UNUSED(ctx);
    EH_UNUSED(c);
    *res = MHD_YES;
    snprintf(rq->caller.tenant_id, sizeof(rq->caller.tenant_id), "%s", EH_DEFAULT_TENANT_ID);
    rq->caller.key_id[0] = '\0';
    rq->caller.scope = API_SCOPE_WRITE;
    rq->caller.admin = false;
    return EH_OK;
}
