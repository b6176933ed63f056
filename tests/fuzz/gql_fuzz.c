/*
 * libFuzzer harness of the GraphQL front end: every input is parsed; a
 * document that parses is validated against the real schema
 * (api/graphql/schema.graphql, embedded) and, when valid, executed with
 * resolvers that return null, so that the parser, the validator and the
 * executor's collection, coercion and complexity walk all see it.
 *
 *   make fuzz
 *   build/fuzz/gql_fuzz -max_total_time=1800 -artifact_prefix=/tmp/ /tmp/gql-corpus tests/fuzz/gql_corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gql.h"
#include "gql_sdl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int null_resolver(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)err;
    (void)n;
    out->kind = GQL_R_NULL;
    return EH_OK;
}

static api_gql_schema_t *schema;
static api_gql_resolver_t table[64];
static size_t n_table;

static void setup(void)
{
    api_gql_error_t err;
    if (api_gql_schema_load(api_gql_sdl_text, api_gql_sdl_len(), &schema, &err) != EH_OK)
        abort();
    for (int i = 0; i < schema->n_types; i++) {
        const api_gql_type_t *t = schema->types[i];
        if (t->introspection || t->kind != GQL_K_OBJECT)
            continue;
        for (const api_gql_field_def_t *f = t->fields; f != NULL && n_table < 64; f = f->next)
            table[n_table++] = (api_gql_resolver_t){t->name, f->name, null_resolver};
    }
    if (api_gql_bind(schema, table, n_table, &err) != EH_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (schema == NULL)
        setup();
    api_gql_document_t *doc = NULL;
    api_gql_error_t err;
    if (api_gql_parse((const char *)data, size, &doc, &err) != EH_OK)
        return 0;
    json_t *errors = json_array();
    if (errors != NULL && api_gql_validate(schema, doc, errors) == EH_OK) {
        api_gql_request_t rq = {0};
        bool request_error;
        json_decref(api_gql_execute(schema, table, doc, &rq, &request_error));
    }
    json_decref(errors);
    api_gql_document_free(doc);
    return 0;
}
