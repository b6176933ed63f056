/*
 * Validation (specification section 5), the rules graphql-js runs
 * (specifiedRules) for a schema of object, enum and scalar types, plus the
 * depth limit. Messages follow graphql-js, so that a client sees the same
 * words from both. The complexity budget depends on variable values and is
 * checked by the executor (gql_execute.c).
 *
 * A document is walked once per operation (through its fragments, for the
 * rules about variables and depth) and once per fragment definition (for
 * the rules about fields), as graphql-js does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"

typedef struct {
    const api_gql_schema_t *schema;
    api_gql_document_t *doc;
    json_t *errors;
    int n_errors;
    bool oom;
    /* the operation being walked */
    const api_gql_operation_t *op;
    const char **used_vars;
    int n_used, cap_used;
    const api_gql_fragment_t *visiting[64]; /* fragments entered from the operation (cycle guard) */
    int n_visiting;
} vctx_t;

__attribute__((format(printf, 3, 4))) static void report(vctx_t *v, const api_gql_loc_t *loc, const char *fmt, ...)
{
    if (v->n_errors >= API_GQL_MAX_ERRORS) {
        if (v->n_errors == API_GQL_MAX_ERRORS) {
            json_t *e =
                api_gql_error_json("Too many validation errors, error limit reached. Validation aborted.", NULL);
            if (e == NULL || json_array_append_new(v->errors, e) != 0)
                v->oom = true;
            v->n_errors++;
        }
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = api_gql_error_json(msg, loc);
    if (e == NULL || json_array_append_new(v->errors, e) != 0)
        v->oom = true;
    v->n_errors++;
}

static const api_gql_fragment_t *find_fragment(const api_gql_document_t *doc, const char *name)
{
    for (const api_gql_fragment_t *f = doc->fragments; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static const api_gql_var_def_t *find_var(const api_gql_operation_t *op, const char *name)
{
    for (const api_gql_var_def_t *d = op != NULL ? op->vars : NULL; d != NULL; d = d->next)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static const api_gql_directive_def_t *find_directive(const api_gql_schema_t *s, const char *name)
{
    for (int i = 0; i < s->n_directives; i++)
        if (strcmp(s->directives[i]->name, name) == 0)
            return s->directives[i];
    return NULL;
}

/* ---- type printing and comparison ---- */

static void type_str(const api_gql_typeref_t *t, char *out, size_t n)
{
    if (t == NULL) {
        snprintf(out, n, "?");
        return;
    }
    char inner[96];
    switch (t->kind) {
    case GQL_T_NAMED:
        snprintf(out, n, "%s", t->name);
        break;
    case GQL_T_LIST:
        type_str(t->of, inner, sizeof(inner));
        snprintf(out, n, "[%s]", inner);
        break;
    case GQL_T_NON_NULL:
        type_str(t->of, inner, sizeof(inner));
        snprintf(out, n, "%s!", inner);
        break;
    }
}

/* isTypeSubTypeOf for input types: a variable of type sub may be used where super is expected. */
static bool subtype_of(const api_gql_typeref_t *sub, const api_gql_typeref_t *super)
{
    if (super->kind == GQL_T_NON_NULL) {
        if (sub->kind != GQL_T_NON_NULL)
            return false;
        return subtype_of(sub->of, super->of);
    }
    if (sub->kind == GQL_T_NON_NULL)
        return subtype_of(sub->of, super);
    if (super->kind == GQL_T_LIST)
        return sub->kind == GQL_T_LIST && subtype_of(sub->of, super->of);
    if (sub->kind == GQL_T_LIST)
        return false;
    return strcmp(sub->name, super->name) == 0;
}

/* ---- values ---- */

static bool int_literal_fits(const char *text)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    return *end == '\0' && n >= INT32_MIN && n <= INT32_MAX && strlen(text) < 13;
}

static void value_text(const api_gql_value_t *val, char *out, size_t n)
{
    switch (val->kind) {
    case GQL_V_STRING:
        snprintf(out, n, "\"%.*s\"", (int)(val->text_len > 60 ? 60 : val->text_len), val->text);
        break;
    case GQL_V_INT:
    case GQL_V_FLOAT:
    case GQL_V_ENUM:
        snprintf(out, n, "%.60s", val->text);
        break;
    case GQL_V_BOOLEAN:
        snprintf(out, n, "%s", val->boolean ? "true" : "false");
        break;
    case GQL_V_NULL:
        snprintf(out, n, "null");
        break;
    case GQL_V_LIST:
        snprintf(out, n, "[...]");
        break;
    case GQL_V_OBJECT:
        snprintf(out, n, "{...}");
        break;
    case GQL_V_VARIABLE:
        snprintf(out, n, "$%s", val->text);
        break;
    }
}

static void check_variable_use(vctx_t *v, const api_gql_value_t *val, const api_gql_typeref_t *loc_type,
                               bool loc_has_default);

/* ValuesOfCorrectType for a literal (variables are left to VariablesInAllowedPosition). */
static void check_value(vctx_t *v, const api_gql_value_t *val, const api_gql_typeref_t *type, bool loc_has_default)
{
    char ts[128], vs[80];
    if (val->kind == GQL_V_VARIABLE) {
        check_variable_use(v, val, type, loc_has_default);
        return;
    }
    if (type->kind == GQL_T_NON_NULL) {
        if (val->kind == GQL_V_NULL) {
            type_str(type, ts, sizeof(ts));
            report(v, &val->loc, "Expected value of type \"%s\", found null.", ts);
            return;
        }
        check_value(v, val, type->of, false);
        return;
    }
    if (val->kind == GQL_V_NULL)
        return;
    if (type->kind == GQL_T_LIST) {
        if (val->kind == GQL_V_LIST) {
            for (const api_gql_value_t *it = val->items; it != NULL; it = it->next)
                check_value(v, it, type->of, false);
        } else {
            check_value(v, val, type->of, false);
        }
        return;
    }
    const api_gql_type_t *named = type->named;
    type_str(type, ts, sizeof(ts));
    value_text(val, vs, sizeof(vs));
    if (named == NULL)
        return;
    bool ok = false;
    if (named->kind == GQL_K_ENUM) {
        if (val->kind == GQL_V_ENUM)
            for (const api_gql_enum_value_def_t *e = named->values; e != NULL; e = e->next)
                ok = ok || strcmp(e->name, val->text) == 0;
        if (!ok && val->kind == GQL_V_ENUM) {
            report(v, &val->loc, "Value \"%s\" does not exist in \"%s\" enum.", val->text, named->name);
            return;
        }
        if (!ok) {
            report(v, &val->loc, "Enum \"%s\" cannot represent non-enum value: %s.", named->name, vs);
            return;
        }
        return;
    }
    if (strcmp(named->name, "Int") == 0) {
        if (val->kind == GQL_V_INT && !int_literal_fits(val->text)) {
            report(v, &val->loc, "Int cannot represent non 32-bit signed integer value: %s", vs);
            return;
        }
        ok = val->kind == GQL_V_INT;
        if (!ok) {
            report(v, &val->loc, "Int cannot represent non-integer value: %s", vs);
            return;
        }
    } else if (strcmp(named->name, "Float") == 0) {
        ok = val->kind == GQL_V_INT || val->kind == GQL_V_FLOAT;
        if (!ok) {
            report(v, &val->loc, "Float cannot represent non numeric value: %s", vs);
            return;
        }
    } else if (strcmp(named->name, "String") == 0) {
        ok = val->kind == GQL_V_STRING;
        if (!ok) {
            report(v, &val->loc, "String cannot represent a non string value: %s", vs);
            return;
        }
    } else if (strcmp(named->name, "Boolean") == 0) {
        ok = val->kind == GQL_V_BOOLEAN;
        if (!ok) {
            report(v, &val->loc, "Boolean cannot represent a non boolean value: %s", vs);
            return;
        }
    } else if (strcmp(named->name, "ID") == 0) {
        ok = val->kind == GQL_V_STRING || val->kind == GQL_V_INT;
        if (!ok) {
            report(v, &val->loc, "ID cannot represent a non-string and non-integer value: %s", vs);
            return;
        }
    } else {
        report(v, &val->loc, "Expected value of type \"%s\", found %s.", ts, vs);
    }
}

static void note_var_used(vctx_t *v, const char *name)
{
    for (int i = 0; i < v->n_used; i++)
        if (strcmp(v->used_vars[i], name) == 0)
            return;
    if (v->n_used == v->cap_used) {
        int cap = v->cap_used == 0 ? 16 : v->cap_used * 2;
        const char **p = realloc(v->used_vars, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            v->oom = true;
            return;
        }
        v->used_vars = p;
        v->cap_used = cap;
    }
    v->used_vars[v->n_used++] = name;
}

/* NoUndefinedVariables and VariablesInAllowedPosition, for the operation being walked. */
static void check_variable_use(vctx_t *v, const api_gql_value_t *val, const api_gql_typeref_t *loc_type,
                               bool loc_has_default)
{
    if (v->op == NULL)
        return; /* walking a fragment definition alone: variables belong to the operations using it */
    note_var_used(v, val->text);
    const api_gql_var_def_t *d = find_var(v->op, val->text);
    if (d == NULL) {
        if (v->op->name != NULL)
            report(v, &val->loc, "Variable \"$%s\" is not defined by operation \"%s\".", val->text, v->op->name);
        else
            report(v, &val->loc, "Variable \"$%s\" is not defined.", val->text);
        return;
    }
    if (d->type == NULL || api_gql_typeref_named(d->type) == NULL)
        return; /* an unknown variable type is reported once, at its definition */
    const api_gql_typeref_t *var_type = d->type;
    api_gql_typeref_t relaxed;
    if (loc_type->kind == GQL_T_NON_NULL && var_type->kind != GQL_T_NON_NULL) {
        bool var_default = d->default_value != NULL && d->default_value->kind != GQL_V_NULL;
        if (var_default || loc_has_default) {
            relaxed = *loc_type->of;
            loc_type = &relaxed;
        }
    }
    if (!subtype_of(var_type, loc_type)) {
        char a[128], b[128];
        type_str(d->type, a, sizeof(a));
        type_str(loc_type, b, sizeof(b));
        report(v, &val->loc, "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".", val->text, a,
               b);
    }
}

/* KnownArgumentNames, UniqueArgumentNames, ProvidedRequiredArguments, ValuesOfCorrectType. */
static void check_arguments(vctx_t *v, const api_gql_argument_t *args, const api_gql_input_value_def_t *defs,
                            const char *owner, bool is_directive, const api_gql_loc_t *owner_loc)
{
    for (const api_gql_argument_t *a = args; a != NULL; a = a->next) {
        for (const api_gql_argument_t *b = args; b != a; b = b->next)
            if (strcmp(a->name, b->name) == 0) {
                report(v, &a->loc, "There can be only one argument named \"%s\".", a->name);
                break;
            }
        const api_gql_input_value_def_t *d = defs;
        while (d != NULL && strcmp(d->name, a->name) != 0)
            d = d->next;
        if (d == NULL) {
            if (is_directive)
                report(v, &a->loc, "Unknown argument \"%s\" on directive \"@%s\".", a->name, owner);
            else
                report(v, &a->loc, "Unknown argument \"%s\" on field \"%s\".", a->name, owner);
            continue;
        }
        check_value(v, a->value, d->type, d->default_value != NULL);
    }
    for (const api_gql_input_value_def_t *d = defs; d != NULL; d = d->next) {
        if (d->type->kind != GQL_T_NON_NULL || d->default_value != NULL)
            continue;
        const api_gql_argument_t *a = args;
        while (a != NULL && strcmp(a->name, d->name) != 0)
            a = a->next;
        if (a == NULL) {
            char ts[128];
            type_str(d->type, ts, sizeof(ts));
            if (is_directive)
                report(v, owner_loc,
                       "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was not "
                       "provided.",
                       owner, d->name, ts);
            else
                report(v, owner_loc,
                       "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was not "
                       "provided.",
                       owner, d->name, ts);
        }
    }
}

/* KnownDirectives (name and location), UniqueDirectivesPerLocation, and their arguments. */
static void check_directives(vctx_t *v, const api_gql_directive_t *dirs, const char *location)
{
    for (const api_gql_directive_t *d = dirs; d != NULL; d = d->next) {
        const api_gql_directive_def_t *def = find_directive(v->schema, d->name);
        if (def == NULL) {
            report(v, &d->loc, "Unknown directive \"@%s\".", d->name);
            continue;
        }
        bool allowed = false;
        for (int i = 0; i < def->n_locations; i++)
            allowed = allowed || strcmp(def->locations[i], location) == 0;
        if (!allowed)
            report(v, &d->loc, "Directive \"@%s\" may not be used on %s.", d->name, location);
        if (!def->repeatable)
            for (const api_gql_directive_t *e = dirs; e != d; e = e->next)
                if (strcmp(e->name, d->name) == 0) {
                    report(v, &d->loc, "The directive \"@%s\" can only be used once at this location.", d->name);
                    break;
                }
        check_arguments(v, d->args, def->args, d->name, true, &d->loc);
    }
}

/* ---- selections ---- */

static void walk_selections(vctx_t *v, const api_gql_selection_t *sels, const api_gql_type_t *parent);

/* A type condition: known (KnownTypeNames), composite (FragmentsOnCompositeTypes), possible here. */
static bool check_condition(vctx_t *v, const char *cond, const api_gql_loc_t *loc, const api_gql_type_t *parent,
                            const char *frag_name, const api_gql_type_t **out)
{
    const api_gql_type_t *t = api_gql_schema_type(v->schema, cond);
    *out = t;
    if (t == NULL) {
        report(v, loc, "Unknown type \"%s\".", cond);
        return false;
    }
    if (t->kind != GQL_K_OBJECT) {
        if (frag_name != NULL)
            report(v, loc, "Fragment \"%s\" cannot condition on non composite type \"%s\".", frag_name, cond);
        else
            report(v, loc, "Fragment cannot condition on non composite type \"%s\".", cond);
        return false;
    }
    if (parent != NULL && t != parent) {
        if (frag_name != NULL)
            report(v, loc,
                   "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of type "
                   "\"%s\".",
                   frag_name, parent->name, cond);
        else
            report(v, loc, "Fragment cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
                   parent->name, cond);
        return false;
    }
    return true;
}

static void walk_field(vctx_t *v, const api_gql_selection_t *sel, const api_gql_type_t *parent)
{
    check_directives(v, sel->directives, "FIELD");
    const api_gql_field_def_t *f = api_gql_field_lookup(v->schema, parent, sel->name);
    if (f == NULL) {
        report(v, &sel->loc, "Cannot query field \"%s\" on type \"%s\".", sel->name, parent->name);
        return;
    }
    char owner[160];
    snprintf(owner, sizeof(owner), "%s.%s", parent->name, f->name);
    check_arguments(v, sel->args, f->args, owner, false, &sel->loc);
    const api_gql_type_t *t = api_gql_typeref_named(f->type);
    char ts[128];
    type_str(f->type, ts, sizeof(ts));
    if (t->kind == GQL_K_OBJECT) {
        if (!sel->has_selection_set) {
            report(v, &sel->loc,
                   "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean "
                   "\"%s { ... }\"?",
                   sel->name, ts, sel->name);
            return;
        }
        walk_selections(v, sel->selections, t);
    } else if (sel->has_selection_set) {
        report(v, &sel->loc, "Field \"%s\" must not have a selection since type \"%s\" has no subfields.", sel->name,
               ts);
    }
}

static void walk_selections(vctx_t *v, const api_gql_selection_t *sels, const api_gql_type_t *parent)
{
    for (const api_gql_selection_t *sel = sels; sel != NULL && !v->oom; sel = sel->next) {
        if (sel->kind == GQL_SEL_FIELD) {
            walk_field(v, sel, parent);
        } else if (sel->kind == GQL_SEL_INLINE) {
            check_directives(v, sel->directives, "INLINE_FRAGMENT");
            const api_gql_type_t *t = parent;
            if (sel->type_condition != NULL && !check_condition(v, sel->type_condition, &sel->loc, parent, NULL, &t))
                continue;
            walk_selections(v, sel->selections, t);
        } else {
            check_directives(v, sel->directives, "FRAGMENT_SPREAD");
            const api_gql_fragment_t *fr = find_fragment(v->doc, sel->name);
            if (fr == NULL) {
                report(v, &sel->loc, "Unknown fragment \"%s\".", sel->name);
                continue;
            }
            const api_gql_type_t *t = api_gql_schema_type(v->schema, fr->type_condition);
            if (t == NULL || t->kind != GQL_K_OBJECT)
                continue; /* reported at the fragment definition */
            if (t != parent) {
                report(v, &sel->loc,
                       "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be "
                       "of type \"%s\".",
                       sel->name, parent->name, t->name);
                continue;
            }
            if (v->op == NULL)
                continue; /* the fragment's own walk checks its fields */
            /* From an operation: follow the spread for the variables it uses, once per operation. */
            bool seen = false;
            for (int i = 0; i < v->n_visiting; i++)
                seen = seen || v->visiting[i] == fr;
            if (seen || v->n_visiting >= 64)
                continue;
            v->visiting[v->n_visiting++] = fr;
            int saved = v->n_errors;
            /* Field errors inside the fragment are reported by its own walk: only variable errors are wanted. */
            json_t *keep = v->errors;
            json_t *scratch = json_array();
            if (scratch == NULL) {
                v->oom = true;
                return;
            }
            v->errors = scratch;
            walk_selections(v, fr->selections, t);
            v->errors = keep;
            v->n_errors = saved;
            size_t i;
            json_t *e;
            json_array_foreach(scratch, i, e)
            {
                const char *m = json_string_value(json_object_get(e, "message"));
                if (m != NULL && strncmp(m, "Variable \"$", 11) == 0) {
                    if (json_array_append(v->errors, e) != 0)
                        v->oom = true;
                    v->n_errors++;
                }
            }
            json_decref(scratch);
        }
    }
}

/* ---- OverlappingFieldsCanBeMerged ---- */

typedef struct {
    const api_gql_selection_t *node;
    const api_gql_type_t *parent;
} field_ref_t;

typedef struct {
    field_ref_t *items;
    size_t n, cap;
    bool oom;
} field_list_t;

static void gather_fields(vctx_t *v, const api_gql_selection_t *sels, const api_gql_type_t *parent, field_list_t *out,
                          const api_gql_fragment_t **seen, int *n_seen)
{
    for (const api_gql_selection_t *s = sels; s != NULL; s = s->next) {
        if (s->kind == GQL_SEL_FIELD) {
            if (out->n == out->cap) {
                size_t cap = out->cap == 0 ? 16 : out->cap * 2;
                field_ref_t *p = realloc(out->items, cap * sizeof(*p));
                if (p == NULL) {
                    out->oom = true;
                    return;
                }
                out->items = p;
                out->cap = cap;
            }
            out->items[out->n++] = (field_ref_t){s, parent};
        } else if (s->kind == GQL_SEL_INLINE) {
            gather_fields(v, s->selections, parent, out, seen, n_seen);
        } else {
            const api_gql_fragment_t *f = find_fragment(v->doc, s->name);
            bool done = f == NULL || *n_seen >= 64;
            for (int i = 0; !done && i < *n_seen; i++)
                done = seen[i] == f;
            if (done)
                continue;
            seen[(*n_seen)++] = f;
            gather_fields(v, f->selections, parent, out, seen, n_seen);
        }
    }
}

static bool same_value(const api_gql_value_t *a, const api_gql_value_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case GQL_V_BOOLEAN:
        return a->boolean == b->boolean;
    case GQL_V_NULL:
        return true;
    case GQL_V_LIST: {
        const api_gql_value_t *x = a->items, *y = b->items;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (!same_value(x, y))
                return false;
        return x == NULL && y == NULL;
    }
    case GQL_V_OBJECT: {
        const api_gql_object_field_t *x = a->fields, *y = b->fields;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (strcmp(x->name, y->name) != 0 || !same_value(x->value, y->value))
                return false;
        return x == NULL && y == NULL;
    }
    default:
        return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
    }
}

static bool same_args(const api_gql_argument_t *a, const api_gql_argument_t *b)
{
    size_t na = 0, nb = 0;
    for (const api_gql_argument_t *x = a; x != NULL; x = x->next)
        na++;
    for (const api_gql_argument_t *y = b; y != NULL; y = y->next)
        nb++;
    if (na != nb)
        return false;
    for (const api_gql_argument_t *x = a; x != NULL; x = x->next) {
        const api_gql_argument_t *y = b;
        while (y != NULL && strcmp(x->name, y->name) != 0)
            y = y->next;
        if (y == NULL || !same_value(x->value, y->value))
            return false;
    }
    return true;
}

/*
 * Fields of one selection set (with its fragments) that share a response
 * key must be the same field with the same arguments, and what they select
 * must merge too (checked on the union of their selections).
 */
static void check_merge(vctx_t *v, const api_gql_selection_t *const *sets, const api_gql_type_t *const *parents,
                        int n_sets, int depth)
{
    if (depth > API_GQL_MAX_NESTING || v->oom)
        return;
    field_list_t fl = {0};
    const api_gql_fragment_t *seen[64];
    int n_seen = 0;
    for (int i = 0; i < n_sets; i++)
        gather_fields(v, sets[i], parents[i], &fl, seen, &n_seen);
    if (fl.oom)
        v->oom = true;
    bool *done = calloc(fl.n + 1, sizeof(*done));
    if (done == NULL) {
        v->oom = true;
        free(fl.items);
        return;
    }
    for (size_t i = 0; i < fl.n && !v->oom; i++) {
        if (done[i])
            continue;
        const api_gql_selection_t *a = fl.items[i].node;
        const char *key = a->alias != NULL ? a->alias : a->name;
        /* At most one selection set per field of the list. */
        const api_gql_selection_t **subs = malloc((fl.n + 1) * sizeof(*subs));
        const api_gql_type_t **sub_parents = malloc((fl.n + 1) * sizeof(*sub_parents));
        int n_subs = 0;
        if (subs == NULL || sub_parents == NULL) {
            free(subs);
            free(sub_parents);
            v->oom = true;
            break;
        }
        const api_gql_field_def_t *fd = api_gql_field_lookup(v->schema, fl.items[i].parent, a->name);
        const api_gql_type_t *ft = fd != NULL ? api_gql_typeref_named(fd->type) : NULL;
        if (a->selections != NULL && ft != NULL) {
            subs[n_subs] = a->selections;
            sub_parents[n_subs++] = ft;
        }
        bool conflict = false;
        for (size_t j = i + 1; j < fl.n; j++) {
            const api_gql_selection_t *b = fl.items[j].node;
            if (strcmp(key, b->alias != NULL ? b->alias : b->name) != 0)
                continue;
            done[j] = true;
            if (conflict)
                continue;
            if (strcmp(a->name, b->name) != 0) {
                report(v, &b->loc,
                       "Fields \"%s\" conflict because \"%s\" and \"%s\" are different fields. Use "
                       "different aliases on the fields to fetch both if this was intentional.",
                       key, a->name, b->name);
                conflict = true;
            } else if (!same_args(a->args, b->args)) {
                report(v, &b->loc,
                       "Fields \"%s\" conflict because they have differing arguments. Use different "
                       "aliases on the fields to fetch both if this was intentional.",
                       key);
                conflict = true;
            } else if (b->selections != NULL && ft != NULL) {
                subs[n_subs] = b->selections;
                sub_parents[n_subs++] = ft;
            }
        }
        if (!conflict && n_subs > 0)
            check_merge(v, subs, sub_parents, n_subs, depth + 1);
        free(subs);
        free(sub_parents);
    }
    free(done);
    free(fl.items);
}

/* ---- document-level rules ---- */

/* NoFragmentCycles: a spread path from fragment f back to itself. */
static bool reaches(const api_gql_document_t *doc, const api_gql_selection_t *sels, const api_gql_fragment_t *target,
                    const api_gql_fragment_t **stack, int depth)
{
    if (depth > 64)
        return false;
    for (const api_gql_selection_t *s = sels; s != NULL; s = s->next) {
        if (s->kind == GQL_SEL_SPREAD) {
            const api_gql_fragment_t *f = find_fragment(doc, s->name);
            if (f == NULL)
                continue;
            if (f == target)
                return true;
            bool on_stack = false;
            for (int i = 0; i < depth; i++)
                on_stack = on_stack || stack[i] == f;
            if (on_stack)
                continue;
            stack[depth] = f;
            if (reaches(doc, f->selections, target, stack, depth + 1))
                return true;
        } else if (s->selections != NULL && reaches(doc, s->selections, target, stack, depth)) {
            return true;
        }
    }
    return false;
}

/* Fragments used by the operations (NoUnusedFragments): marks them in used[]. */
static void mark_used(const api_gql_document_t *doc, const api_gql_selection_t *sels, const api_gql_fragment_t **used,
                      int *n_used, int cap)
{
    for (const api_gql_selection_t *s = sels; s != NULL; s = s->next) {
        if (s->kind == GQL_SEL_SPREAD) {
            const api_gql_fragment_t *f = find_fragment(doc, s->name);
            bool seen = f == NULL;
            for (int i = 0; !seen && i < *n_used; i++)
                seen = used[i] == f;
            if (seen || *n_used >= cap)
                continue;
            used[(*n_used)++] = f;
            mark_used(doc, f->selections, used, n_used, cap);
        } else if (s->selections != NULL) {
            mark_used(doc, s->selections, used, n_used, cap);
        }
    }
}

/* Depth of a selection set in fields, introspection fields (and what they select) not counted. */
static int depth_of(const api_gql_document_t *doc, const api_gql_selection_t *sels, int guard)
{
    if (guard > 128)
        return 0;
    int max = 0;
    for (const api_gql_selection_t *s = sels; s != NULL; s = s->next) {
        int d = 0;
        if (s->kind == GQL_SEL_FIELD) {
            if (strncmp(s->name, "__", 2) == 0)
                continue;
            d = 1 + depth_of(doc, s->selections, guard + 1);
        } else if (s->kind == GQL_SEL_INLINE) {
            d = depth_of(doc, s->selections, guard + 1);
        } else {
            const api_gql_fragment_t *f = find_fragment(doc, s->name);
            d = f != NULL ? depth_of(doc, f->selections, guard + 1) : 0;
        }
        if (d > max)
            max = d;
    }
    return max;
}

static const char *const OP_NAMES[] = {"query", "mutation", "subscription"};

static void check_operation(vctx_t *v, const api_gql_operation_t *op, int n_ops)
{
    v->op = op;
    v->n_used = 0;
    v->n_visiting = 0;
    if (op->name == NULL && n_ops > 1)
        report(v, &op->loc, "This anonymous operation must be the only defined operation.");
    if (op->name != NULL)
        for (const api_gql_operation_t *o = v->doc->operations; o != op; o = o->next)
            if (o->name != NULL && strcmp(o->name, op->name) == 0) {
                report(v, &op->loc, "There can be only one operation named \"%s\".", op->name);
                break;
            }
    if (op->kind != GQL_OP_QUERY) {
        report(v, &op->loc, "Schema is not configured to execute %s operation.", OP_NAMES[op->kind]);
        return;
    }
    check_directives(v, op->directives, "QUERY");
    for (const api_gql_var_def_t *d = op->vars; d != NULL; d = d->next) {
        for (const api_gql_var_def_t *e = op->vars; e != d; e = e->next)
            if (strcmp(e->name, d->name) == 0) {
                report(v, &d->loc, "There can be only one variable named \"$%s\".", d->name);
                break;
            }
        api_gql_typeref_t *bottom = d->type;
        while (bottom->kind != GQL_T_NAMED)
            bottom = bottom->of;
        bottom->named = api_gql_schema_type(v->schema, bottom->name);
        char ts[128];
        type_str(d->type, ts, sizeof(ts));
        if (bottom->named == NULL) {
            report(v, &bottom->loc, "Unknown type \"%s\".", bottom->name);
            continue;
        }
        if (bottom->named->kind == GQL_K_OBJECT) {
            report(v, &d->type->loc, "Variable \"$%s\" cannot be non-input type \"%s\".", d->name, ts);
            continue;
        }
        if (d->default_value != NULL) {
            const api_gql_operation_t *keep = v->op;
            v->op = NULL; /* constants: no variables inside */
            check_value(v, d->default_value, d->type, false);
            v->op = keep;
        }
    }
    walk_selections(v, op->selections, v->schema->query);
    for (const api_gql_var_def_t *d = op->vars; d != NULL; d = d->next) {
        bool used = false;
        for (int i = 0; i < v->n_used; i++)
            used = used || strcmp(v->used_vars[i], d->name) == 0;
        if (!used) {
            if (op->name != NULL)
                report(v, &d->loc, "Variable \"$%s\" is never used in operation \"%s\".", d->name, op->name);
            else
                report(v, &d->loc, "Variable \"$%s\" is never used.", d->name);
        }
    }
    v->op = NULL;
}

int api_gql_validate(const api_gql_schema_t *s, api_gql_document_t *doc, json_t *errors)
{
    vctx_t v = {.schema = s, .doc = doc, .errors = errors};
    if (doc->has_type_system) {
        const api_gql_type_t *t = doc->types;
        if (t != NULL)
            report(&v, &t->loc, "The \"%s\" definition is not executable.", t->name);
        else
            report(&v, NULL, "Type system definitions are not executable.");
    }
    int n_ops = 0;
    for (const api_gql_operation_t *op = doc->operations; op != NULL; op = op->next)
        n_ops++;
    /* Fragment definitions: names, type conditions, fields, cycles. */
    for (const api_gql_fragment_t *f = doc->fragments; f != NULL && !v.oom; f = f->next) {
        for (const api_gql_fragment_t *g = doc->fragments; g != f; g = g->next)
            if (strcmp(g->name, f->name) == 0) {
                report(&v, &f->loc, "There can be only one fragment named \"%s\".", f->name);
                break;
            }
        check_directives(&v, f->directives, "FRAGMENT_DEFINITION");
        const api_gql_type_t *t;
        if (!check_condition(&v, f->type_condition, &f->type_loc, NULL, f->name, &t))
            continue;
        walk_selections(&v, f->selections, t);
        const api_gql_fragment_t *stack[66];
        if (reaches(doc, f->selections, f, stack, 0))
            report(&v, &f->loc, "Cannot spread fragment \"%s\" within itself.", f->name);
    }
    for (const api_gql_operation_t *op = doc->operations; op != NULL && !v.oom; op = op->next)
        check_operation(&v, op, n_ops);
    const api_gql_fragment_t *used[256];
    int n_used = 0;
    for (const api_gql_operation_t *op = doc->operations; op != NULL; op = op->next)
        mark_used(doc, op->selections, used, &n_used, 256);
    for (const api_gql_fragment_t *f = doc->fragments; f != NULL; f = f->next) {
        bool is_used = false;
        for (int i = 0; i < n_used; i++)
            is_used = is_used || used[i] == f;
        if (!is_used)
            report(&v, &f->loc, "Fragment \"%s\" is never used.", f->name);
    }
    /* Only a document whose fields are all known reaches the merge check and the depth limit. */
    for (const api_gql_operation_t *op = doc->operations; op != NULL && v.n_errors == 0; op = op->next) {
        const api_gql_selection_t *sets[] = {op->selections};
        const api_gql_type_t *parents[] = {s->query};
        check_merge(&v, sets, parents, 1, 0);
    }
    if (v.n_errors == 0)
        for (const api_gql_operation_t *op = doc->operations; op != NULL; op = op->next) {
            int d = depth_of(doc, op->selections, 0);
            if (d > API_GQL_MAX_DEPTH) {
                report(&v, &op->loc,
                       "The query is %d levels deep; at most %d are allowed (introspection fields "
                       "not counted).",
                       d, API_GQL_MAX_DEPTH);
            }
        }
    free(v.used_vars);
    if (v.oom)
        return EH_ERR;
    return v.n_errors > 0 ? EH_DECLINED : EH_OK;
}
