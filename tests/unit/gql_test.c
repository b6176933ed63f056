/* The GraphQL library (api/graphql/): lexer and parser, schema and resolver binding, validation, execution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/graphql/gql.h"
#include "../../api/graphql/gql_app.h"
#include "../../api/graphql/gql_sdl.h"

/* ---- parsing ---- */

static api_gql_document_t *parse_ok(const char *src)
{
    api_gql_document_t *doc = NULL;
    api_gql_error_t err;
    int rc = api_gql_parse(src, strlen(src), &doc, &err);
    if (rc != EH_OK)
        fail_msg("parse failed: %s (%s)", err.message, src);
    return doc;
}

static void parse_fails(const char *src, size_t len, const char *message_part, unsigned line, unsigned column)
{
    api_gql_document_t *doc = NULL;
    api_gql_error_t err;
    assert_int_equal(api_gql_parse(src, len, &doc, &err), EH_DECLINED);
    assert_null(doc);
    if (strstr(err.message, message_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.message, message_part);
    if (line > 0) {
        assert_true(err.has_loc);
        assert_int_equal(err.loc.line, line);
        assert_int_equal(err.loc.column, column);
    }
}

static void test_parse_operations_fragments_and_values(void **state)
{
    (void)state;
    api_gql_document_t *doc = parse_ok("query Q($a: [Int!]! = [1, 2], $b: String) @skip(if: false) {\n"
                                       "  x: job(id: \"a\\u00e9\\n\", n: -1.5e3, e: ENUM, o: {k: null}) { id ...F "
                                       "... on Job { id } ... @include(if: $c) { id } }\n"
                                       "}\nfragment F on Job { id }\n{ __typename }");
    const api_gql_operation_t *op = doc->operations;
    assert_string_equal(op->name, "Q");
    assert_string_equal(op->vars->name, "a");
    assert_int_equal(op->vars->type->kind, GQL_T_NON_NULL);
    assert_int_equal(op->vars->type->of->kind, GQL_T_LIST);
    assert_int_equal(op->vars->default_value->kind, GQL_V_LIST);
    const api_gql_selection_t *f = op->selections;
    assert_string_equal(f->alias, "x");
    assert_string_equal(f->name, "job");
    assert_int_equal(f->loc.line, 2);
    assert_int_equal(f->loc.column, 3);
    assert_string_equal(f->args->value->text, "a\xc3\xa9\n");
    assert_string_equal(f->args->next->value->text, "-1.5e3");
    assert_int_equal(f->args->next->value->kind, GQL_V_FLOAT);
    assert_int_equal(f->args->next->next->value->kind, GQL_V_ENUM);
    assert_int_equal(f->args->next->next->next->value->kind, GQL_V_OBJECT);
    assert_int_equal(f->selections->next->kind, GQL_SEL_SPREAD);
    assert_string_equal(f->selections->next->next->type_condition, "Job");
    assert_null(f->selections->next->next->next->type_condition);
    assert_string_equal(doc->fragments->name, "F");
    assert_null(op->next->name);
    api_gql_document_free(doc);
}

static void test_block_strings_and_surrogate_pairs(void **state)
{
    (void)state;
    api_gql_document_t *doc = parse_ok("{ a(s: \"\"\"\n    hello\n      world\n\n    \\\"\"\" end\n  \"\"\", "
                                       "t: \"\\ud83d\\ude00\", u: \"\\u{1F600}\") }");
    const api_gql_argument_t *a = doc->operations->selections->args;
    assert_string_equal(a->value->text, "hello\n  world\n\n\"\"\" end");
    assert_string_equal(a->next->value->text, "\xf0\x9f\x98\x80");
    assert_string_equal(a->next->next->value->text, "\xf0\x9f\x98\x80");
    api_gql_document_free(doc);
    /* Blank lines inside keep what the indentation leaves of them; leading and trailing ones go. */
    doc = parse_ok("{ a(s: \"\"\"  \n  x\n     \n  y\n  \n\"\"\") }");
    a = doc->operations->selections->args;
    assert_string_equal(a->value->text, "x\n   \ny");
    api_gql_document_free(doc);
}

static void test_syntax_errors_have_locations(void **state)
{
    (void)state;
    parse_fails("", 0, "Expected Name, found <EOF>", 1, 1);
    parse_fails("{ a", 3, "Expected Name, found <EOF>", 1, 4);
    parse_fails("{\n  a(x: 01) }", 14, "unexpected digit after 0", 2, 9);
    parse_fails("{ a(x: \"abc) }", 14, "Unterminated string", 1, 15);
    parse_fails("{ a(x: \"\\q\") }", 14, "Invalid character escape", 1, 9);
    parse_fails("{ a(x: \"\\ud800\") }", 18, "Invalid Unicode escape", 1, 9);
    parse_fails("{ a ? }", 7, "Unexpected character", 1, 5);
    parse_fails("{ a \xff }", 7, "Invalid UTF-8", 1, 5);
    parse_fails("{ a(x: \"\xc0\xaf\") }", 15, "Invalid UTF-8", 1, 9);
    parse_fails("{ a\0 }", 6, "Invalid character: U+0000", 1, 4);
    parse_fails("query($a: ID = $b) { a }", 24, "Unexpected \"$\"", 1, 16);
    parse_fails("fragment on on X { a }", 22, "Unexpected Name \"on\"", 1, 10);
    parse_fails("{ a(x: 1a) }", 12, "Invalid number, expected digit but got: \"a\"", 1, 9);
    parse_fails("{ a(x: 1.) }", 12, "Invalid number", 1, 10);
    /* Found by the fuzzer: a directive without a name inside a type definition. */
    parse_fails("type Boo { a: I @\n\xff }", 22, "Invalid UTF-8", 2, 1);
    parse_fails("scalar S @\n\xff", 13, "Invalid UTF-8", 2, 1);
}

static void test_limits_nesting_tokens_size(void **state)
{
    (void)state;
    size_t n = 10000;
    char *deep = malloc(3 * n + 1);
    assert_non_null(deep);
    for (size_t i = 0; i < n; i++)
        memcpy(deep + 2 * i, "{a", 2);
    memset(deep + 2 * n, '}', n);
    deep[3 * n] = '\0';
    parse_fails(deep, 3 * n, "nests more than 64 levels", 0, 0);
    memset(deep, '[', 3 * n); /* list values */
    memcpy(deep, "{a(x:", 5);
    parse_fails(deep, 3 * n, "nests more than 64 levels", 0, 0);
    memset(deep, '[', 3 * n); /* list types */
    memcpy(deep, "query($a:", 9);
    parse_fails(deep, 3 * n, "nests more than 64 levels", 0, 0);
    free(deep);
    size_t count = 6000, len = count * 4 + 4;
    char *wide = malloc(len + 1);
    assert_non_null(wide);
    strcpy(wide, "{ ");
    for (size_t i = 0; i < count; i++)
        strcat(wide + 2 + i * 4 - (i > 0 ? 0 : 0), "a:b ");
    strcat(wide, "}");
    parse_fails(wide, strlen(wide), "more than 15000 tokens", 0, 0);
    free(wide);
    char *big = malloc(API_GQL_MAX_DOCUMENT + 2);
    assert_non_null(big);
    memset(big, ' ', API_GQL_MAX_DOCUMENT + 1);
    parse_fails(big, API_GQL_MAX_DOCUMENT + 1, "larger than", 0, 0);
    free(big);
}

/* ---- schema ---- */

static const char TEST_SDL[] = "enum Color { RED GREEN }\n"
                               "type Query { node(id: ID!): Node  nodes(first: Int = 10): [Node!]!  hello: String!\n"
                               "  fail: String  failNonNull: String!  echo(i: Int, f: Float, s: String, b: Boolean, "
                               "c: Color, l: [Int!]): String }\n"
                               "type Node { id: ID!  child: Node  children(first: Int = 5): [Node!]!  "
                               "name: String  color: Color  bad: String! }\n";

static int r_node(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)err;
    (void)n;
    static int depth_marker;
    const char *id = json_string_value(json_object_get(r->args, "id"));
    if (id != NULL && strcmp(id, "missing") == 0) {
        out->kind = GQL_R_NULL;
        return EH_OK;
    }
    out->kind = GQL_R_OBJECT;
    out->object = r->source != NULL ? r->source : &depth_marker;
    return EH_OK;
}

static int r_nodes(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)err;
    (void)n;
    static int marker;
    size_t count = (size_t)json_integer_value(json_object_get(r->args, "first"));
    out->kind = GQL_R_LIST;
    out->n = count;
    out->items = api_gql_exec_alloc(r->ex, (count + 1) * sizeof(*out->items));
    for (size_t i = 0; i < count; i++) {
        out->items[i].kind = GQL_R_OBJECT;
        out->items[i].object = &marker;
    }
    return EH_OK;
}

static int r_hello(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)err;
    (void)n;
    out->kind = GQL_R_LEAF;
    out->leaf = json_string("world");
    return EH_OK;
}

static int r_fail(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)out;
    snprintf(err, n, "it failed");
    return EH_DECLINED;
}

static int r_null(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)err;
    (void)n;
    out->kind = GQL_R_NULL;
    return EH_OK;
}

static int r_echo(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)err;
    (void)n;
    char *text = json_dumps(r->args, JSON_COMPACT | JSON_SORT_KEYS);
    out->kind = GQL_R_LEAF;
    out->leaf = json_string(text);
    free(text);
    return EH_OK;
}

static int r_id(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)err;
    (void)n;
    out->kind = GQL_R_LEAF;
    out->leaf = json_string("n1");
    return EH_OK;
}

static int r_color(const api_gql_resolve_t *r, api_gql_rvalue_t *out, char *err, size_t n)
{
    (void)r;
    (void)err;
    (void)n;
    out->kind = GQL_R_LEAF;
    out->leaf = json_string("GREEN");
    return EH_OK;
}

static const api_gql_resolver_t TABLE[] = {
    {"Query", "node", r_node}, {"Query", "nodes", r_nodes},      {"Query", "hello", r_hello},
    {"Query", "fail", r_fail}, {"Query", "failNonNull", r_fail}, {"Query", "echo", r_echo},
    {"Node", "id", r_id},      {"Node", "child", r_node},        {"Node", "children", r_nodes},
    {"Node", "name", r_null},  {"Node", "color", r_color},       {"Node", "bad", r_null},
};

static api_gql_schema_t *load_test_schema(void)
{
    api_gql_schema_t *s = NULL;
    api_gql_error_t err;
    assert_int_equal(api_gql_schema_load(TEST_SDL, strlen(TEST_SDL), &s, &err), EH_OK);
    assert_int_equal(api_gql_bind(s, TABLE, sizeof(TABLE) / sizeof(TABLE[0]), &err), EH_OK);
    return s;
}

static void test_bind_refuses_missing_and_extra_resolvers(void **state)
{
    (void)state;
    api_gql_schema_t *s = NULL;
    api_gql_error_t err;
    assert_int_equal(api_gql_schema_load(TEST_SDL, strlen(TEST_SDL), &s, &err), EH_OK);
    assert_int_equal(api_gql_bind(s, TABLE, sizeof(TABLE) / sizeof(TABLE[0]) - 1, &err), EH_DECLINED);
    assert_string_equal(err.message, "field Node.bad of the schema has no resolver");
    api_gql_schema_free(s);
    api_gql_resolver_t extra[sizeof(TABLE) / sizeof(TABLE[0]) + 1];
    memcpy(extra, TABLE, sizeof(TABLE));
    extra[sizeof(TABLE) / sizeof(TABLE[0])] = (api_gql_resolver_t){"Node", "weight", r_null};
    assert_int_equal(api_gql_schema_load(TEST_SDL, strlen(TEST_SDL), &s, &err), EH_OK);
    assert_int_equal(api_gql_bind(s, extra, sizeof(extra) / sizeof(extra[0]), &err), EH_DECLINED);
    assert_string_equal(err.message, "resolver Node.weight has no field in the schema");
    api_gql_schema_free(s);
}

static void test_bad_schemas_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"type Query { a: Nope }",
                         "type Query { a: Int } type Query { b: Int }",
                         "type X { a: Int }",
                         "interface I { a: Int } type Query { a: Int }",
                         "type Query { a(x: Query): Int }",
                         "type Query { a: Int a: String }",
                         "{ a }"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_gql_schema_t *s = NULL;
        api_gql_error_t err;
        if (api_gql_schema_load(bad[i], strlen(bad[i]), &s, &err) != EH_DECLINED)
            fail_msg("accepted: %s", bad[i]);
        assert_null(s);
    }
}

static void test_the_repository_schema_binds_the_resolver_table(void **state)
{
    (void)state;
    api_gql_schema_t *s = NULL;
    api_gql_error_t err;
    assert_int_equal(api_gql_schema_load(api_gql_sdl_text, api_gql_sdl_len(), &s, &err), EH_OK);
    assert_int_equal(api_gql_bind(s, api_gql_resolvers, api_gql_n_resolvers, &err), EH_OK);
    assert_non_null(api_gql_schema_type(s, "JobConnection"));
    api_gql_schema_free(s);
}

/* ---- validation ---- */

static json_t *validate_src(api_gql_schema_t *s, const char *src)
{
    api_gql_document_t *doc = parse_ok(src);
    json_t *errors = json_array();
    int rc = api_gql_validate(s, doc, errors);
    api_gql_document_free(doc);
    assert_int_equal(rc, json_array_size(errors) > 0 ? EH_DECLINED : EH_OK);
    return errors;
}

static void expect_valid(api_gql_schema_t *s, const char *src)
{
    json_t *errors = validate_src(s, src);
    if (json_array_size(errors) > 0) {
        char *t = json_dumps(errors, 0);
        fail_msg("%s: %s", src, t);
    }
    json_decref(errors);
}

static void expect_invalid(api_gql_schema_t *s, const char *src, const char *message_part)
{
    json_t *errors = validate_src(s, src);
    size_t i;
    json_t *e;
    bool found = false;
    json_array_foreach(errors, i, e)
    {
        found = found || strstr(json_string_value(json_object_get(e, "message")), message_part) != NULL;
        assert_non_null(json_object_get(e, "message"));
    }
    if (!found) {
        char *t = json_dumps(errors, 0);
        fail_msg("%s: wanted \"%s\", got %s", src, message_part, t);
    }
    json_decref(errors);
}

static void test_validation_rules(void **state)
{
    (void)state;
    api_gql_schema_t *s = load_test_schema();
    expect_valid(s, "{ hello node(id: 1) { id ... on Node { name } ...F } } fragment F on Node { color }");
    expect_valid(s, "query($n: Int = 3, $c: Color!) { nodes(first: $n) { id } echo(c: $c, l: 1) }");
    expect_valid(s, "query($i: Int!) { echo(l: [$i]) }");
    expect_invalid(s, "query($i: Int) { echo(l: [$i]) }", "expecting type \"Int!\"");
    expect_valid(s, "{ __schema { types { name } } __type(name: \"Node\") { name } }");
    expect_invalid(s, "{ nope }", "Cannot query field \"nope\" on type \"Query\".");
    expect_invalid(s, "{ hello(x: 1) }", "Unknown argument \"x\" on field \"Query.hello\".");
    expect_invalid(s, "{ echo(i: \"x\") }", "Int cannot represent non-integer value: \"x\"");
    expect_invalid(s, "{ echo(i: 2147483648) }", "non 32-bit signed integer");
    expect_invalid(s, "{ echo(c: BLUE) }", "Value \"BLUE\" does not exist in \"Color\" enum.");
    expect_invalid(s, "{ echo(c: \"RED\") }", "Enum \"Color\" cannot represent non-enum value");
    expect_invalid(s, "{ echo(f: true) }", "Float cannot represent");
    expect_invalid(s, "{ echo(l: [1, null]) }", "Expected value of type \"Int!\", found null.");
    expect_invalid(s, "{ node { id } }", "argument \"id\" of type \"ID!\" is required");
    expect_invalid(s, "{ hello { x } }", "must not have a selection");
    expect_invalid(s, "{ node(id: 1) }", "must have a selection of subfields");
    expect_invalid(s, "{ node(id: 1) { ...A } } fragment A on Node { ...B } fragment B on Node { ...A }",
                   "Cannot spread fragment \"A\" within itself.");
    expect_invalid(s, "{ hello } fragment U on Node { id }", "Fragment \"U\" is never used.");
    expect_invalid(s, "{ ...Nope }", "Unknown fragment \"Nope\".");
    expect_invalid(s, "query($a: Int) { hello }", "Variable \"$a\" is never used.");
    expect_invalid(s, "query Q { echo(i: $x) }", "Variable \"$x\" is not defined by operation \"Q\".");
    expect_invalid(s, "query Q { ...F } fragment F on Query { echo(i: $x) }", "Variable \"$x\" is not defined");
    expect_invalid(s, "query($a: String) { echo(i: $a) }",
                   "of type \"String\" used in position expecting type \"Int\"");
    expect_invalid(s, "query($a: ID) { node(id: $a) { id } }", "used in position expecting type \"ID!\"");
    expect_invalid(s, "query($a: Node) { hello }", "cannot be non-input type \"Node\"");
    expect_invalid(s, "query($a: Int, $a: Int) { echo(i: $a) }", "only one variable named \"$a\"");
    expect_invalid(s, "{ hello @nope }", "Unknown directive \"@nope\".");
    expect_invalid(s, "query @include(if: true) { hello }", "may not be used on QUERY");
    expect_invalid(s, "{ hello @skip(if: true) @skip(if: true) }", "can only be used once");
    expect_invalid(s, "{ hello @skip }", "Directive \"@skip\" argument \"if\"");
    expect_invalid(s, "{ ... on Nope { hello } }", "Unknown type \"Nope\".");
    expect_invalid(s, "{ ... on Node { id } }", "can never be of type \"Node\"");
    expect_invalid(s, "{ hello } fragment F on Color { id }", "cannot condition on non composite type");
    expect_invalid(s, "query A { hello } query A { hello }", "only one operation named \"A\"");
    expect_invalid(s, "{ hello } query B { hello }", "must be the only defined operation");
    expect_invalid(s, "mutation { hello }", "not configured to execute mutation");
    expect_invalid(s, "type T { a: Int }", "not executable");
    expect_invalid(s, "{ node(id: 1) { __schema { types { name } } } }", "Cannot query field \"__schema\"");
    expect_valid(s, "{ a: node(id: 1) { id } a: node(id: 1) { name } ...Q } fragment Q on Query { a: node(id: 1) "
                    "{ color } }");
    expect_invalid(s, "{ a: hello a: fail }", "Fields \"a\" conflict because \"hello\" and \"fail\" are different");
    expect_invalid(s, "{ node(id: 1) { id } node(id: 2) { id } }", "differing arguments");
    expect_invalid(s, "{ node(id: 1) { x: id } ...Q } fragment Q on Query { node(id: 1) { x: name } }",
                   "Fields \"x\" conflict");
    /* Depth: 11 levels of fields; introspection fields (and what they select) are not counted. */
    expect_valid(
        s, "{ node(id: 1) { child { child { child { child { child { child { child { child { id } } } } } } } } } }");
    expect_invalid(s,
                   "{ node(id: 1) { child { child { child { child { child { child { child { child { child { id "
                   "} } } } } } } } } } }",
                   "11 levels deep");
    expect_valid(s, "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { "
                    "ofType { ofType { name } } } } } } } } } } } } }");
    expect_invalid(s,
                   "{ ...A } fragment A on Query { node(id: 1) { ...B } } fragment B on Node { child { child { "
                   "child { child { child { child { child { child { child { id } } } } } } } } } }",
                   "levels deep");
    api_gql_schema_free(s);
}

/* ---- execution ---- */

static json_t *run(api_gql_schema_t *s, const char *src, const char *vars_json, const char *op, bool *request_error)
{
    api_gql_document_t *doc = parse_ok(src);
    json_t *errors = json_array();
    assert_int_equal(api_gql_validate(s, doc, errors), EH_OK);
    json_decref(errors);
    json_t *vars = vars_json != NULL ? json_loads(vars_json, 0, NULL) : NULL;
    api_gql_request_t rq = {.operation_name = op, .variables = vars};
    json_t *res = api_gql_execute(s, TABLE, doc, &rq, request_error);
    json_decref(vars);
    api_gql_document_free(doc);
    assert_non_null(res);
    return res;
}

static void expect_result(api_gql_schema_t *s, const char *src, const char *vars, const char *op, const char *want)
{
    bool request_error;
    json_t *res = run(s, src, vars, op, &request_error);
    char *got = json_dumps(res, JSON_COMPACT);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n got: %s\nwant: %s", src, got, want);
    free(got);
    json_decref(res);
}

static void test_execution(void **state)
{
    (void)state;
    api_gql_schema_t *s = load_test_schema();
    expect_result(s, "{ hello a: hello __typename }", NULL, NULL,
                  "{\"data\":{\"hello\":\"world\",\"a\":\"world\",\"__typename\":\"Query\"}}");
    /* Merged fields, fragments, skip/include with variables, defaults. */
    expect_result(s,
                  "query($s: Boolean = true) { node(id: 1) { id } node(id: 1) { color ...F @skip(if: $s) "
                  "... @include(if: false) { name } } } fragment F on Node { name }",
                  NULL, NULL, "{\"data\":{\"node\":{\"id\":\"n1\",\"color\":\"GREEN\"}}}");
    expect_result(s,
                  "{ node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } "
                  "node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } "
                  "node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } node(id: 1) { id } "
                  "node(id: 1) { id } node(id: 1) { id } node(id: 1) { color } }",
                  NULL, NULL, "{\"data\":{\"node\":{\"id\":\"n1\",\"color\":\"GREEN\"}}}");
    expect_result(s, "query($n: Int) { nodes(first: $n) { id } }", "{\"n\": 2}", NULL,
                  "{\"data\":{\"nodes\":[{\"id\":\"n1\"},{\"id\":\"n1\"}]}}");
    expect_result(s,
                  "query($i: Int, $l: [Int!], $c: Color, $f: Float) { echo(i: $i, l: $l, c: $c, f: $f, s: "
                  "\"x\") }",
                  "{\"i\": 2.0, \"l\": 7, \"c\": \"RED\", \"f\": 1}", NULL,
                  "{\"data\":{\"echo\":\"{\\\"c\\\":\\\"RED\\\",\\\"f\\\":1.0,\\\"i\\\":2,\\\"l\\\":[7],\\\"s\\\":"
                  "\\\"x\\\"}\"}}");
    /* A field error: null, with message, location and path. */
    expect_result(s, "{ hello\n fail }", NULL, NULL,
                  "{\"data\":{\"hello\":\"world\",\"fail\":null},\"errors\":[{\"message\":\"it failed\","
                  "\"locations\":[{\"line\":2,\"column\":2}],\"path\":[\"fail\"]}]}");
    /* Null in a non-null field nulls the nearest nullable parent; the path names the item. */
    expect_result(s, "{ node(id: 1) { child { bad } } }", NULL, NULL,
                  "{\"data\":{\"node\":{\"child\":null}},\"errors\":[{\"message\":\"Cannot return null for "
                  "non-nullable field.\",\"locations\":[{\"line\":1,\"column\":25}],\"path\":[\"node\",\"child\","
                  "\"bad\"]}]}");
    expect_result(s, "{ nodes(first: 2) { bad } }", NULL, NULL,
                  "{\"data\":null,\"errors\":[{\"message\":\"Cannot return null for non-nullable field.\","
                  "\"locations\":[{\"line\":1,\"column\":21}],\"path\":[\"nodes\",0,\"bad\"]}]}");
    expect_result(s, "{ failNonNull hello }", NULL, NULL,
                  "{\"data\":null,\"errors\":[{\"message\":\"it failed\",\"locations\":[{\"line\":1,\"column\":3}],"
                  "\"path\":[\"failNonNull\"]}]}");
    expect_result(s, "query A { hello } query B { __typename }", NULL, "B", "{\"data\":{\"__typename\":\"Query\"}}");
    /* Request errors: no data. */
    bool request_error;
    json_t *res = run(s, "query A { hello } query B { hello }", NULL, NULL, &request_error);
    assert_true(request_error);
    assert_null(json_object_get(res, "data"));
    json_decref(res);
    res = run(s, "query($c: Color!) { echo(c: $c) }", "{\"c\": \"BLUE\"}", NULL, &request_error);
    assert_true(request_error);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(json_object_get(res, "errors"), 0), "message")),
               "Variable \"$c\" got invalid value"));
    json_decref(res);
    res = run(s, "query($i: Int) { echo(i: $i) }", "{\"i\": 3000000000}", NULL, &request_error);
    assert_true(request_error);
    json_decref(res);
    /* Complexity: nodes(first: 100) x children(first: 1000) is over the budget. */
    res = run(s, "{ nodes(first: 100) { children(first: 1000) { id } } }", NULL, NULL, &request_error);
    assert_true(request_error);
    char *text = json_dumps(res, 0);
    assert_non_null(strstr(text, "budget"));
    free(text);
    json_decref(res);
    res = run(s, "query($n: Int) { nodes(first: 100) { children(first: $n) { id } } }", "{\"n\": 1000}", NULL,
              &request_error);
    assert_true(request_error);
    json_decref(res);
    api_gql_schema_free(s);
}

static void test_introspection_of_wrappers_and_defaults(void **state)
{
    (void)state;
    api_gql_schema_t *s = load_test_schema();
    expect_result(s,
                  "{ __type(name: \"Node\") { kind fields { name type { kind name ofType { kind name ofType { "
                  "kind name } } } args { name defaultValue } } } }",
                  NULL, NULL,
                  "{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"fields\":[{\"name\":\"id\",\"type\":{\"kind\":\"NON_NUL"
                  "L\",\"name\":null,\"ofType\":{\"kind\":\"SCALAR\",\"name\":\"ID\",\"ofType\":null}},\"args\":[]},{\""
                  "name\":\"child\",\"type\":{\"kind\":\"OBJECT\",\"name\":\"Node\",\"ofType\":null},\"args\":[]},{\"na"
                  "me\":\"children\",\"type\":{\"kind\":\"NON_NULL\",\"name\":null,\"ofType\":{\"kind\":\"LIST\",\"name"
                  "\":null,\"ofType\":{\"kind\":\"NON_NULL\",\"name\":null}}},\"args\":[{\"name\":\"first\",\"defaultVa"
                  "lue\":\"5\"}]},{\"name\":\"name\",\"type\":{\"kind\":\"SCALAR\",\"name\":\"String\",\"ofType\":null}"
                  ",\"args\":[]},{\"name\":\"color\",\"type\":{\"kind\":\"ENUM\",\"name\":\"Color\",\"ofType\":null},\""
                  "args\":[]},{\"name\":\"bad\",\"type\":{\"kind\":\"NON_NULL\",\"name\":null,\"ofType\":{\"kind\":\"SC"
                  "ALAR\",\"name\":\"String\",\"ofType\":null}},\"args\":[]}]}}}");
    api_gql_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_operations_fragments_and_values),
        cmocka_unit_test(test_block_strings_and_surrogate_pairs),
        cmocka_unit_test(test_syntax_errors_have_locations),
        cmocka_unit_test(test_limits_nesting_tokens_size),
        cmocka_unit_test(test_bind_refuses_missing_and_extra_resolvers),
        cmocka_unit_test(test_bad_schemas_are_refused),
        cmocka_unit_test(test_the_repository_schema_binds_the_resolver_table),
        cmocka_unit_test(test_validation_rules),
        cmocka_unit_test(test_execution),
        cmocka_unit_test(test_introspection_of_wrappers_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
