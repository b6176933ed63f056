/*
 * The type system, built from SDL at start: the application's schema
 * (api/graphql/schema.graphql, the one source of truth) and the built-in
 * scalars, directives and introspection types, which are SDL as well and
 * go through the same parser.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

static const char BUILTINS[] =
    "scalar Int\nscalar Float\nscalar String\nscalar Boolean\nscalar ID\n"
    "directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @deprecated(reason: String = \"No longer supported\") on FIELD_DEFINITION | ARGUMENT_DEFINITION "
    "| INPUT_FIELD_DEFINITION | ENUM_VALUE\n"
    "directive @specifiedBy(url: String!) on SCALAR\n"
    "directive @oneOf on INPUT_OBJECT\n"
    "type __Schema { description: String types: [__Type!]! queryType: __Type! mutationType: __Type "
    "subscriptionType: __Type directives: [__Directive!]! }\n"
    "type __Type { kind: __TypeKind! name: String description: String specifiedByURL: String "
    "fields(includeDeprecated: Boolean = false): [__Field!] interfaces: [__Type!] possibleTypes: [__Type!] "
    "enumValues(includeDeprecated: Boolean = false): [__EnumValue!] "
    "inputFields(includeDeprecated: Boolean = false): [__InputValue!] ofType: __Type }\n"
    "enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }\n"
    "type __Field { name: String! description: String args(includeDeprecated: Boolean = false): [__InputValue!]! "
    "type: __Type! isDeprecated: Boolean! deprecationReason: String }\n"
    "type __InputValue { name: String! description: String type: __Type! defaultValue: String "
    "isDeprecated: Boolean! deprecationReason: String }\n"
    "type __EnumValue { name: String! description: String isDeprecated: Boolean! deprecationReason: String }\n"
    "type __Directive { name: String! description: String isRepeatable: Boolean! "
    "locations: [__DirectiveLocation!]! args(includeDeprecated: Boolean = false): [__InputValue!]! }\n"
    "enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD "
    "INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE "
    "UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION }\n"
    "type __Meta { __typename: String! __schema: __Schema! __type(name: String!): __Type }\n";

api_gql_type_t *api_gql_schema_type(const api_gql_schema_t *s, const char *name)
{
    for (int i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i]->name, name) == 0)
            return s->types[i];
    return NULL;
}

api_gql_field_def_t *api_gql_type_field(const api_gql_type_t *t, const char *name)
{
    for (api_gql_field_def_t *f = t->fields; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

api_gql_type_t *api_gql_typeref_named(const api_gql_typeref_t *t)
{
    while (t != NULL && t->kind != GQL_T_NAMED)
        t = t->of;
    return t != NULL ? t->named : NULL;
}

__attribute__((format(printf, 2, 3))) static int bad(api_gql_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return EH_DECLINED;
}

static int resolve_ref(api_gql_schema_t *s, api_gql_typeref_t *t, bool output, api_gql_error_t *err)
{
    while (t->kind != GQL_T_NAMED)
        t = t->of;
    t->named = api_gql_schema_type(s, t->name);
    if (t->named == NULL)
        return bad(err, "Unknown type \"%s\".", t->name);
    if (!output && t->named->kind == GQL_K_OBJECT)
        return bad(err, "The type of an argument must be an input type, not \"%s\".", t->name);
    return EH_OK;
}

static int resolve_args(api_gql_schema_t *s, api_gql_input_value_def_t *a, api_gql_error_t *err)
{
    for (; a != NULL; a = a->next)
        if (resolve_ref(s, a->type, false, err) != EH_OK)
            return EH_DECLINED;
    return EH_OK;
}

static int add_types(api_gql_schema_t *s, api_gql_document_t *doc, bool introspection, api_gql_error_t *err)
{
    for (api_gql_type_t *t = doc->types; t != NULL; t = t->next) {
        if (strcmp(t->name, "__Meta") == 0)
            continue;
        if (api_gql_schema_type(s, t->name) != NULL)
            return bad(err, "There can be only one type named \"%s\".", t->name);
        if (!introspection && strncmp(t->name, "__", 2) == 0)
            return bad(err, "Name \"%s\" must not begin with \"__\", which is reserved.", t->name);
        if (s->n_types >= (int)(sizeof(s->types) / sizeof(s->types[0])))
            return bad(err, "too many types");
        t->introspection = introspection && strncmp(t->name, "__", 2) == 0;
        t->builtin = introspection && t->kind == GQL_K_SCALAR;
        s->types[s->n_types++] = t;
    }
    return EH_OK;
}

int api_gql_schema_load(const char *sdl, size_t len, api_gql_schema_t **out, api_gql_error_t *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    api_gql_schema_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return EH_ERR;
    int rc = api_gql_parse(BUILTINS, sizeof(BUILTINS) - 1, &s->builtins, err);
    if (rc == EH_OK)
        rc = api_gql_parse(sdl, len, &s->sdl, err);
    if (rc == EH_OK && s->sdl->has_executable)
        rc = bad(err, "The schema document holds operations or fragments.");
    if (rc == EH_OK)
        rc = add_types(s, s->sdl, false, err);
    if (rc == EH_OK)
        rc = add_types(s, s->builtins, true, err);
    for (api_gql_directive_def_t *d = s->builtins->directives; rc == EH_OK && d != NULL; d = d->next)
        s->directives[s->n_directives++] = d;
    if (rc == EH_OK && s->sdl->directives != NULL)
        rc = bad(err, "Custom directives are not supported (\"@%s\").", s->sdl->directives->name);
    for (int i = 0; rc == EH_OK && i < s->n_types; i++) {
        api_gql_type_t *t = s->types[i];
        if (t->kind == GQL_K_OBJECT && t->fields == NULL)
            rc = bad(err, "Type %s must define one or more fields.", t->name);
        for (api_gql_field_def_t *f = t->fields; rc == EH_OK && f != NULL; f = f->next) {
            if (api_gql_type_field(t, f->name) != f)
                rc = bad(err, "Field \"%s.%s\" can only be defined once.", t->name, f->name);
            else if ((rc = resolve_ref(s, f->type, true, err)) == EH_OK)
                rc = resolve_args(s, f->args, err);
        }
    }
    for (int i = 0; rc == EH_OK && i < s->n_directives; i++)
        rc = resolve_args(s, s->directives[i]->args, err);
    /* The meta fields every selection may ask for, typed against the introspection types. */
    api_gql_type_t *meta = NULL;
    for (api_gql_type_t *t = s->builtins->types; t != NULL; t = t->next)
        if (strcmp(t->name, "__Meta") == 0)
            meta = t;
    for (api_gql_field_def_t *f = meta != NULL ? meta->fields : NULL; rc == EH_OK && f != NULL; f = f->next) {
        if ((rc = resolve_ref(s, f->type, true, err)) == EH_OK)
            rc = resolve_args(s, f->args, err);
        api_gql_field_def_t *dst = strcmp(f->name, "__typename") == 0 ? &s->typename_field
                                   : strcmp(f->name, "__schema") == 0 ? &s->schema_field
                                                                      : &s->type_field;
        *dst = *f;
        dst->next = NULL;
    }
    if (rc == EH_OK) {
        const char *qname = s->sdl->schema_query != NULL ? s->sdl->schema_query : "Query";
        s->query = api_gql_schema_type(s, qname);
        if (s->query == NULL || s->query->kind != GQL_K_OBJECT)
            rc = bad(err, "The schema has no query root type \"%s\".", qname);
    }
    if (rc != EH_OK) {
        api_gql_schema_free(s);
        return rc;
    }
    *out = s;
    return EH_OK;
}

void api_gql_schema_free(api_gql_schema_t *s)
{
    if (s == NULL)
        return;
    api_gql_document_free(s->sdl);
    api_gql_document_free(s->builtins);
    free(s);
}

int api_gql_bind(api_gql_schema_t *s, const api_gql_resolver_t *table, size_t n, api_gql_error_t *err)
{
    memset(err, 0, sizeof(*err));
    for (size_t i = 0; i < n; i++) {
        api_gql_type_t *t = api_gql_schema_type(s, table[i].type);
        api_gql_field_def_t *f = t != NULL && !t->introspection ? api_gql_type_field(t, table[i].field) : NULL;
        if (f == NULL)
            return bad(err, "resolver %s.%s has no field in the schema", table[i].type, table[i].field);
        if (f->resolver >= 0)
            return bad(err, "field %s.%s has two resolvers", table[i].type, table[i].field);
        if (table[i].fn == NULL)
            return bad(err, "resolver %s.%s has no function", table[i].type, table[i].field);
        f->resolver = (int)i;
    }
    for (int i = 0; i < s->n_types; i++) {
        const api_gql_type_t *t = s->types[i];
        if (t->introspection || t->kind != GQL_K_OBJECT)
            continue;
        for (const api_gql_field_def_t *f = t->fields; f != NULL; f = f->next)
            if (f->resolver < 0)
                return bad(err, "field %s.%s of the schema has no resolver", t->name, f->name);
    }
    return EH_OK;
}

const api_gql_field_def_t *api_gql_field_lookup(const api_gql_schema_t *s, const api_gql_type_t *parent,
                                                const char *name)
{
    if (strcmp(name, "__typename") == 0)
        return &s->typename_field;
    if (parent == s->query && strcmp(name, "__schema") == 0)
        return &s->schema_field;
    if (parent == s->query && strcmp(name, "__type") == 0)
        return &s->type_field;
    return api_gql_type_field(parent, name);
}
