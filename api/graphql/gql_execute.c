/*
 * Execution (specification section 6) and introspection (section 4).
 *
 * Variables are coerced from JSON first (a bad one is a request error:
 * {"errors"} without "data"), then the complexity budget is checked with
 * their values, then the selected operation runs field by field: collect
 * (fragments, @skip/@include, merging by response key), resolve (the
 * application's resolver table, or the introspection resolvers below for
 * the __ types), complete (lists, objects, leaves, and non-null: a null
 * where non-null is promised nulls the parent, up to "data").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

typedef struct deferred {
    void (*fn)(void *);
    void *p;
    struct deferred *next;
} deferred_t;

struct api_gql_exec {
    const api_gql_schema_t *schema;
    const api_gql_resolver_t *table;
    api_gql_document_t *doc;
    const api_gql_request_t *rq;
    json_t *vars;   /* coerced variable values */
    json_t *errors; /* field errors */
    json_t *path;   /* the current response path */
    api_gql_arena_t arena;
    deferred_t *deferred;
    bool oom;
};

void *api_gql_exec_alloc(api_gql_exec_t *ex, size_t n)
{
    void *p = api_gql_alloc(&ex->arena, n);
    if (p == NULL)
        ex->oom = true;
    return p;
}

int api_gql_exec_defer(api_gql_exec_t *ex, void (*fn)(void *), void *p)
{
    deferred_t *d = api_gql_alloc(&ex->arena, sizeof(*d));
    if (d == NULL) {
        ex->oom = true;
        return EH_ERR;
    }
    d->fn = fn;
    d->p = p;
    d->next = ex->deferred;
    ex->deferred = d;
    return EH_OK;
}

const api_gql_operation_t *api_gql_select_operation(const api_gql_document_t *doc, const char *name,
                                                    api_gql_error_t *err)
{
    memset(err, 0, sizeof(*err));
    const api_gql_operation_t *found = NULL;
    int n = 0;
    for (const api_gql_operation_t *op = doc->operations; op != NULL; op = op->next) {
        n++;
        if (name != NULL && op->name != NULL && strcmp(op->name, name) == 0)
            found = op;
    }
    if (name != NULL) {
        if (found == NULL)
            snprintf(err->message, sizeof(err->message), "Unknown operation named \"%.100s\".", name);
        return found;
    }
    if (n == 1)
        return doc->operations;
    snprintf(err->message, sizeof(err->message),
             n == 0 ? "Must provide an operation."
                    : "Must provide operation name if query contains multiple "
                      "operations.");
    return NULL;
}

/* ---- values: literals and variables to JSON ---- */

static void type_name_of(const api_gql_typeref_t *t, char *out, size_t n)
{
    char inner[96];
    if (t->kind == GQL_T_NAMED) {
        snprintf(out, n, "%s", t->name);
    } else {
        type_name_of(t->of, inner, sizeof(inner));
        snprintf(out, n, t->kind == GQL_T_LIST ? "[%s]" : "%s!", inner);
    }
}

/*
 * Coerces a JSON variable value to type (specification 3.5 input
 * coercion). A new reference, or NULL with msg set.
 */
static json_t *coerce_json(const json_t *val, const api_gql_typeref_t *type, char *msg, size_t n)
{
    if (type->kind == GQL_T_NON_NULL) {
        if (val == NULL || json_is_null(val)) {
            char ts[128];
            type_name_of(type, ts, sizeof(ts));
            snprintf(msg, n, "Expected non-nullable type \"%s\" not to be null.", ts);
            return NULL;
        }
        return coerce_json(val, type->of, msg, n);
    }
    if (val == NULL || json_is_null(val))
        return json_null();
    if (type->kind == GQL_T_LIST) {
        json_t *out = json_array();
        if (out == NULL)
            return NULL;
        if (json_is_array(val)) {
            size_t i;
            json_t *it;
            json_array_foreach(val, i, it)
            {
                json_t *c = coerce_json(it, type->of, msg, n);
                if (c == NULL || json_array_append_new(out, c) != 0) {
                    json_decref(out);
                    return NULL;
                }
            }
        } else {
            json_t *c = coerce_json(val, type->of, msg, n);
            if (c == NULL || json_array_append_new(out, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    const api_gql_type_t *t = type->named;
    const char *name = t->name;
    if (t->kind == GQL_K_ENUM) {
        if (json_is_string(val))
            for (const api_gql_enum_value_def_t *e = t->values; e != NULL; e = e->next)
                if (strcmp(e->name, json_string_value(val)) == 0)
                    return json_string(e->name);
        snprintf(msg, n, "Value does not exist in \"%s\" enum.", name);
        return NULL;
    }
    if (strcmp(name, "Int") == 0) {
        double d = json_is_integer(val) ? (double)json_integer_value(val)
                   : json_is_real(val)  ? json_real_value(val)
                                        : NAN;
        if (isnan(d) || floor(d) != d) {
            snprintf(msg, n, "Int cannot represent non-integer value.");
            return NULL;
        }
        if (d < INT32_MIN || d > INT32_MAX) {
            snprintf(msg, n, "Int cannot represent non 32-bit signed integer value.");
            return NULL;
        }
        return json_integer((json_int_t)d);
    }
    if (strcmp(name, "Float") == 0) {
        if (json_is_number(val))
            return json_real(json_number_value(val));
        snprintf(msg, n, "Float cannot represent non numeric value.");
        return NULL;
    }
    if (strcmp(name, "String") == 0) {
        if (json_is_string(val))
            return json_deep_copy(val);
        snprintf(msg, n, "String cannot represent a non string value.");
        return NULL;
    }
    if (strcmp(name, "Boolean") == 0) {
        if (json_is_boolean(val))
            return json_deep_copy(val);
        snprintf(msg, n, "Boolean cannot represent a non boolean value.");
        return NULL;
    }
    if (strcmp(name, "ID") == 0) {
        if (json_is_string(val))
            return json_deep_copy(val);
        if (json_is_integer(val)) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
            return json_string(buf);
        }
        snprintf(msg, n, "ID cannot represent value.");
        return NULL;
    }
    snprintf(msg, n, "Unsupported type \"%s\".", name);
    return NULL;
}

/*
 * A validated literal to JSON, variables taken from vars (absent: *absent set
 * when the literal is just that variable). New reference; NULL on out of memory.
 */
static json_t *literal_json(const api_gql_value_t *v, const api_gql_typeref_t *type, const json_t *vars, bool *absent)
{
    if (absent != NULL)
        *absent = false;
    if (type != NULL && type->kind == GQL_T_NON_NULL)
        type = type->of;
    switch (v->kind) {
    case GQL_V_VARIABLE: {
        json_t *x = vars != NULL ? json_object_get(vars, v->text) : NULL;
        if (x == NULL) {
            if (absent != NULL)
                *absent = true;
            return json_null();
        }
        return json_incref(x);
    }
    case GQL_V_INT:
        if (type != NULL && type->kind == GQL_T_NAMED && strcmp(type->name, "ID") == 0)
            return json_string(v->text);
        if (type != NULL && type->kind == GQL_T_NAMED && strcmp(type->name, "Float") == 0)
            return json_real(strtod(v->text, NULL));
        return json_integer(strtoll(v->text, NULL, 10));
    case GQL_V_FLOAT:
        return json_real(strtod(v->text, NULL));
    case GQL_V_STRING:
        return json_stringn(v->text, v->text_len);
    case GQL_V_BOOLEAN:
        return json_boolean(v->boolean);
    case GQL_V_NULL:
        return json_null();
    case GQL_V_ENUM:
        return json_string(v->text);
    case GQL_V_LIST:
    default: {
        const api_gql_typeref_t *item = type != NULL && type->kind == GQL_T_LIST ? type->of : NULL;
        json_t *out = json_array();
        if (v->kind != GQL_V_LIST)
            return out;
        for (const api_gql_value_t *it = v->items; out != NULL && it != NULL; it = it->next) {
            json_t *x = literal_json(it, item, vars, NULL);
            if (x == NULL || json_array_append_new(out, x) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        if (type != NULL && type->kind != GQL_T_LIST) {
            /* never reached after validation */
        }
        return out;
    }
    }
}

/* The coerced arguments of a field or directive: literals, variables, defaults. */
static json_t *coerce_args(api_gql_exec_t *ex, const api_gql_argument_t *args, const api_gql_input_value_def_t *defs,
                           char *msg, size_t n)
{
    json_t *out = json_object();
    for (const api_gql_input_value_def_t *d = defs; out != NULL && d != NULL; d = d->next) {
        const api_gql_argument_t *a = args;
        while (a != NULL && strcmp(a->name, d->name) != 0)
            a = a->next;
        json_t *val = NULL;
        bool absent = a == NULL;
        if (a != NULL)
            val = literal_json(a->value, d->type, ex->vars, &absent);
        if (absent) {
            json_decref(val);
            val = NULL;
            if (d->default_value != NULL)
                val = literal_json(d->default_value, d->type, NULL, NULL);
            else if (d->type->kind == GQL_T_NON_NULL) {
                snprintf(msg, n, "Argument \"%s\" of required type \"%s\" was not provided.", d->name,
                         api_gql_typeref_named(d->type)->name);
                json_decref(out);
                return NULL;
            } else
                continue;
        }
        if (val == NULL || (json_is_null(val) && d->type->kind == GQL_T_NON_NULL)) {
            if (val != NULL)
                snprintf(msg, n, "Argument \"%s\" of non-null type must not be null.", d->name);
            json_decref(val);
            json_decref(out);
            return NULL;
        }
        if (json_object_set_new(out, d->name, val) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* @skip / @include: true when the selection is to be left out. */
static bool skipped(api_gql_exec_t *ex, const api_gql_directive_t *dirs)
{
    for (const api_gql_directive_t *d = dirs; d != NULL; d = d->next) {
        bool is_skip = strcmp(d->name, "skip") == 0;
        if (!is_skip && strcmp(d->name, "include") != 0)
            continue;
        bool cond = false;
        for (const api_gql_argument_t *a = d->args; a != NULL; a = a->next) {
            if (strcmp(a->name, "if") != 0)
                continue;
            json_t *v = literal_json(a->value, NULL, ex->vars, NULL);
            cond = json_is_true(v);
            json_decref(v);
        }
        if (is_skip ? cond : !cond)
            return true;
    }
    return false;
}

/* ---- collecting fields ---- */

typedef struct group {
    const char *key;
    const api_gql_selection_t **nodes; /* every field node of this response key, in document order */
    int n, cap;
    struct group *next;
} group_t;

typedef struct {
    group_t *head, **tail;
} groups_t;

static const api_gql_fragment_t *find_fragment(const api_gql_document_t *doc, const char *name)
{
    for (const api_gql_fragment_t *f = doc->fragments; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static void collect(api_gql_exec_t *ex, const api_gql_selection_t *sels, groups_t *g,
                    const api_gql_fragment_t **visited, int *n_visited)
{
    for (const api_gql_selection_t *s = sels; s != NULL && !ex->oom; s = s->next) {
        if (skipped(ex, s->directives))
            continue;
        if (s->kind == GQL_SEL_FIELD) {
            const char *key = s->alias != NULL ? s->alias : s->name;
            group_t *grp = g->head;
            while (grp != NULL && strcmp(grp->key, key) != 0)
                grp = grp->next;
            if (grp == NULL) {
                grp = api_gql_exec_alloc(ex, sizeof(*grp));
                if (grp == NULL)
                    return;
                grp->key = key;
                *g->tail = grp;
                g->tail = &grp->next;
            }
            if (grp->n == grp->cap) {
                int cap = grp->cap == 0 ? 4 : grp->cap * 2;
                const api_gql_selection_t **nodes = api_gql_exec_alloc(ex, (size_t)cap * sizeof(*nodes));
                if (nodes == NULL)
                    return;
                if (grp->n > 0)
                    memcpy(nodes, grp->nodes, (size_t)grp->n * sizeof(*nodes));
                grp->nodes = nodes;
                grp->cap = cap;
            }
            grp->nodes[grp->n++] = s;
        } else if (s->kind == GQL_SEL_INLINE) {
            collect(ex, s->selections, g, visited, n_visited);
        } else {
            bool seen = false;
            for (int i = 0; i < *n_visited; i++)
                seen = seen || strcmp(visited[i]->name, s->name) == 0;
            const api_gql_fragment_t *f = find_fragment(ex->doc, s->name);
            if (seen || f == NULL || *n_visited >= 64)
                continue;
            visited[(*n_visited)++] = f;
            collect(ex, f->selections, g, visited, n_visited);
        }
    }
}

/* ---- introspection ---- */

typedef enum { I_SCHEMA, I_TYPE, I_FIELD, I_INPUT, I_ENUM_VALUE, I_DIRECTIVE } intro_kind_t;

typedef struct intro {
    intro_kind_t kind;
    const api_gql_type_t *named;  /* I_TYPE of a named type */
    const api_gql_typeref_t *ref; /* I_TYPE of a wrapper (LIST, NON_NULL) */
    const void *p;                /* the field, input value, enum value or directive */
} intro_t;

static intro_t *intro_new(api_gql_exec_t *ex, intro_kind_t kind, const void *p)
{
    intro_t *o = api_gql_exec_alloc(ex, sizeof(*o));
    if (o != NULL) {
        o->kind = kind;
        o->p = p;
    }
    return o;
}

static intro_t *intro_type(api_gql_exec_t *ex, const api_gql_typeref_t *ref, const api_gql_type_t *named)
{
    intro_t *o = intro_new(ex, I_TYPE, NULL);
    if (o == NULL)
        return NULL;
    if (ref != NULL && ref->kind == GQL_T_NAMED) {
        named = ref->named;
        ref = NULL;
    }
    o->named = named;
    o->ref = ref;
    return o;
}

static void rv_object(api_gql_rvalue_t *out, void *o)
{
    out->kind = o != NULL ? GQL_R_OBJECT : GQL_R_NULL;
    out->object = o;
}

static void rv_leaf(api_gql_rvalue_t *out, json_t *v)
{
    out->kind = GQL_R_LEAF;
    out->leaf = v;
}

static void rv_string(api_gql_rvalue_t *out, const char *s)
{
    if (s == NULL)
        out->kind = GQL_R_NULL;
    else
        rv_leaf(out, json_string(s));
}

static api_gql_rvalue_t *rv_list(api_gql_exec_t *ex, api_gql_rvalue_t *out, size_t n)
{
    out->kind = GQL_R_LIST;
    out->n = n;
    out->items = api_gql_exec_alloc(ex, (n > 0 ? n : 1) * sizeof(*out->items));
    return out->items;
}

/* A default value as GraphQL text (astFromValue + print), for __InputValue.defaultValue. */
static void print_value(const api_gql_value_t *v, char *out, size_t n)
{
    size_t o = 0;
    switch (v->kind) {
    case GQL_V_STRING: {
        out[o++] = '"';
        for (size_t i = 0; i < v->text_len && o + 8 < n; i++) {
            unsigned char c = (unsigned char)v->text[i];
            if (c == '"' || c == '\\') {
                out[o++] = '\\';
                out[o++] = (char)c;
            } else if (c == '\n') {
                out[o++] = '\\';
                out[o++] = 'n';
            } else if (c < 0x20) {
                o += (size_t)snprintf(out + o, n - o, "\\u%04X", c);
            } else {
                out[o++] = (char)c;
            }
        }
        out[o++] = '"';
        out[o] = '\0';
        return;
    }
    case GQL_V_BOOLEAN:
        snprintf(out, n, "%s", v->boolean ? "true" : "false");
        return;
    case GQL_V_NULL:
        snprintf(out, n, "null");
        return;
    case GQL_V_LIST: {
        o = (size_t)snprintf(out, n, "[");
        for (const api_gql_value_t *it = v->items; it != NULL && o + 4 < n; it = it->next) {
            print_value(it, out + o, n - o);
            o += strlen(out + o);
            if (it->next != NULL && o + 2 < n)
                o += (size_t)snprintf(out + o, n - o, ", ");
        }
        snprintf(out + o, n - o, "]");
        return;
    }
    default:
        snprintf(out, n, "%s", v->text != NULL ? v->text : "");
        return;
    }
}

static const char *const KIND_NAMES[] = {"SCALAR", "OBJECT", "ENUM", "OBJECT"};

static int resolve_intro(api_gql_exec_t *ex, const api_gql_type_t *parent, const char *field, const intro_t *src,
                         json_t *args, api_gql_rvalue_t *out)
{
    const api_gql_schema_t *s = ex->schema;
    bool include_deprecated = json_is_true(json_object_get(args, "includeDeprecated"));
    memset(out, 0, sizeof(*out));
    out->kind = GQL_R_NULL;
    const char *pn = parent->name;
    if (strcmp(pn, "__Schema") == 0) {
        if (strcmp(field, "types") == 0) {
            api_gql_rvalue_t *items = rv_list(ex, out, (size_t)s->n_types);
            for (int i = 0; items != NULL && i < s->n_types; i++)
                rv_object(&items[i], intro_type(ex, NULL, s->types[i]));
        } else if (strcmp(field, "queryType") == 0) {
            rv_object(out, intro_type(ex, NULL, s->query));
        } else if (strcmp(field, "directives") == 0) {
            api_gql_rvalue_t *items = rv_list(ex, out, (size_t)s->n_directives);
            for (int i = 0; items != NULL && i < s->n_directives; i++)
                rv_object(&items[i], intro_new(ex, I_DIRECTIVE, s->directives[i]));
        }
        return EH_OK; /* description, mutationType, subscriptionType: null */
    }
    if (strcmp(pn, "__Type") == 0) {
        const api_gql_type_t *t = src->named;
        const api_gql_typeref_t *r = src->ref;
        if (strcmp(field, "kind") == 0) {
            rv_leaf(out, json_string(r != NULL ? (r->kind == GQL_T_LIST ? "LIST" : "NON_NULL") : KIND_NAMES[t->kind]));
        } else if (strcmp(field, "ofType") == 0) {
            if (r != NULL)
                rv_object(out, intro_type(ex, r->of, NULL));
        } else if (r != NULL) {
            return EH_OK; /* a wrapper has no name, fields, ... */
        } else if (strcmp(field, "name") == 0) {
            rv_string(out, t->name);
        } else if (strcmp(field, "description") == 0) {
            rv_string(out, t->description);
        } else if (strcmp(field, "specifiedByURL") == 0) {
            rv_string(out, t->kind == GQL_K_SCALAR ? t->specified_by : NULL);
        } else if (strcmp(field, "fields") == 0 && t->kind == GQL_K_OBJECT) {
            size_t n = 0;
            for (const api_gql_field_def_t *f = t->fields; f != NULL; f = f->next)
                n += include_deprecated || f->deprecation == NULL;
            api_gql_rvalue_t *items = rv_list(ex, out, n);
            size_t i = 0;
            for (const api_gql_field_def_t *f = t->fields; items != NULL && f != NULL; f = f->next)
                if (include_deprecated || f->deprecation == NULL)
                    rv_object(&items[i++], intro_new(ex, I_FIELD, f));
        } else if (strcmp(field, "interfaces") == 0 && t->kind == GQL_K_OBJECT) {
            (void)rv_list(ex, out, 0);
        } else if (strcmp(field, "enumValues") == 0 && t->kind == GQL_K_ENUM) {
            size_t n = 0;
            for (const api_gql_enum_value_def_t *e = t->values; e != NULL; e = e->next)
                n += include_deprecated || e->deprecation == NULL;
            api_gql_rvalue_t *items = rv_list(ex, out, n);
            size_t i = 0;
            for (const api_gql_enum_value_def_t *e = t->values; items != NULL && e != NULL; e = e->next)
                if (include_deprecated || e->deprecation == NULL)
                    rv_object(&items[i++], intro_new(ex, I_ENUM_VALUE, e));
        }
        return EH_OK; /* possibleTypes, inputFields: null for these kinds */
    }
    if (strcmp(pn, "__Field") == 0) {
        const api_gql_field_def_t *f = src->p;
        if (strcmp(field, "name") == 0)
            rv_string(out, f->name);
        else if (strcmp(field, "description") == 0)
            rv_string(out, f->description);
        else if (strcmp(field, "type") == 0)
            rv_object(out, intro_type(ex, f->type, NULL));
        else if (strcmp(field, "isDeprecated") == 0)
            rv_leaf(out, json_boolean(f->deprecation != NULL));
        else if (strcmp(field, "deprecationReason") == 0)
            rv_string(out, f->deprecation);
        else if (strcmp(field, "args") == 0) {
            size_t n = 0;
            for (const api_gql_input_value_def_t *a = f->args; a != NULL; a = a->next)
                n++;
            api_gql_rvalue_t *items = rv_list(ex, out, n);
            size_t i = 0;
            for (const api_gql_input_value_def_t *a = f->args; items != NULL && a != NULL; a = a->next)
                rv_object(&items[i++], intro_new(ex, I_INPUT, a));
        }
        return EH_OK;
    }
    if (strcmp(pn, "__InputValue") == 0) {
        const api_gql_input_value_def_t *a = src->p;
        if (strcmp(field, "name") == 0)
            rv_string(out, a->name);
        else if (strcmp(field, "description") == 0)
            rv_string(out, a->description);
        else if (strcmp(field, "type") == 0)
            rv_object(out, intro_type(ex, a->type, NULL));
        else if (strcmp(field, "isDeprecated") == 0)
            rv_leaf(out, json_false());
        else if (strcmp(field, "defaultValue") == 0 && a->default_value != NULL) {
            char buf[512];
            print_value(a->default_value, buf, sizeof(buf));
            rv_string(out, buf);
        }
        return EH_OK;
    }
    if (strcmp(pn, "__EnumValue") == 0) {
        const api_gql_enum_value_def_t *e = src->p;
        if (strcmp(field, "name") == 0)
            rv_string(out, e->name);
        else if (strcmp(field, "description") == 0)
            rv_string(out, e->description);
        else if (strcmp(field, "isDeprecated") == 0)
            rv_leaf(out, json_boolean(e->deprecation != NULL));
        else if (strcmp(field, "deprecationReason") == 0)
            rv_string(out, e->deprecation);
        return EH_OK;
    }
    if (strcmp(pn, "__Directive") == 0) {
        const api_gql_directive_def_t *d = src->p;
        if (strcmp(field, "name") == 0)
            rv_string(out, d->name);
        else if (strcmp(field, "description") == 0)
            rv_string(out, d->description);
        else if (strcmp(field, "isRepeatable") == 0)
            rv_leaf(out, json_boolean(d->repeatable));
        else if (strcmp(field, "locations") == 0) {
            api_gql_rvalue_t *items = rv_list(ex, out, (size_t)d->n_locations);
            for (int i = 0; items != NULL && i < d->n_locations; i++)
                rv_leaf(&items[i], json_string(d->locations[i]));
        } else if (strcmp(field, "args") == 0) {
            size_t n = 0;
            for (const api_gql_input_value_def_t *a = d->args; a != NULL; a = a->next)
                n++;
            api_gql_rvalue_t *items = rv_list(ex, out, n);
            size_t i = 0;
            for (const api_gql_input_value_def_t *a = d->args; items != NULL && a != NULL; a = a->next)
                rv_object(&items[i++], intro_new(ex, I_INPUT, a));
        }
        return EH_OK;
    }
    return EH_OK;
}

/* ---- execution ---- */

/* A completed value, or NULL with *nulled when an error made it null where null is not allowed. */
static json_t *execute_selections(api_gql_exec_t *ex, const api_gql_selection_t *const *nodes, int n_nodes,
                                  const api_gql_type_t *type, void *source, bool *nulled);

static void field_error(api_gql_exec_t *ex, const char *message, const api_gql_selection_t *node)
{
    json_t *e = api_gql_error_json(message, &node->loc);
    if (e == NULL || json_object_set_new(e, "path", json_deep_copy(ex->path)) != 0 ||
        json_array_append_new(ex->errors, e) != 0) {
        json_decref(e);
        ex->oom = true;
    }
}

static void rvalue_release(api_gql_rvalue_t *v)
{
    if (v->kind == GQL_R_LEAF)
        json_decref(v->leaf);
    else if (v->kind == GQL_R_LIST)
        for (size_t i = 0; i < v->n; i++)
            rvalue_release(&v->items[i]);
    v->kind = GQL_R_NULL;
}

/* Completes value v (consumed) of type; NULL with *nulled set when a non-null position got null. */
static json_t *complete(api_gql_exec_t *ex, const api_gql_typeref_t *type, api_gql_rvalue_t *v,
                        const api_gql_selection_t *const *nodes, int n_nodes, bool *nulled)
{
    *nulled = false;
    if (type->kind == GQL_T_NON_NULL) {
        json_t *r = complete(ex, type->of, v, nodes, n_nodes, nulled);
        if (r != NULL && json_is_null(r)) {
            json_decref(r);
            r = NULL;
            if (!*nulled)
                field_error(ex, "Cannot return null for non-nullable field.", nodes[0]);
        }
        if (r == NULL)
            *nulled = true;
        return r;
    }
    if (v->kind == GQL_R_NULL)
        return json_null();
    if (type->kind == GQL_T_LIST) {
        json_t *arr = json_array();
        if (v->kind != GQL_R_LIST || arr == NULL) {
            rvalue_release(v);
            json_decref(arr);
            return json_null();
        }
        for (size_t i = 0; i < v->n; i++) {
            if (json_array_append_new(ex->path, json_integer((json_int_t)i)) != 0)
                ex->oom = true;
            bool item_nulled;
            json_t *item = complete(ex, type->of, &v->items[i], nodes, n_nodes, &item_nulled);
            json_array_remove(ex->path, json_array_size(ex->path) - 1);
            if (item == NULL || json_array_append_new(arr, item) != 0) {
                for (size_t j = i + 1; j < v->n; j++)
                    rvalue_release(&v->items[j]);
                json_decref(arr);
                *nulled = true; /* an item nulled in a non-null position nulls the list; already reported */
                return json_null();
            }
        }
        return arr;
    }
    const api_gql_type_t *t = type->named;
    if (t->kind == GQL_K_OBJECT) {
        if (v->kind != GQL_R_OBJECT) {
            rvalue_release(v);
            return json_null();
        }
        bool inner_nulled;
        json_t *r = execute_selections(ex, nodes, n_nodes, t, v->object, &inner_nulled);
        if (r != NULL)
            return r;
        *nulled = true; /* a non-null field inside was null: this object is null; already reported */
        return json_null();
    }
    if (v->kind != GQL_R_LEAF) {
        rvalue_release(v);
        return json_null();
    }
    json_t *leaf = v->leaf;
    v->kind = GQL_R_NULL;
    return leaf != NULL ? leaf : json_null();
}

static json_t *execute_field(api_gql_exec_t *ex, const api_gql_type_t *parent, void *source, const group_t *grp,
                             bool *nulled)
{
    *nulled = false;
    const api_gql_selection_t *node = grp->nodes[0];
    const api_gql_field_def_t *f = api_gql_field_lookup(ex->schema, parent, node->name);
    if (f == NULL)
        return json_null(); /* validated: not reached */
    char msg[256] = "";
    json_t *args = coerce_args(ex, node->args, f->args, msg, sizeof(msg));
    api_gql_rvalue_t v;
    memset(&v, 0, sizeof(v));
    int rc = EH_OK;
    if (args == NULL) {
        rc = EH_DECLINED;
        if (msg[0] == '\0')
            ex->oom = true;
    } else if (f == &ex->schema->typename_field) {
        rv_leaf(&v, json_string(parent->name));
    } else if (f == &ex->schema->schema_field) {
        rv_object(&v, intro_new(ex, I_SCHEMA, ex->schema));
    } else if (f == &ex->schema->type_field) {
        const api_gql_type_t *t = api_gql_schema_type(ex->schema, json_string_value(json_object_get(args, "name")));
        rv_object(&v, t != NULL ? intro_type(ex, NULL, t) : NULL);
    } else if (parent->introspection) {
        rc = resolve_intro(ex, parent, f->name, source, args, &v);
    } else {
        api_gql_resolve_t r = {
            .ex = ex, .source = source, .args = args, .app = ex->rq->app, .field = node, .path = ex->path};
        rc = ex->table[f->resolver].fn(&r, &v, msg, sizeof(msg));
    }
    json_decref(args);
    if (rc != EH_OK) {
        rvalue_release(&v);
        field_error(ex, msg[0] != '\0' ? msg : "internal error", node);
        if (f->type->kind == GQL_T_NON_NULL) {
            *nulled = true;
            return NULL;
        }
        return json_null();
    }
    /* The sub-selections of every node of the group, merged. */
    return complete(ex, f->type, &v, grp->nodes, grp->n, nulled);
}

static json_t *execute_selections(api_gql_exec_t *ex, const api_gql_selection_t *const *nodes, int n_nodes,
                                  const api_gql_type_t *type, void *source, bool *nulled)
{
    *nulled = false;
    groups_t g = {NULL, NULL};
    g.tail = &g.head;
    const api_gql_fragment_t *visited[64];
    int n_visited = 0;
    for (int i = 0; i < n_nodes; i++)
        collect(ex, nodes[i]->selections, &g, visited, &n_visited);
    json_t *obj = json_object();
    if (obj == NULL) {
        ex->oom = true;
        return NULL;
    }
    for (group_t *grp = g.head; grp != NULL && !ex->oom; grp = grp->next) {
        if (json_array_append_new(ex->path, json_string(grp->key)) != 0)
            ex->oom = true;
        bool field_nulled;
        json_t *val = execute_field(ex, type, source, grp, &field_nulled);
        json_array_remove(ex->path, json_array_size(ex->path) - 1);
        if (val == NULL) {
            json_decref(obj);
            *nulled = true;
            return NULL;
        }
        if (json_object_set_new(obj, grp->key, val) != 0)
            ex->oom = true;
    }
    return obj;
}

/* ---- complexity ---- */

static long long cost_of(api_gql_exec_t *ex, const api_gql_selection_t *sels, const api_gql_type_t *type, int guard)
{
    if (guard > 128 || type == NULL)
        return 0;
    long long total = 0;
    for (const api_gql_selection_t *s = sels; s != NULL; s = s->next) {
        long long c = 0;
        if (s->kind == GQL_SEL_FIELD) {
            const api_gql_field_def_t *f = api_gql_field_lookup(ex->schema, type, s->name);
            if (f == NULL)
                continue;
            c = 1;
            if (s->selections != NULL) {
                long long mult = 1;
                for (const api_gql_input_value_def_t *a = f->args; a != NULL; a = a->next) {
                    if (strcmp(a->name, "first") != 0)
                        continue;
                    json_t *v = NULL;
                    for (const api_gql_argument_t *arg = s->args; arg != NULL; arg = arg->next)
                        if (strcmp(arg->name, "first") == 0)
                            v = literal_json(arg->value, a->type, ex->vars, NULL);
                    if ((v == NULL || json_is_null(v)) && a->default_value != NULL) {
                        json_decref(v);
                        v = literal_json(a->default_value, a->type, NULL, NULL);
                    }
                    if (json_is_integer(v) && json_integer_value(v) > 1)
                        mult = json_integer_value(v);
                    json_decref(v);
                }
                c += mult * cost_of(ex, s->selections, api_gql_typeref_named(f->type), guard + 1);
            }
        } else if (s->kind == GQL_SEL_INLINE) {
            c = cost_of(ex, s->selections, type, guard + 1);
        } else {
            const api_gql_fragment_t *f = find_fragment(ex->doc, s->name);
            c = f != NULL ? cost_of(ex, f->selections, type, guard + 1) : 0;
        }
        total += c;
        if (total > (long long)API_GQL_MAX_COMPLEXITY * 1000)
            return total; /* far over: stop before overflowing */
    }
    return total;
}

/* ---- entry ---- */

static json_t *request_error(const char *message, const api_gql_loc_t *loc)
{
    json_t *e = api_gql_error_json(message, loc);
    return e != NULL ? json_pack("{s:[o]}", "errors", e) : NULL;
}

static json_t *coerce_variables(api_gql_exec_t *ex, const api_gql_operation_t *op, json_t **err_out)
{
    json_t *out = json_object();
    const json_t *given = ex->rq->variables;
    for (const api_gql_var_def_t *d = op->vars; out != NULL && d != NULL; d = d->next) {
        const json_t *v = given != NULL ? json_object_get(given, d->name) : NULL;
        char msg[256] = "", full[400];
        json_t *c = NULL;
        if (v == NULL) {
            if (d->default_value != NULL)
                c = literal_json(d->default_value, d->type, NULL, NULL);
            else if (d->type->kind == GQL_T_NON_NULL) {
                char ts[128];
                type_name_of(d->type, ts, sizeof(ts));
                snprintf(full, sizeof(full), "Variable \"$%s\" of required type \"%s\" was not provided.", d->name, ts);
                *err_out = request_error(full, &d->loc);
                json_decref(out);
                return NULL;
            } else
                continue;
        } else {
            c = coerce_json(v, d->type, msg, sizeof(msg));
            if (c == NULL) {
                snprintf(full, sizeof(full), "Variable \"$%s\" got invalid value; %s", d->name,
                         msg[0] != '\0' ? msg : "out of memory");
                *err_out = request_error(full, &d->loc);
                json_decref(out);
                return NULL;
            }
        }
        if (c == NULL || json_object_set_new(out, d->name, c) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *api_gql_execute(const api_gql_schema_t *s, const api_gql_resolver_t *table, api_gql_document_t *doc,
                        const api_gql_request_t *rq, bool *is_request_error)
{
    *is_request_error = true;
    api_gql_error_t err;
    const api_gql_operation_t *op = api_gql_select_operation(doc, rq->operation_name, &err);
    if (op == NULL)
        return request_error(err.message, NULL);
    api_gql_exec_t ex = {.schema = s, .table = table, .doc = doc, .rq = rq};
    json_t *err_out = NULL;
    ex.vars = coerce_variables(&ex, op, &err_out);
    if (ex.vars == NULL)
        return err_out;
    long long cost = cost_of(&ex, op->selections, s->query, 0);
    if (cost > API_GQL_MAX_COMPLEXITY) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "The query costs %lld; the budget is %d (a connection's `first` multiplies the "
                 "cost of what it selects).",
                 cost, API_GQL_MAX_COMPLEXITY);
        json_decref(ex.vars);
        return request_error(msg, &op->loc);
    }
    *is_request_error = false;
    ex.errors = json_array();
    ex.path = json_array();
    json_t *result = NULL;
    if (ex.errors != NULL && ex.path != NULL) {
        api_gql_selection_t root = {.kind = GQL_SEL_FIELD, .selections = op->selections, .loc = op->loc};
        const api_gql_selection_t *nodes[] = {&root};
        bool nulled;
        json_t *data = execute_selections(&ex, nodes, 1, s->query, NULL, &nulled);
        result = json_object();
        if (result != NULL && json_object_set_new(result, "data", data != NULL ? data : json_null()) != 0)
            ex.oom = true;
        if (result != NULL && json_array_size(ex.errors) > 0 && json_object_set(result, "errors", ex.errors) != 0)
            ex.oom = true;
    }
    for (deferred_t *d = ex.deferred; d != NULL; d = d->next)
        d->fn(d->p);
    api_gql_arena_free(&ex.arena);
    json_decref(ex.vars);
    json_decref(ex.errors);
    json_decref(ex.path);
    if (ex.oom) {
        json_decref(result);
        return NULL;
    }
    return result;
}
