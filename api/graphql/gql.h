/*
 * gql.h - a small, strict GraphQL implementation (October 2021 edition of
 * the specification): lexer and parser to an AST (gql_parse.c), the type
 * system built from SDL (gql_schema.c), validation (gql_validate.c) and
 * execution with introspection (gql_execute.c).
 *
 * Not supported, refused where they appear: interfaces, unions and input
 * object types in the schema; mutations and subscriptions are parsed and
 * refused by validation (the schema has no root type for them).
 *
 * Memory: a document, a schema and an execution each own one arena; every
 * node they hand out lives until its owner is freed.
 */
#ifndef EH_API_GQL_H
#define EH_API_GQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

/* Limits of a document (the contract's). */
#define API_GQL_MAX_DOCUMENT 65536   /* bytes */
#define API_GQL_MAX_TOKENS 15000     /* lexical tokens, punctuation included */
#define API_GQL_MAX_NESTING 64       /* nested braces, brackets, list types; the parser's recursion bound */
#define API_GQL_MAX_DEPTH 10         /* field depth, introspection fields not counted */
#define API_GQL_MAX_COMPLEXITY 50000 /* cost budget; a connection's `first` multiplies what it selects */
#define API_GQL_MAX_ERRORS 50        /* validation stops after this many errors */

/* ---- arena ---- */

typedef struct api_gql_arena {
    struct gql_block *head;
} api_gql_arena_t;

/* Zeroed memory that lives until the arena is freed; NULL on out of memory. */
void *api_gql_alloc(api_gql_arena_t *a, size_t n);
char *api_gql_strndup(api_gql_arena_t *a, const char *s, size_t n);
void api_gql_arena_free(api_gql_arena_t *a);

/* ---- AST ---- */

typedef struct api_gql_loc {
    uint32_t line, column; /* 1-based */
} api_gql_loc_t;

typedef enum {
    GQL_V_VARIABLE,
    GQL_V_INT,
    GQL_V_FLOAT,
    GQL_V_STRING,
    GQL_V_BOOLEAN,
    GQL_V_NULL,
    GQL_V_ENUM,
    GQL_V_LIST,
    GQL_V_OBJECT
} api_gql_value_kind_t;

typedef struct api_gql_value api_gql_value_t;
typedef struct api_gql_object_field {
    const char *name;
    api_gql_loc_t loc;
    api_gql_value_t *value;
    struct api_gql_object_field *next;
} api_gql_object_field_t;

struct api_gql_value {
    api_gql_value_kind_t kind;
    api_gql_loc_t loc;
    const char *text; /* variable or enum name, int/float digits, string contents (UTF-8, unescaped) */
    size_t text_len;  /* strings may hold NUL */
    bool boolean;
    api_gql_value_t *items;         /* GQL_V_LIST, linked by next */
    api_gql_object_field_t *fields; /* GQL_V_OBJECT */
    api_gql_value_t *next;
};

typedef enum { GQL_T_NAMED, GQL_T_LIST, GQL_T_NON_NULL } api_gql_typeref_kind_t;

typedef struct api_gql_type api_gql_type_t;
typedef struct api_gql_typeref {
    api_gql_typeref_kind_t kind;
    const char *name;           /* GQL_T_NAMED */
    struct api_gql_typeref *of; /* GQL_T_LIST, GQL_T_NON_NULL */
    api_gql_loc_t loc;
    api_gql_type_t *named; /* resolved against a schema (schema types; documents resolve during validation) */
} api_gql_typeref_t;

typedef struct api_gql_argument {
    const char *name;
    api_gql_loc_t loc;
    api_gql_value_t *value;
    struct api_gql_argument *next;
} api_gql_argument_t;

typedef struct api_gql_directive {
    const char *name;
    api_gql_loc_t loc;
    api_gql_argument_t *args;
    struct api_gql_directive *next;
} api_gql_directive_t;

typedef enum { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE } api_gql_sel_kind_t;

typedef struct api_gql_selection {
    api_gql_sel_kind_t kind;
    api_gql_loc_t loc;
    const char *alias; /* fields; NULL without */
    const char *name;  /* field name, or fragment name of a spread */
    api_gql_argument_t *args;
    api_gql_directive_t *directives;
    const char *type_condition;           /* inline fragment; NULL without */
    struct api_gql_selection *selections; /* the selection set; NULL for a leaf field and a spread */
    bool has_selection_set;
    struct api_gql_selection *next;
} api_gql_selection_t;

typedef struct api_gql_var_def {
    const char *name;
    api_gql_loc_t loc;
    api_gql_typeref_t *type;
    api_gql_value_t *default_value;
    struct api_gql_var_def *next;
} api_gql_var_def_t;

typedef enum { GQL_OP_QUERY, GQL_OP_MUTATION, GQL_OP_SUBSCRIPTION } api_gql_op_kind_t;

typedef struct api_gql_operation {
    api_gql_op_kind_t kind;
    const char *name; /* NULL: anonymous */
    api_gql_loc_t loc;
    api_gql_var_def_t *vars;
    api_gql_directive_t *directives;
    api_gql_selection_t *selections;
    struct api_gql_operation *next;
} api_gql_operation_t;

typedef struct api_gql_fragment {
    const char *name;
    api_gql_loc_t loc;
    const char *type_condition;
    api_gql_loc_t type_loc;
    api_gql_directive_t *directives;
    api_gql_selection_t *selections;
    struct api_gql_fragment *next;
} api_gql_fragment_t;

/* ---- SDL (type system definitions) ---- */

typedef struct api_gql_input_value_def {
    const char *name;
    const char *description;
    api_gql_loc_t loc;
    api_gql_typeref_t *type;
    api_gql_value_t *default_value;
    struct api_gql_input_value_def *next;
} api_gql_input_value_def_t;

typedef struct api_gql_field_def {
    const char *name;
    const char *description;
    api_gql_loc_t loc;
    api_gql_input_value_def_t *args;
    api_gql_typeref_t *type;
    const char *deprecation; /* @deprecated(reason:); NULL when not deprecated */
    int resolver;            /* index into the executor's table; -1 for introspection fields */
    struct api_gql_field_def *next;
} api_gql_field_def_t;

typedef struct api_gql_enum_value_def {
    const char *name;
    const char *description;
    const char *deprecation;
    struct api_gql_enum_value_def *next;
} api_gql_enum_value_def_t;

typedef enum { GQL_K_SCALAR, GQL_K_OBJECT, GQL_K_ENUM, GQL_K_OTHER } api_gql_kind_t;

/* A named type of the schema (or a type definition of an SDL document). */
struct api_gql_type {
    api_gql_kind_t kind;
    const char *name;
    const char *description;
    api_gql_loc_t loc;
    api_gql_field_def_t *fields;      /* objects */
    api_gql_enum_value_def_t *values; /* enums */
    const char *specified_by;         /* scalars */
    bool introspection;               /* __Schema, __Type, ...: not part of the printed SDL */
    bool builtin;                     /* Int, Float, String, Boolean, ID */
    struct api_gql_type *next;
};

typedef struct api_gql_directive_def {
    const char *name;
    const char *description;
    api_gql_input_value_def_t *args;
    const char *locations[12];
    int n_locations;
    bool repeatable;
    struct api_gql_directive_def *next;
} api_gql_directive_def_t;

typedef struct api_gql_document {
    api_gql_arena_t arena;
    api_gql_operation_t *operations;
    api_gql_fragment_t *fragments;
    /* SDL documents */
    api_gql_type_t *types;
    api_gql_directive_def_t *directives;
    const char *schema_query; /* `schema { query: X }`; NULL when absent */
    bool has_executable, has_type_system;
    uint32_t tokens;
} api_gql_document_t;

/* An error with where it happened: {"message", "locations": [...], "path": [...]} (path added by the executor). */
typedef struct api_gql_error {
    char message[256];
    api_gql_loc_t loc;
    bool has_loc;
} api_gql_error_t;

/*
 * Parses src[0..len) (a GraphQL document: executable definitions, type
 * system definitions, or both). EH_OK with *out (free with api_gql_document_free);
 * EH_DECLINED with err (a syntax error, a limit); EH_ERR on out of memory.
 */
EH_MUST_CHECK int api_gql_parse(const char *src, size_t len, api_gql_document_t **out, api_gql_error_t *err);
void api_gql_document_free(api_gql_document_t *doc);

/* ---- schema ---- */

typedef struct api_gql_schema {
    api_gql_document_t *sdl;      /* the application's SDL */
    api_gql_document_t *builtins; /* scalars, directives and the introspection types */
    api_gql_type_t *query;
    api_gql_type_t *types[64]; /* every named type, SDL order then builtins */
    int n_types;
    api_gql_directive_def_t *directives[8];
    int n_directives;
    api_gql_field_def_t typename_field, schema_field, type_field; /* __typename, __schema, __type(name:) */
} api_gql_schema_t;

/*
 * Builds the schema from SDL text: every type reference resolved, only
 * object, enum and scalar types, a Query root. EH_OK; EH_DECLINED with
 * err saying what is wrong; EH_ERR on out of memory.
 */
EH_MUST_CHECK int api_gql_schema_load(const char *sdl, size_t len, api_gql_schema_t **out, api_gql_error_t *err);
void api_gql_schema_free(api_gql_schema_t *s);
api_gql_type_t *api_gql_schema_type(const api_gql_schema_t *s, const char *name);
api_gql_field_def_t *api_gql_type_field(const api_gql_type_t *t, const char *name);
/* Field name of parent as a selection sees it: the type's own fields plus the meta-fields
 * (__typename everywhere, __schema and __type on the query root). NULL when there is none. */
const api_gql_field_def_t *api_gql_field_lookup(const api_gql_schema_t *s, const api_gql_type_t *parent,
                                                const char *name);
/* The named type at the bottom of list and non-null wrappers. */
api_gql_type_t *api_gql_typeref_named(const api_gql_typeref_t *t);

/* ---- validation ---- */

/*
 * Runs every validation rule of the document against the schema; appends
 * {"message","locations"} objects to errors (a JSON array). EH_OK when the
 * document is valid; EH_DECLINED when errors were added; EH_ERR on out of memory.
 */
EH_MUST_CHECK int api_gql_validate(const api_gql_schema_t *s, api_gql_document_t *doc, json_t *errors);

/* ---- execution ---- */

typedef struct api_gql_exec api_gql_exec_t;

/* What a resolver returns: null, a leaf (JSON, stolen), an object (opaque source) or a list of them. */
typedef enum { GQL_R_NULL, GQL_R_LEAF, GQL_R_OBJECT, GQL_R_LIST } api_gql_rkind_t;
typedef struct api_gql_rvalue {
    api_gql_rkind_t kind;
    json_t *leaf;                 /* GQL_R_LEAF: a JSON value already serialized for the field's type */
    void *object;                 /* GQL_R_OBJECT */
    struct api_gql_rvalue *items; /* GQL_R_LIST: n items, in the execution's arena */
    size_t n;
} api_gql_rvalue_t;

/* The field being resolved: its source object, coerced arguments (a JSON object) and the app's context. */
typedef struct api_gql_resolve {
    api_gql_exec_t *ex;
    void *source;
    json_t *args;
    void *app;
    const api_gql_selection_t *field; /* for locations */
    json_t *path;                     /* the response path so far (borrowed) */
} api_gql_resolve_t;

/*
 * A resolver: EH_OK with out set; EH_DECLINED with a field error message
 * in err (the field becomes null, the error is reported with path and location).
 */
typedef int (*api_gql_resolver_fn)(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t err_len);

/* One row of the resolver table: "Type.field" and its function. */
typedef struct api_gql_resolver {
    const char *type;
    const char *field;
    api_gql_resolver_fn fn;
} api_gql_resolver_t;

/*
 * Binds the table to the schema: every field of every object type of the
 * SDL has exactly one row, and every row names such a field. EH_OK, or
 * EH_DECLINED with err naming what is missing or extra.
 */
EH_MUST_CHECK int api_gql_bind(api_gql_schema_t *s, const api_gql_resolver_t *table, size_t n, api_gql_error_t *err);

typedef struct api_gql_request {
    const char *operation_name; /* NULL: the document's only operation */
    json_t *variables;          /* a JSON object or NULL */
    void *app;                  /* handed to resolvers */
} api_gql_request_t;

/*
 * Executes a validated document: returns {"data": …, "errors": […]} (errors
 * only when there are some), or a request error ({"errors": […]} without
 * data: no such operation, bad variables) with *request_error set.
 * NULL on out of memory.
 */
json_t *api_gql_execute(const api_gql_schema_t *s, const api_gql_resolver_t *table, api_gql_document_t *doc,
                        const api_gql_request_t *rq, bool *request_error);

/* Memory of the running execution (freed when it ends), and clean-up of a resolver's object. */
void *api_gql_exec_alloc(api_gql_exec_t *ex, size_t n);
EH_MUST_CHECK int api_gql_exec_defer(api_gql_exec_t *ex, void (*fn)(void *), void *p);

/* The operation a request selects (by name, or the only one); NULL with err otherwise. */
const api_gql_operation_t *api_gql_select_operation(const api_gql_document_t *doc, const char *name,
                                                    api_gql_error_t *err);

/* {"message": …, "locations": [{"line","column"}]} */
json_t *api_gql_error_json(const char *message, const api_gql_loc_t *loc);

#endif
