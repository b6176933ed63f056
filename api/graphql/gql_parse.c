/*
 * The GraphQL lexer and recursive-descent parser (specification sections 2
 * and 3), for executable documents and SDL alike.
 *
 * Bounded by construction, since the document comes from anyone: at most
 * API_GQL_MAX_DOCUMENT bytes, API_GQL_MAX_TOKENS tokens, and
 * API_GQL_MAX_NESTING levels of braces, brackets and wrapped types (the
 * recursion depth of the parser). The source must be UTF-8; messages follow
 * graphql-js ("Syntax Error: Expected Name, found <EOF>.").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gql.h"
#include "utf8.h"

/* ---- arena ---- */

struct gql_block {
    struct gql_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define BLOCK_SIZE 8192

void *api_gql_alloc(api_gql_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct gql_block *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *api_gql_strndup(api_gql_arena_t *a, const char *s, size_t n)
{
    char *p = api_gql_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void api_gql_arena_free(api_gql_arena_t *a)
{
    struct gql_block *b = a->head;
    while (b != NULL) {
        struct gql_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

json_t *api_gql_error_json(const char *message, const api_gql_loc_t *loc)
{
    json_t *e = json_pack("{s:s}", "message", message);
    if (e != NULL && loc != NULL &&
        json_object_set_new(e, "locations",
                            json_pack("[{s:i, s:i}]", "line", (int)loc->line, "column", (int)loc->column)) != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* ---- lexer ---- */

typedef enum {
    T_EOF,
    T_BANG,
    T_DOLLAR,
    T_AMP,
    T_LPAREN,
    T_RPAREN,
    T_SPREAD,
    T_COLON,
    T_EQUALS,
    T_AT,
    T_LBRACKET,
    T_RBRACKET,
    T_LBRACE,
    T_PIPE,
    T_RBRACE,
    T_NAME,
    T_INT,
    T_FLOAT,
    T_STRING,
    T_BLOCK_STRING
} tok_kind_t;

static const char *const TOK_DESC[] = {"<EOF>", "\"!\"", "\"$\"", "\"&\"", "\"(\"",  "\")\"",      "\"...\"",
                                       "\":\"", "\"=\"", "\"@\"", "\"[\"", "\"]\"",  "\"{\"",      "\"|\"",
                                       "\"}\"", "Name",  "Int",   "Float", "String", "BlockString"};

typedef struct {
    tok_kind_t kind;
    const char *start; /* raw token text */
    size_t len;
    api_gql_loc_t loc;
    char *value; /* strings: the unescaped value (arena); names and numbers: a copy */
    size_t value_len;
} token_t;

typedef struct {
    const char *src, *end, *p;
    uint32_t line;
    const char *line_start;
    token_t tok;
    api_gql_document_t *doc;
    api_gql_error_t *err;
    bool failed, oom;
    int depth;
} parser_t;

static api_gql_loc_t loc_at(const parser_t *ps, const char *at)
{
    /* Columns count characters (code points), as graphql-js counts UTF-16 units for the BMP. */
    uint32_t col = 1;
    for (const char *q = ps->line_start; q < at; q++)
        if (((unsigned char)*q & 0xC0) != 0x80)
            col++;
    api_gql_loc_t l = {ps->line, col};
    return l;
}

__attribute__((format(printf, 3, 4))) static void fail_at(parser_t *ps, api_gql_loc_t loc, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = true;
    va_list ap;
    va_start(ap, fmt);
    char msg[200];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ps->err->message, sizeof(ps->err->message), "Syntax Error: %s", msg);
    ps->err->loc = loc;
    ps->err->has_loc = true;
}

static void fail_oom(parser_t *ps)
{
    if (!ps->failed) {
        ps->failed = true;
        ps->oom = true;
        snprintf(ps->err->message, sizeof(ps->err->message), "out of memory");
    }
}

/* Length of the valid UTF-8 sequence at p, 0 when invalid (the project's one validator). */
static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_continue(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void newline(parser_t *ps, const char *after)
{
    ps->line++;
    ps->line_start = after;
}

/* Skips ignored tokens: whitespace, line terminators, commas, comments and a BOM. */
static void skip_ignored(parser_t *ps)
{
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == ' ' || c == '\t' || c == ',') {
            ps->p++;
        } else if (c == '\n') {
            ps->p++;
            newline(ps, ps->p);
        } else if (c == '\r') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == '\n')
                ps->p++;
            newline(ps, ps->p);
        } else if (c == 0xEF && ps->end - ps->p >= 3 && (unsigned char)ps->p[1] == 0xBB &&
                   (unsigned char)ps->p[2] == 0xBF) {
            ps->p += 3;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r')
                ps->p++;
        } else {
            break;
        }
    }
}

/* \uXXXX or \u{X...} at p (after the 'u'); the code point, or -1. Advances *p past it. */
static long read_unicode_escape(const char **pp, const char *end)
{
    const char *p = *pp;
    long cp = 0;
    if (p < end && *p == '{') {
        p++;
        int digits = 0;
        while (p < end && *p != '}') {
            int h = eh_hex_digit(*p);
            if (h < 0 || ++digits > 6)
                return -1;
            cp = cp * 16 + h;
            p++;
        }
        if (p >= end || digits == 0 || cp > 0x10FFFF)
            return -1;
        *pp = p + 1;
        return cp;
    }
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = eh_hex_digit(p[i]);
        if (h < 0)
            return -1;
        cp = cp * 16 + h;
    }
    *pp = p + 4;
    return cp;
}

static void lex_string(parser_t *ps, token_t *t)
{
    const char *p = ps->p + 1;
    /* The value is never longer than the raw text. */
    char *out = api_gql_alloc(&ps->doc->arena, (size_t)(ps->end - p) + 1);
    if (out == NULL) {
        fail_oom(ps);
        return;
    }
    size_t o = 0;
    while (p < ps->end) {
        char c = *p;
        if (c == '"') {
            t->kind = T_STRING;
            t->len = (size_t)(p + 1 - ps->p);
            t->value = out;
            t->value_len = o;
            out[o] = '\0';
            ps->p = p + 1;
            return;
        }
        if (c == '\n' || c == '\r')
            break;
        if ((unsigned char)c < 0x20 && c != '\t') {
            fail_at(ps, loc_at(ps, p), "Invalid character within String: U+%04X.", (unsigned)(unsigned char)c);
            return;
        }
        if (c == '\\') {
            p++;
            if (p >= ps->end)
                break;
            const char *esc = p - 1;
            char simple = eh_escape_char(*p);
            if (simple != '\0') {
                out[o++] = simple;
                p++;
                continue;
            }
            if (*p != 'u') {
                fail_at(ps, loc_at(ps, esc), "Invalid character escape sequence.");
                return;
            }
            p++;
            bool braced = p < ps->end && *p == '{';
            long cp = read_unicode_escape(&p, ps->end);
            if (cp >= 0xD800 && cp <= 0xDBFF && !braced && ps->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                const char *q = p + 2;
                long lo = read_unicode_escape(&q, ps->end);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p = q;
                }
            }
            if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                fail_at(ps, loc_at(ps, esc), "Invalid Unicode escape sequence.");
                return;
            }
            /* A \uXXXX escape is 6 bytes and yields at most 3, a braced or paired one at most 4 from 8+. */
            size_t w = eh_utf8_encode((uint32_t)cp, out + o);
            if (w == 0) {
                fail_at(ps, loc_at(ps, esc), "Invalid Unicode escape sequence.");
                return;
            }
            o += w;
            continue;
        }
        size_t n = eh_utf8_seq((const unsigned char *)p, (size_t)(ps->end - p));
        if (n == 0) {
            fail_at(ps, loc_at(ps, p), "Invalid UTF-8 within String.");
            return;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    fail_at(ps, loc_at(ps, p), "Unterminated string.");
}

static bool is_blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

static size_t leading_ws(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* The next line of raw[*pos..n): its start and length; advances *pos past its terminator. False at the end. */
static bool next_line(const char *raw, size_t n, size_t *pos, bool *done, size_t *start, size_t *len)
{
    if (*done)
        return false;
    size_t i = *pos;
    *start = i;
    while (i < n && raw[i] != '\n' && raw[i] != '\r')
        i++;
    *len = i - *start;
    if (i >= n) {
        *done = true;
    } else {
        if (raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n')
            i++;
        i++;
    }
    *pos = i;
    return true;
}

/*
 * The block string value (spec: BlockStringValue), in place: the common
 * indentation of the lines after the first removed, blank leading and
 * trailing lines dropped, lines joined with \n.
 */
static void block_string_value(char *raw, size_t n, size_t *out_len)
{
    size_t pos = 0, st, ln, common = (size_t)-1;
    bool done = false, first = true;
    while (next_line(raw, n, &pos, &done, &st, &ln)) {
        size_t ws = leading_ws(raw + st, ln);
        if (!first && ws < ln && ws < common)
            common = ws;
        first = false;
    }
    if (common == (size_t)-1)
        common = 0;
    /*
     * Write back: o never passes the read position, since lines only shrink.
     * Blank lines are held back (pending, from pend_pos) until a non-blank
     * line follows, so that trailing ones are dropped and inner ones kept
     * with their content.
     */
    size_t o = 0, pending = 0, pend_pos = 0, written = 0;
    pos = 0;
    done = false;
    first = true;
    for (;;) {
        size_t at = pos;
        bool was_first = first;
        if (!next_line(raw, n, &pos, &done, &st, &ln))
            break;
        first = false;
        if (!was_first) {
            size_t cut = ln < common ? ln : common;
            st += cut;
            ln -= cut;
        }
        if (is_blank_line(raw + st, ln)) {
            if (written > 0 && pending++ == 0)
                pend_pos = at;
            continue;
        }
        size_t save_pos = pos;
        bool save_done = done;
        for (size_t p = pend_pos, k = 0; k < pending; k++) {
            size_t bst, bln;
            bool bdone = false;
            (void)next_line(raw, n, &p, &bdone, &bst, &bln);
            size_t cut = bln < common ? bln : common;
            raw[o++] = '\n';
            memmove(raw + o, raw + bst + cut, bln - cut);
            o += bln - cut;
        }
        pending = 0;
        pos = save_pos;
        done = save_done;
        if (written > 0)
            raw[o++] = '\n';
        memmove(raw + o, raw + st, ln);
        o += ln;
        written++;
    }
    raw[o] = '\0';
    *out_len = o;
}

static void lex_block_string(parser_t *ps, token_t *t)
{
    const char *p = ps->p + 3;
    char *out = api_gql_alloc(&ps->doc->arena, (size_t)(ps->end - p) + 1);
    if (out == NULL) {
        fail_oom(ps);
        return;
    }
    size_t o = 0;
    while (p < ps->end) {
        if (ps->end - p >= 3 && p[0] == '"' && p[1] == '"' && p[2] == '"') {
            t->kind = T_BLOCK_STRING;
            t->len = (size_t)(p + 3 - ps->p);
            block_string_value(out, o, &t->value_len);
            t->value = out;
            ps->p = p + 3;
            return;
        }
        if (ps->end - p >= 4 && p[0] == '\\' && p[1] == '"' && p[2] == '"' && p[3] == '"') {
            memcpy(out + o, "\"\"\"", 3);
            o += 3;
            p += 4;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '\n' || c == '\r') {
            out[o++] = (char)c;
            p++;
            if (c == '\r' && p < ps->end && *p == '\n')
                out[o++] = *p++;
            newline(ps, p);
            continue;
        }
        if (c < 0x20 && c != '\t') {
            fail_at(ps, loc_at(ps, p), "Invalid character within String: U+%04X.", c);
            return;
        }
        size_t n = eh_utf8_seq((const unsigned char *)p, (size_t)(ps->end - p));
        if (n == 0) {
            fail_at(ps, loc_at(ps, p), "Invalid UTF-8 within String.");
            return;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    fail_at(ps, loc_at(ps, p), "Unterminated string.");
}

static void lex_number(parser_t *ps, token_t *t)
{
    const char *p = ps->p;
    bool is_float = false;
    if (*p == '-')
        p++;
    if (p < ps->end && *p == '0') {
        p++;
        if (p < ps->end && is_digit(*p)) {
            fail_at(ps, loc_at(ps, p), "Invalid number, unexpected digit after 0: \"%c\".", *p);
            return;
        }
    } else if (p < ps->end && is_digit(*p)) {
        while (p < ps->end && is_digit(*p))
            p++;
    } else {
        fail_at(ps, loc_at(ps, p), "Invalid number, expected digit but got: %s.",
                p < ps->end ? "a character" : "<EOF>");
        return;
    }
    if (p < ps->end && *p == '.') {
        is_float = true;
        p++;
        if (p >= ps->end || !is_digit(*p)) {
            fail_at(ps, loc_at(ps, p), "Invalid number, expected digit but got: %s.",
                    p < ps->end ? "a character" : "<EOF>");
            return;
        }
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !is_digit(*p)) {
            fail_at(ps, loc_at(ps, p), "Invalid number, expected digit but got: %s.",
                    p < ps->end ? "a character" : "<EOF>");
            return;
        }
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && (*p == '.' || is_name_start(*p))) {
        fail_at(ps, loc_at(ps, p), "Invalid number, expected digit but got: \"%c\".", *p);
        return;
    }
    t->kind = is_float ? T_FLOAT : T_INT;
    t->len = (size_t)(p - ps->p);
    ps->p = p;
}

static void next_token(parser_t *ps)
{
    if (ps->failed)
        return;
    skip_ignored(ps);
    token_t *t = &ps->tok;
    memset(t, 0, sizeof(*t));
    t->start = ps->p;
    t->loc = loc_at(ps, ps->p);
    if (ps->p >= ps->end) {
        t->kind = T_EOF;
        return;
    }
    if (++ps->doc->tokens > API_GQL_MAX_TOKENS) {
        fail_at(ps, t->loc, "Document contains more than %d tokens. Parsing aborted.", API_GQL_MAX_TOKENS);
        return;
    }
    char c = *ps->p;
    static const char PUNCT[] = "!$&():=@[]{|}";
    static const tok_kind_t PUNCT_KIND[] = {T_BANG, T_DOLLAR,   T_AMP,      T_LPAREN, T_RPAREN, T_COLON, T_EQUALS,
                                            T_AT,   T_LBRACKET, T_RBRACKET, T_LBRACE, T_PIPE,   T_RBRACE};
    const char *pc = c != '\0' ? strchr(PUNCT, c) : NULL;
    if (pc != NULL) {
        t->kind = PUNCT_KIND[pc - PUNCT];
        t->len = 1;
        ps->p++;
        return;
    }
    if (c == '.') {
        if (ps->end - ps->p >= 3 && ps->p[1] == '.' && ps->p[2] == '.') {
            t->kind = T_SPREAD;
            t->len = 3;
            ps->p += 3;
            return;
        }
        fail_at(ps, t->loc, "Unexpected character: \".\".");
        return;
    }
    if (is_name_start(c)) {
        const char *p = ps->p;
        while (p < ps->end && is_name_continue(*p))
            p++;
        t->kind = T_NAME;
        t->len = (size_t)(p - ps->p);
        ps->p = p;
        return;
    }
    if (c == '-' || is_digit(c)) {
        lex_number(ps, t);
        return;
    }
    if (c == '"') {
        if (ps->end - ps->p >= 3 && ps->p[1] == '"' && ps->p[2] == '"')
            lex_block_string(ps, t);
        else
            lex_string(ps, t);
        return;
    }
    unsigned char u = (unsigned char)c;
    if (u < 0x20 || u == 0x7F)
        fail_at(ps, t->loc, "Invalid character: U+%04X.", u);
    else if (eh_utf8_seq((const unsigned char *)ps->p, (size_t)(ps->end - ps->p)) == 0)
        fail_at(ps, t->loc, "Invalid UTF-8 sequence.");
    else if (u < 0x80)
        fail_at(ps, t->loc, "Unexpected character: \"%c\".", c);
    else
        fail_at(ps, t->loc, "Unexpected character: a non-ASCII character.");
}

/* ---- parser ---- */

static void describe(const token_t *t, char *out, size_t n)
{
    if (t->kind == T_NAME || t->kind == T_INT || t->kind == T_FLOAT)
        snprintf(out, n, "%s \"%.*s\"", TOK_DESC[t->kind], (int)(t->len > 40 ? 40 : t->len), t->start);
    else if (t->kind == T_STRING || t->kind == T_BLOCK_STRING)
        snprintf(out, n, "%s", TOK_DESC[t->kind]);
    else
        snprintf(out, n, "%s", TOK_DESC[t->kind]);
}

static void unexpected(parser_t *ps, const char *expected)
{
    char found[80];
    describe(&ps->tok, found, sizeof(found));
    if (expected != NULL)
        fail_at(ps, ps->tok.loc, "Expected %s, found %s.", expected, found);
    else
        fail_at(ps, ps->tok.loc, "Unexpected %s.", found);
}

static bool peek(const parser_t *ps, tok_kind_t k)
{
    return !ps->failed && ps->tok.kind == k;
}

static bool peek_keyword(const parser_t *ps, const char *kw)
{
    return peek(ps, T_NAME) && ps->tok.len == strlen(kw) && memcmp(ps->tok.start, kw, ps->tok.len) == 0;
}

static bool skip(parser_t *ps, tok_kind_t k)
{
    if (peek(ps, k)) {
        next_token(ps);
        return true;
    }
    return false;
}

static bool expect(parser_t *ps, tok_kind_t k)
{
    if (ps->failed)
        return false;
    if (ps->tok.kind != k) {
        unexpected(ps, TOK_DESC[k]);
        return false;
    }
    next_token(ps);
    return true;
}

static bool expect_keyword(parser_t *ps, const char *kw)
{
    if (peek_keyword(ps, kw)) {
        next_token(ps);
        return true;
    }
    char want[40];
    snprintf(want, sizeof(want), "\"%s\"", kw);
    unexpected(ps, want);
    return false;
}

static void *node(parser_t *ps, size_t n)
{
    void *p = api_gql_alloc(&ps->doc->arena, n);
    if (p == NULL)
        fail_oom(ps);
    return p;
}

static const char *parse_name(parser_t *ps, api_gql_loc_t *loc)
{
    if (ps->failed)
        return NULL;
    if (ps->tok.kind != T_NAME) {
        unexpected(ps, "Name");
        return NULL;
    }
    if (loc != NULL)
        *loc = ps->tok.loc;
    char *s = api_gql_strndup(&ps->doc->arena, ps->tok.start, ps->tok.len);
    if (s == NULL)
        fail_oom(ps);
    next_token(ps);
    return s;
}

static bool enter(parser_t *ps)
{
    if (++ps->depth > API_GQL_MAX_NESTING) {
        fail_at(ps, ps->tok.loc, "Document nests more than %d levels. Parsing aborted.", API_GQL_MAX_NESTING);
        return false;
    }
    return true;
}

static void leave(parser_t *ps)
{
    ps->depth--;
}

static api_gql_value_t *parse_value(parser_t *ps, bool is_const);

static api_gql_value_t *parse_value_inner(parser_t *ps, bool is_const)
{
    api_gql_value_t *v = node(ps, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->loc = ps->tok.loc;
    token_t t = ps->tok;
    switch (t.kind) {
    case T_LBRACKET: {
        next_token(ps);
        v->kind = GQL_V_LIST;
        api_gql_value_t **tail = &v->items;
        while (!ps->failed && !skip(ps, T_RBRACKET)) {
            *tail = parse_value(ps, is_const);
            if (*tail == NULL)
                return NULL;
            tail = &(*tail)->next;
        }
        return ps->failed ? NULL : v;
    }
    case T_LBRACE: {
        next_token(ps);
        v->kind = GQL_V_OBJECT;
        api_gql_object_field_t **tail = &v->fields;
        while (!ps->failed && !skip(ps, T_RBRACE)) {
            api_gql_object_field_t *f = node(ps, sizeof(*f));
            if (f == NULL)
                return NULL;
            f->name = parse_name(ps, &f->loc);
            if (!expect(ps, T_COLON))
                return NULL;
            f->value = parse_value(ps, is_const);
            if (f->value == NULL)
                return NULL;
            *tail = f;
            tail = &f->next;
        }
        return ps->failed ? NULL : v;
    }
    case T_INT:
    case T_FLOAT:
        v->kind = t.kind == T_INT ? GQL_V_INT : GQL_V_FLOAT;
        v->text = api_gql_strndup(&ps->doc->arena, t.start, t.len);
        v->text_len = t.len;
        next_token(ps);
        return v->text != NULL ? v : (fail_oom(ps), NULL);
    case T_STRING:
    case T_BLOCK_STRING:
        v->kind = GQL_V_STRING;
        v->text = t.value;
        v->text_len = t.value_len;
        next_token(ps);
        return v;
    case T_NAME:
        if (t.len == 4 && memcmp(t.start, "true", 4) == 0) {
            v->kind = GQL_V_BOOLEAN;
            v->boolean = true;
        } else if (t.len == 5 && memcmp(t.start, "false", 5) == 0) {
            v->kind = GQL_V_BOOLEAN;
        } else if (t.len == 4 && memcmp(t.start, "null", 4) == 0) {
            v->kind = GQL_V_NULL;
        } else {
            v->kind = GQL_V_ENUM;
            v->text = api_gql_strndup(&ps->doc->arena, t.start, t.len);
            if (v->text == NULL) {
                fail_oom(ps);
                return NULL;
            }
            v->text_len = t.len;
        }
        next_token(ps);
        return v;
    case T_DOLLAR:
        if (!is_const) {
            next_token(ps);
            v->kind = GQL_V_VARIABLE;
            v->text = parse_name(ps, NULL);
            return ps->failed ? NULL : v;
        }
        /* a variable in a constant value */
        unexpected(ps, NULL);
        return NULL;
    default:
        unexpected(ps, NULL);
        return NULL;
    }
}

static api_gql_value_t *parse_value(parser_t *ps, bool is_const)
{
    if (!enter(ps))
        return NULL;
    api_gql_value_t *v = parse_value_inner(ps, is_const);
    leave(ps);
    return v;
}

static api_gql_argument_t *parse_arguments(parser_t *ps, bool is_const)
{
    api_gql_argument_t *head = NULL, **tail = &head;
    if (!skip(ps, T_LPAREN))
        return NULL;
    do {
        api_gql_argument_t *a = node(ps, sizeof(*a));
        if (a == NULL)
            return NULL;
        a->name = parse_name(ps, &a->loc);
        if (!expect(ps, T_COLON))
            return NULL;
        a->value = parse_value(ps, is_const);
        *tail = a;
        tail = &a->next;
    } while (!ps->failed && !skip(ps, T_RPAREN));
    return head;
}

static api_gql_directive_t *parse_directives(parser_t *ps, bool is_const)
{
    api_gql_directive_t *head = NULL, **tail = &head;
    while (peek(ps, T_AT)) {
        api_gql_directive_t *d = node(ps, sizeof(*d));
        if (d == NULL)
            return NULL;
        d->loc = ps->tok.loc;
        next_token(ps);
        d->name = parse_name(ps, NULL);
        d->args = parse_arguments(ps, is_const);
        *tail = d;
        tail = &d->next;
    }
    return head;
}

static api_gql_typeref_t *parse_type(parser_t *ps)
{
    if (!enter(ps))
        return NULL;
    api_gql_typeref_t *t = node(ps, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->loc = ps->tok.loc;
    if (skip(ps, T_LBRACKET)) {
        t->kind = GQL_T_LIST;
        t->of = parse_type(ps);
        expect(ps, T_RBRACKET);
    } else {
        t->kind = GQL_T_NAMED;
        t->name = parse_name(ps, NULL);
    }
    leave(ps);
    if (ps->failed)
        return NULL;
    if (skip(ps, T_BANG)) {
        api_gql_typeref_t *nn = node(ps, sizeof(*nn));
        if (nn == NULL)
            return NULL;
        nn->kind = GQL_T_NON_NULL;
        nn->of = t;
        nn->loc = t->loc;
        return nn;
    }
    return t;
}

static api_gql_selection_t *parse_selection_set(parser_t *ps);

static api_gql_selection_t *parse_selection(parser_t *ps)
{
    api_gql_selection_t *s = node(ps, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loc = ps->tok.loc;
    if (skip(ps, T_SPREAD)) {
        bool has_on = peek_keyword(ps, "on");
        if (!has_on && peek(ps, T_NAME)) {
            s->kind = GQL_SEL_SPREAD;
            s->name = parse_name(ps, NULL);
            s->directives = parse_directives(ps, false);
            return s;
        }
        s->kind = GQL_SEL_INLINE;
        if (has_on) {
            next_token(ps);
            s->type_condition = parse_name(ps, NULL);
        }
        s->directives = parse_directives(ps, false);
        if (!peek(ps, T_LBRACE)) {
            unexpected(ps, "\"{\"");
            return NULL;
        }
        s->has_selection_set = true;
        s->selections = parse_selection_set(ps);
        return s;
    }
    s->kind = GQL_SEL_FIELD;
    const char *first = parse_name(ps, NULL);
    if (skip(ps, T_COLON)) {
        s->alias = first;
        s->name = parse_name(ps, NULL);
    } else {
        s->name = first;
    }
    s->args = parse_arguments(ps, false);
    s->directives = parse_directives(ps, false);
    if (peek(ps, T_LBRACE)) {
        s->has_selection_set = true;
        s->selections = parse_selection_set(ps);
    }
    return s;
}

static api_gql_selection_t *parse_selection_set(parser_t *ps)
{
    if (!enter(ps))
        return NULL;
    api_gql_selection_t *head = NULL, **tail = &head;
    if (expect(ps, T_LBRACE)) {
        do {
            api_gql_selection_t *s = parse_selection(ps);
            if (s == NULL)
                break;
            *tail = s;
            tail = &s->next;
        } while (!ps->failed && !skip(ps, T_RBRACE));
    }
    leave(ps);
    return head;
}

static void parse_operation(parser_t *ps)
{
    api_gql_operation_t *op = node(ps, sizeof(*op));
    if (op == NULL)
        return;
    op->loc = ps->tok.loc;
    if (peek(ps, T_LBRACE)) {
        op->kind = GQL_OP_QUERY;
    } else {
        if (peek_keyword(ps, "query"))
            op->kind = GQL_OP_QUERY;
        else if (peek_keyword(ps, "mutation"))
            op->kind = GQL_OP_MUTATION;
        else if (peek_keyword(ps, "subscription"))
            op->kind = GQL_OP_SUBSCRIPTION;
        else {
            unexpected(ps, NULL);
            return;
        }
        next_token(ps);
        if (peek(ps, T_NAME))
            op->name = parse_name(ps, NULL);
        if (skip(ps, T_LPAREN)) {
            api_gql_var_def_t **tail = &op->vars;
            do {
                api_gql_var_def_t *v = node(ps, sizeof(*v));
                if (v == NULL)
                    return;
                v->loc = ps->tok.loc;
                if (!expect(ps, T_DOLLAR))
                    return;
                v->name = parse_name(ps, NULL);
                if (!expect(ps, T_COLON))
                    return;
                v->type = parse_type(ps);
                if (skip(ps, T_EQUALS))
                    v->default_value = parse_value(ps, true);
                (void)parse_directives(ps, true);
                *tail = v;
                tail = &v->next;
            } while (!ps->failed && !skip(ps, T_RPAREN));
        }
        op->directives = parse_directives(ps, false);
    }
    op->selections = parse_selection_set(ps);
    if (ps->failed)
        return;
    api_gql_operation_t **tail = &ps->doc->operations;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = op;
    ps->doc->has_executable = true;
}

static void parse_fragment(parser_t *ps)
{
    api_gql_fragment_t *f = node(ps, sizeof(*f));
    if (f == NULL)
        return;
    f->loc = ps->tok.loc;
    next_token(ps); /* fragment */
    if (peek_keyword(ps, "on")) {
        unexpected(ps, NULL);
        return;
    }
    f->name = parse_name(ps, NULL);
    if (!expect_keyword(ps, "on"))
        return;
    f->type_condition = parse_name(ps, &f->type_loc);
    f->directives = parse_directives(ps, false);
    f->selections = parse_selection_set(ps);
    if (ps->failed)
        return;
    api_gql_fragment_t **tail = &ps->doc->fragments;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = f;
    ps->doc->has_executable = true;
}

/* ---- type system definitions (SDL) ---- */

static const char *parse_description(parser_t *ps)
{
    if (peek(ps, T_STRING) || peek(ps, T_BLOCK_STRING)) {
        const char *d = ps->tok.value;
        next_token(ps);
        return d;
    }
    return NULL;
}

/* The reason of a @deprecated among dirs, or NULL. After a syntax error the nodes may be incomplete. */
static const char *deprecation_of(parser_t *ps, const api_gql_directive_t *d)
{
    for (; d != NULL && !ps->failed; d = d->next) {
        if (d->name == NULL || strcmp(d->name, "deprecated") != 0)
            continue;
        for (const api_gql_argument_t *a = d->args; a != NULL; a = a->next)
            if (a->name != NULL && strcmp(a->name, "reason") == 0 && a->value != NULL && a->value->kind == GQL_V_STRING)
                return a->value->text;
        return "No longer supported";
    }
    return NULL;
}

static api_gql_input_value_def_t *parse_input_values(parser_t *ps, tok_kind_t open, tok_kind_t close)
{
    api_gql_input_value_def_t *head = NULL, **tail = &head;
    if (!skip(ps, open))
        return NULL;
    do {
        api_gql_input_value_def_t *v = node(ps, sizeof(*v));
        if (v == NULL)
            return NULL;
        v->description = parse_description(ps);
        v->name = parse_name(ps, &v->loc);
        if (!expect(ps, T_COLON))
            return NULL;
        v->type = parse_type(ps);
        if (skip(ps, T_EQUALS))
            v->default_value = parse_value(ps, true);
        (void)parse_directives(ps, true);
        *tail = v;
        tail = &v->next;
    } while (!ps->failed && !skip(ps, close));
    return head;
}

static void add_type(parser_t *ps, api_gql_type_t *t)
{
    api_gql_type_t **tail = &ps->doc->types;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = t;
    ps->doc->has_type_system = true;
}

static void parse_type_definition(parser_t *ps, const char *description)
{
    api_gql_type_t *t = node(ps, sizeof(*t));
    if (t == NULL)
        return;
    t->description = description;
    t->loc = ps->tok.loc;
    bool is_object = peek_keyword(ps, "type"), is_enum = peek_keyword(ps, "enum"),
         is_scalar = peek_keyword(ps, "scalar");
    t->kind = is_object ? GQL_K_OBJECT : is_enum ? GQL_K_ENUM : is_scalar ? GQL_K_SCALAR : GQL_K_OTHER;
    next_token(ps);
    t->name = parse_name(ps, NULL);
    if (t->kind == GQL_K_OTHER) {
        fail_at(ps, t->loc, "Only object, enum and scalar type definitions are supported.");
        return;
    }
    if (is_object && peek_keyword(ps, "implements")) {
        fail_at(ps, ps->tok.loc, "Interfaces are not supported.");
        return;
    }
    api_gql_directive_t *dirs = parse_directives(ps, true);
    if (is_scalar) {
        for (api_gql_directive_t *d = dirs; d != NULL && !ps->failed; d = d->next)
            if (d->name != NULL && strcmp(d->name, "specifiedBy") == 0 && d->args != NULL && d->args->value != NULL &&
                d->args->value->kind == GQL_V_STRING)
                t->specified_by = d->args->value->text;
    } else if (is_object && skip(ps, T_LBRACE)) {
        api_gql_field_def_t **tail = &t->fields;
        do {
            api_gql_field_def_t *f = node(ps, sizeof(*f));
            if (f == NULL)
                return;
            f->description = parse_description(ps);
            f->name = parse_name(ps, &f->loc);
            f->args = parse_input_values(ps, T_LPAREN, T_RPAREN);
            if (!expect(ps, T_COLON))
                return;
            f->type = parse_type(ps);
            f->deprecation = deprecation_of(ps, parse_directives(ps, true));
            f->resolver = -1;
            *tail = f;
            tail = &f->next;
        } while (!ps->failed && !skip(ps, T_RBRACE));
    } else if (is_enum && expect(ps, T_LBRACE)) {
        api_gql_enum_value_def_t **tail = &t->values;
        do {
            api_gql_enum_value_def_t *v = node(ps, sizeof(*v));
            if (v == NULL)
                return;
            v->description = parse_description(ps);
            v->name = parse_name(ps, NULL);
            v->deprecation = deprecation_of(ps, parse_directives(ps, true));
            *tail = v;
            tail = &v->next;
        } while (!ps->failed && !skip(ps, T_RBRACE));
    }
    if (!ps->failed)
        add_type(ps, t);
}

static void parse_directive_definition(parser_t *ps, const char *description)
{
    api_gql_directive_def_t *d = node(ps, sizeof(*d));
    if (d == NULL)
        return;
    d->description = description;
    next_token(ps); /* directive */
    if (!expect(ps, T_AT))
        return;
    d->name = parse_name(ps, NULL);
    d->args = parse_input_values(ps, T_LPAREN, T_RPAREN);
    if (peek_keyword(ps, "repeatable")) {
        d->repeatable = true;
        next_token(ps);
    }
    if (!expect_keyword(ps, "on"))
        return;
    (void)skip(ps, T_PIPE);
    do {
        const char *loc = parse_name(ps, NULL);
        if (loc == NULL)
            return;
        if (d->n_locations < (int)(sizeof(d->locations) / sizeof(d->locations[0])))
            d->locations[d->n_locations++] = loc;
    } while (skip(ps, T_PIPE));
    api_gql_directive_def_t **tail = &ps->doc->directives;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = d;
    ps->doc->has_type_system = true;
}

static void parse_schema_definition(parser_t *ps)
{
    next_token(ps); /* schema */
    (void)parse_directives(ps, true);
    if (!expect(ps, T_LBRACE))
        return;
    do {
        api_gql_loc_t l = ps->tok.loc;
        const char *op = parse_name(ps, NULL);
        if (!expect(ps, T_COLON))
            return;
        const char *type = parse_name(ps, NULL);
        if (op == NULL || type == NULL)
            return;
        if (strcmp(op, "query") != 0) {
            fail_at(ps, l, "Only the query root operation type is supported.");
            return;
        }
        ps->doc->schema_query = type;
    } while (!ps->failed && !skip(ps, T_RBRACE));
    ps->doc->has_type_system = true;
}

static void parse_definition(parser_t *ps)
{
    if (peek(ps, T_LBRACE) || peek_keyword(ps, "query") || peek_keyword(ps, "mutation") ||
        peek_keyword(ps, "subscription")) {
        parse_operation(ps);
        return;
    }
    if (peek_keyword(ps, "fragment")) {
        parse_fragment(ps);
        return;
    }
    const char *description = parse_description(ps);
    if (peek_keyword(ps, "type") || peek_keyword(ps, "enum") || peek_keyword(ps, "scalar") ||
        peek_keyword(ps, "interface") || peek_keyword(ps, "union") || peek_keyword(ps, "input")) {
        parse_type_definition(ps, description);
        return;
    }
    if (peek_keyword(ps, "directive")) {
        parse_directive_definition(ps, description);
        return;
    }
    if (peek_keyword(ps, "schema") && description == NULL) {
        parse_schema_definition(ps);
        return;
    }
    unexpected(ps, NULL);
}

int api_gql_parse(const char *src, size_t len, api_gql_document_t **out, api_gql_error_t *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    if (len > API_GQL_MAX_DOCUMENT) {
        snprintf(err->message, sizeof(err->message), "The document is larger than %d bytes.", API_GQL_MAX_DOCUMENT);
        return EH_DECLINED;
    }
    api_gql_document_t *doc = calloc(1, sizeof(*doc));
    if (doc == NULL)
        return EH_ERR;
    parser_t ps = {.src = src, .end = src + len, .p = src, .line = 1, .line_start = src, .doc = doc, .err = err};
    next_token(&ps);
    if (!ps.failed && ps.tok.kind == T_EOF)
        unexpected(&ps, "Name");
    while (!ps.failed && ps.tok.kind != T_EOF)
        parse_definition(&ps);
    if (ps.failed) {
        api_gql_document_free(doc);
        return ps.oom ? EH_ERR : EH_DECLINED;
    }
    *out = doc;
    return EH_OK;
}

void api_gql_document_free(api_gql_document_t *doc)
{
    if (doc == NULL)
        return;
    api_gql_arena_free(&doc->arena);
    free(doc);
}
