/*
 * gql_app.h - what the resolvers of /graphql share with its HTTP handler:
 * the request's context (caller, pooled database connection) and the
 * resolver table that api_gql_bind checks against schema.graphql.
 */
#ifndef EH_API_GQL_APP_H
#define EH_API_GQL_APP_H

#include "../api.h"
#include "gql.h"

typedef struct api_gql_app {
    api_ctx_t *ctx;
    const char *tenant_id; /* the caller's: every job query is scoped to it */
    eh_db_t *db;           /* acquired on first use, released when the request ends */
    unsigned queries;      /* database statements this request issued (logged; the N+1 test reads it) */
} api_gql_app_t;

extern const api_gql_resolver_t api_gql_resolvers[];
extern const size_t api_gql_n_resolvers;

/* The request's pooled connection (acquired on first use); NULL with err set when the database is not there. */
eh_db_t *api_gql_app_db(api_gql_app_t *app, char *err, size_t err_len);

#endif
