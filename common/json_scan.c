/*
 * json_scan.c - strict JSON in one pass; see json_scan.h.
 *
 * Values are scanned, not built: a string's escapes are checked but decoded
 * only on request (worker_json_decode_string), and numbers are checked
 * against the limits but converted only on request
 * (worker_json_number_scaled), so a scan allocates nothing.
 */
#include "json_scan.h"

#include <string.h>

#include "utf8.h"

/* 10^18: worker_json_number_scaled's results stay at or below it, so that they fit an int64_t. */
#define SCALED_LIMIT UINT64_C(1000000000000000000)

/* --------------------------------------------------------------- parsing */

/* 1 for bytes that a string holds as they are: printable ASCII except '"' and '\\'. */
static const unsigned char STR_PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00-1F */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20-3F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 40-5F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60-7F */
};

static bool fail(worker_json_parser_t *ps, worker_json_err_t err, const unsigned char *at, const char *msg,
                 unsigned value)
{
    ps->err = err;
    ps->err_at = at;
    ps->err_msg = msg;
    ps->err_value = value;
    return false;
}

/* A syntax error at ps->p; "unexpected end of line" when the line ran out. */
static bool fail_here(worker_json_parser_t *ps, const char *msg)
{
    return fail(ps, WORKER_JSON_ERR_SYNTAX, ps->p, ps->p < ps->end ? msg : "unexpected end of line", 0);
}

static inline bool is_digit(unsigned c)
{
    return c - '0' < 10u;
}

static inline void skip_ws(worker_json_parser_t *ps)
{
    const unsigned char *p = ps->p;
    while (p < ps->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    ps->p = p;
}

/* The value of 4 hex digits at p, or -1. */
static int hex4(const unsigned char *p, const unsigned char *end)
{
    int v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = eh_hex_digit((char)p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* ps->p is at the opening quote; on success it is just past the closing one. */
static bool scan_string(worker_json_parser_t *ps, bool *escaped)
{
    const unsigned char *start = ps->p;
    const unsigned char *p = start + 1;
    const unsigned char *end = ps->end;
    bool esc = false;

    for (;;) {
        while (p < end && STR_PLAIN[*p])
            p++;
        if (p >= end)
            return fail(ps, WORKER_JSON_ERR_SYNTAX, start, "unterminated string", 0);
        unsigned c = *p;
        if (c == '"') {
            ps->p = p + 1;
            *escaped = esc;
            return true;
        }
        if (c == '\\') {
            esc = true;
            if (end - p < 2)
                return fail(ps, WORKER_JSON_ERR_SYNTAX, start, "unterminated string", 0);
            if (eh_escape_char((char)p[1]) != '\0') {
                p += 2;
                continue;
            }
            switch (p[1]) {
            case 'u': {
                int cp = hex4(p + 2, end);
                if (cp < 0)
                    return fail(ps, WORKER_JSON_ERR_SYNTAX, p, "invalid \\u escape", 0);
                if (cp == 0)
                    return fail(ps, WORKER_JSON_ERR_NUL, p, NULL, 0);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int low = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8, end) : -1;
                    if (low < 0xDC00 || low > 0xDFFF)
                        return fail(ps, WORKER_JSON_ERR_SURROGATE, p, NULL, (unsigned)cp);
                    p += 12;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(ps, WORKER_JSON_ERR_SURROGATE, p, NULL, (unsigned)cp);
                } else {
                    p += 6;
                }
                break;
            }
            default:
                return fail(ps, WORKER_JSON_ERR_SYNTAX, p, "invalid escape in a string", 0);
            }
            continue;
        }
        if (c < 0x20)
            return fail(ps, WORKER_JSON_ERR_CONTROL, p, NULL, c);
        size_t n = eh_utf8_seq(p, (size_t)(end - p));
        if (n == 0)
            return fail(ps, WORKER_JSON_ERR_UTF8, p, NULL, c);
        p += n;
    }
}

/* RFC 8259 number at ps->p, within the digit and exponent limits. */
static bool scan_number(worker_json_parser_t *ps)
{
    const unsigned char *start = ps->p;
    const unsigned char *p = start;
    const unsigned char *end = ps->end;
    size_t digits = 0;

    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
        digits = 1;
    } else if (p < end && *p >= '1' && *p <= '9') {
        const unsigned char *d = p;
        while (p < end && is_digit(*p))
            p++;
        digits = (size_t)(p - d);
    } else {
        return fail(ps, WORKER_JSON_ERR_SYNTAX, start, "invalid number", 0);
    }
    if (p < end && *p == '.') {
        const unsigned char *f = ++p;
        while (p < end && is_digit(*p))
            p++;
        if (p == f)
            return fail(ps, WORKER_JSON_ERR_SYNTAX, start, "invalid number", 0);
        digits += (size_t)(p - f);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const unsigned char *x = p;
        unsigned long exp = 0;
        while (p < end && is_digit(*p)) {
            if (exp <= WORKER_JSON_NUM_MAX_EXP)
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (p == x)
            return fail(ps, WORKER_JSON_ERR_SYNTAX, start, "invalid number", 0);
        if (exp > WORKER_JSON_NUM_MAX_EXP)
            return fail(ps, WORKER_JSON_ERR_NUMBER, start, NULL, 0);
    }
    if (digits > WORKER_JSON_NUM_MAX_DIGITS)
        return fail(ps, WORKER_JSON_ERR_NUMBER, start, NULL, 0);
    ps->p = p;
    return true;
}

static bool scan_literal(worker_json_parser_t *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, WORKER_JSON_ERR_SYNTAX, ps->p, "invalid literal", 0);
    ps->p += n;
    return true;
}

static bool parse_value(worker_json_parser_t *ps, unsigned depth, worker_json_type_t *type, bool *escaped);

/* ps->p is at '{' of a nested object (depth already checked). */
static bool parse_object(worker_json_parser_t *ps, unsigned depth)
{
    worker_json_type_t type;
    bool esc;

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"')
            return fail_here(ps, "expected a string key");
        if (!scan_string(ps, &esc))
            return false;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail_here(ps, "expected ':' after an object key");
        ps->p++;
        skip_ws(ps);
        if (!parse_value(ps, depth + 1, &type, &esc))
            return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return true;
        }
        return fail_here(ps, "expected ',' or '}' after an object member");
    }
}

static bool parse_array(worker_json_parser_t *ps, unsigned depth)
{
    worker_json_type_t type;
    bool esc;

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (!parse_value(ps, depth + 1, &type, &esc))
            return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return true;
        }
        return fail_here(ps, "expected ',' or ']' after an array element");
    }
}

/* Any JSON value at ps->p (whitespace already skipped), nested `depth` deep. */
static bool parse_value(worker_json_parser_t *ps, unsigned depth, worker_json_type_t *type, bool *escaped)
{
    *escaped = false;
    if (depth > WORKER_JSON_MAX_DEPTH)
        return fail(ps, WORKER_JSON_ERR_DEPTH, ps->p, NULL, 0);
    if (ps->p >= ps->end)
        return fail_here(ps, "");
    switch (*ps->p) {
    case '{':
        *type = WORKER_JSON_OBJECT;
        return parse_object(ps, depth);
    case '[':
        *type = WORKER_JSON_ARRAY;
        return parse_array(ps, depth);
    case '"':
        *type = WORKER_JSON_STRING;
        return scan_string(ps, escaped);
    case 't':
        *type = WORKER_JSON_TRUE;
        return scan_literal(ps, "true", 4);
    case 'f':
        *type = WORKER_JSON_FALSE;
        return scan_literal(ps, "false", 5);
    case 'n':
        *type = WORKER_JSON_NULL;
        return scan_literal(ps, "null", 4);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        *type = WORKER_JSON_NUMBER;
        return scan_number(ps);
    default:
        return fail(ps, WORKER_JSON_ERR_SYNTAX, ps->p, "unexpected character", 0);
    }
}

/* Where the member loop stands (worker_json_parser_t.state). */
enum { ST_INIT, ST_FIRST_MEMBER, ST_AFTER_MEMBER, ST_END, ST_FAILED };

/* Ends a scan on the error recorded in ps. */
static int declined(worker_json_parser_t *ps)
{
    const unsigned char *at = ps->err_at;

    /* A syntax error on a byte that is not even UTF-8 says more as such. */
    if (ps->err == WORKER_JSON_ERR_SYNTAX && at < ps->end && *at >= 0x80 &&
        eh_utf8_seq(at, (size_t)(ps->end - at)) == 0)
        fail(ps, WORKER_JSON_ERR_UTF8, at, NULL, *at);
    ps->state = ST_FAILED;
    return EH_DECLINED;
}

/* The top-level value ended at ps->p: only whitespace may follow. WORKER_JSON_END or EH_DECLINED. */
static int finish(worker_json_parser_t *ps, const char *trailing)
{
    skip_ws(ps);
    if (ps->p != ps->end) {
        fail(ps, WORKER_JSON_ERR_SYNTAX, ps->p, trailing, 0);
        return declined(ps);
    }
    ps->state = ST_END;
    return WORKER_JSON_END;
}

void worker_json_init(worker_json_parser_t *ps, const char *text, size_t len)
{
    ps->base = (const unsigned char *)text;
    ps->p = ps->base;
    ps->end = ps->base + len;
    ps->err = WORKER_JSON_ERR_NONE;
    ps->err_at = NULL;
    ps->err_msg = NULL;
    ps->err_value = 0;
    ps->state = ST_INIT;
}

bool worker_json_is_blank(const char *text, size_t len)
{
    worker_json_parser_t ps;

    worker_json_init(&ps, text, len);
    skip_ws(&ps);
    return ps.p == ps.end;
}

int worker_json_begin(worker_json_parser_t *ps, worker_json_type_t *type)
{
    bool esc;

    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '{') {
        *type = WORKER_JSON_OBJECT;
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return finish(ps, "unexpected characters after the JSON object") == WORKER_JSON_END ? EH_OK : EH_DECLINED;
        }
        ps->state = ST_FIRST_MEMBER;
        return EH_OK;
    }
    if (!parse_value(ps, 1, type, &esc))
        return declined(ps);
    return finish(ps, "unexpected characters after the JSON value") == WORKER_JSON_END ? EH_OK : EH_DECLINED;
}

/* The next member into *m: EH_OK, WORKER_JSON_END or EH_DECLINED (see worker_json_next_members). */
static inline int next_member(worker_json_parser_t *ps, worker_json_member_t *m)
{
    switch (ps->state) {
    case ST_FIRST_MEMBER: /* worker_json_begin skipped the whitespace after '{' and saw no '}' */
        break;
    case ST_AFTER_MEMBER:
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            break;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return finish(ps, "unexpected characters after the JSON object");
        }
        fail_here(ps, "expected ',' or '}' after an object member");
        return declined(ps);
    case ST_END:
        return WORKER_JSON_END;
    default: /* ST_FAILED; ST_INIT is a caller's mistake */
        return EH_DECLINED;
    }

    if (ps->p >= ps->end || *ps->p != '"') {
        fail_here(ps, "expected a string key");
        return declined(ps);
    }
    m->start = (size_t)(ps->p - ps->base);
    if (!scan_string(ps, &m->key_escaped))
        return declined(ps);
    m->key_end = (size_t)(ps->p - ps->base);
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
        fail_here(ps, "expected ':' after an object key");
        return declined(ps);
    }
    ps->p++;
    skip_ws(ps);
    m->value_start = (size_t)(ps->p - ps->base);
    if (!parse_value(ps, 2, &m->type, &m->value_escaped))
        return declined(ps);
    m->end = (size_t)(ps->p - ps->base);
    ps->state = ST_AFTER_MEMBER;
    return EH_OK;
}

int worker_json_next_members(worker_json_parser_t *ps, worker_json_member_t *v, size_t cap, size_t *n)
{
    for (size_t k = 0; k < cap; k++) {
        int rc = next_member(ps, &v[k]);
        if (rc != EH_OK) {
            *n = k;
            return rc;
        }
    }
    *n = cap;
    return ps->state == ST_END ? WORKER_JSON_END : ps->state == ST_FAILED ? EH_DECLINED : EH_OK;
}

/* ------------------------------------------------------ string decoding */

/*
 * Decodes the body of a string that scan_string accepted (so every escape
 * is well-formed and surrogates are paired) into out, which must hold n
 * bytes: the decoded text is never longer than its JSON form.
 */
size_t worker_json_decode_string(const char *body, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)body;
    const unsigned char *end = s + n;
    char *o = out;

    while (s < end) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(end - s));
        if (bs == NULL) {
            memcpy(o, s, (size_t)(end - s));
            o += end - s;
            break;
        }
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs + 2;
        if (bs[1] != 'u') {
            *o++ = eh_escape_char((char)bs[1]); /* scan_string accepted it: one of "\\/bfnrt */
            continue;
        }
        unsigned cp = (unsigned)hex4(bs + 2, end);
        s = bs + 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = (unsigned)hex4(s + 2, end);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            s += 6;
        }
        o += eh_utf8_encode(cp, o); /* cp <= U+10FFFF: surrogates are paired */
    }
    return (size_t)(o - out);
}

/* ---------------------------------------------------------------- errors */

size_t worker_json_error_column(const worker_json_parser_t *ps)
{
    size_t col = 1;
    for (const unsigned char *q = ps->base; q < ps->err_at; q++)
        col += (*q & 0xC0) != 0x80;
    return col;
}

size_t worker_json_error_offset(const worker_json_parser_t *ps)
{
    return (size_t)(ps->err_at - ps->base);
}

const char *worker_json_type_name(worker_json_type_t type)
{
    static const char *const names[] = {"an object", "an array", "a string", "a number", "true", "false", "null"};
    return names[type];
}

/* --------------------------------------------------------------- numbers */

/*
 * floor(|v| * 10^scale) for the text of a valid JSON number v, exactly (no
 * floating point). *inexact says whether non-zero digits were cut off.
 * False when the result exceeds SCALED_LIMIT.
 */
bool worker_json_number_scaled(const char *s, size_t len, int scale, uint64_t *out, bool *inexact)
{
    const char *p = s;
    const char *end = s + len;
    const char *ip, *ie, *fp = NULL, *fe = NULL;
    long exp = 0;

    if (p < end && *p == '-')
        p++;
    ip = p;
    while (p < end && is_digit((unsigned char)*p))
        p++;
    ie = p;
    if (p < end && *p == '.') {
        fp = ++p;
        while (p < end && is_digit((unsigned char)*p))
            p++;
        fe = p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int sign = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            sign = *p++ == '-' ? -1 : 1;
        while (p < end && is_digit((unsigned char)*p)) {
            if (exp < 1000000)
                exp = exp * 10 + (*p - '0');
            p++;
        }
        exp *= sign;
    }
    size_t ni = (size_t)(ie - ip);
    size_t nf = fp ? (size_t)(fe - fp) : 0;
    size_t nd = ni + nf;
    /* Digits before the decimal point once scaled: the first `point` of the int+frac digit string. */
    long point = (long)ni + exp + scale;
    uint64_t n = 0;
    bool cut = false;

    for (size_t k = 0; k < nd; k++) {
        unsigned d = (unsigned)((k < ni ? ip[k] : fp[k - ni]) - '0');
        if ((long)k < point) {
            if (n > (SCALED_LIMIT - d) / 10)
                return false;
            n = n * 10 + d;
        } else if (d != 0) {
            cut = true;
            break;
        }
    }
    for (long k = (long)nd; k < point && n != 0; k++) {
        if (n > SCALED_LIMIT / 10)
            return false;
        n *= 10;
    }
    *out = n;
    *inexact = cut;
    return true;
}
