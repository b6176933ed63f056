/*
 * validate_fuzz.c - libFuzzer harness for the worker's line path: splitter,
 * validator and COPY row, with jansson as the referee.
 *
 *   make fuzz && build/fuzz/validate_fuzz -max_total_time=300 tests/fuzz/corpus
 *
 * For every input:
 * - the splitter gives the same lines whatever the chunking, and as many as
 *   the contract's lines_total definition counts;
 * - the whole input, and every line the splitter finds, is validated, and
 *   the verdict must agree with jansson's json_loadb: we accept only what
 *   jansson accepts (except numbers jansson cannot hold), we refuse as
 *   non-JSON only what jansson refuses, and for an accepted line the fields
 *   and the attributes (input object minus the used keys) equal jansson's
 *   view of the same line;
 * - the COPY row of an accepted line has seven fields, no raw newline, and
 *   unescapes back to the entry.
 * Any disagreement aborts with a message.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../worker/copy_row.h"
#include "../../common/splitter.h"
#include "../../common/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define JOB "4b0c6a52-52a4-4c1b-9a7e-0f6f1e1d2c3b"

static worker_entry_t entry; /* reused across inputs, as the worker does */
static eh_buf_t row;

static void die(const char *what, const char *line, size_t len, const char *detail)
{
    fprintf(stderr, "validate_fuzz: %s\n  line: %.*s\n  detail: %s\n", what, (int)(len > 300 ? 300 : len), line,
            detail ? detail : "");
    abort();
}

static bool utf8_valid(const char *s)
{
    json_t *j = json_string(s); /* jansson validates UTF-8 */
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

static bool all_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* jansson refused for a number it cannot hold (int64 / double), so it never judged the rest. */
static bool jansson_number_limit(const json_error_t *err)
{
    return strstr(err->text, "too big") != NULL || strstr(err->text, "real number overflow") != NULL;
}

static const char *const TS_KEYS[] = {"timestamp", "time", "ts", "@timestamp"};
static const char *const LEVEL_KEYS[] = {"level", "severity", "lvl", "log.level", "error_severity"};
static const char *const MSG_KEYS[] = {"message", "msg"};
static const char *const SVC_KEYS[] = {"service", "logger", "name", "app"};

static const char *first_key(json_t *obj, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_get(obj, keys[i]) != NULL)
            return keys[i];
    return NULL;
}

static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        switch (s[++i]) {
        case 't':
            out[o++] = '\t';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        default:
            out[o++] = s[i];
            break;
        }
    }
    return o;
}

static void check_row(const char *line, size_t len)
{
    eh_buf_reset(&row);
    if (worker_copy_row_entry(&row, JOB, &entry) != EH_OK)
        die("copy row failed", line, len, NULL);
    if (row.len == 0 || row.p[row.len - 1] != '\n' || memchr(row.p, '\n', row.len - 1) != NULL ||
        memchr(row.p, '\r', row.len) != NULL)
        die("copy row: newline handling", line, len, NULL);
    size_t tabs = 0;
    const char *field[7] = {0};
    size_t flen[7] = {0};
    const char *start = row.p;
    for (const char *p = row.p; p < row.p + row.len; p++) {
        if (*p == '\t' || *p == '\n') {
            if (tabs < 7) {
                field[tabs] = start;
                flen[tabs] = (size_t)(p - start);
            }
            tabs++;
            start = p + 1;
        }
    }
    if (tabs != 7)
        die("copy row: not seven fields", line, len, NULL);
    char *tmp = malloc(flen[5] + flen[6] + 1);
    if (tmp == NULL)
        abort();
    size_t n = unescape(field[5], flen[5], tmp);
    if (n != entry.message.len || memcmp(tmp, entry.message.p, n) != 0)
        die("copy row: message does not round-trip", line, len, NULL);
    n = unescape(field[6], flen[6], tmp);
    if (n != entry.attributes.len || memcmp(tmp, entry.attributes.p, n) != 0)
        die("copy row: attributes do not round-trip", line, len, NULL);
    free(tmp);
}

/* An accepted line: compare every output with jansson's reading of the line. */
static void check_accepted(const char *line, size_t len, json_t *obj)
{
    if (!json_is_object(obj))
        die("accepted a non-object", line, len, NULL);
    const char *tk = first_key(obj, TS_KEYS, 4), *lk = first_key(obj, LEVEL_KEYS, 5);
    const char *mk = first_key(obj, MSG_KEYS, 2), *sk = first_key(obj, SVC_KEYS, 4);
    if (tk == NULL || lk == NULL || mk == NULL)
        die("accepted without a required field", line, len, NULL);

    json_t *m = json_object_get(obj, mk);
    if (!json_is_string(m) || json_string_length(m) != entry.message.len ||
        memcmp(json_string_value(m), entry.message.p, entry.message.len) != 0)
        die("message differs from jansson's", line, len, NULL);
    if (memchr(entry.message.p, '\0', entry.message.len) != NULL)
        die("message holds a NUL", line, len, NULL);

    json_t *s = sk ? json_object_get(obj, sk) : NULL;
    if (s == NULL || json_is_null(s)) {
        if (entry.service.p != NULL)
            die("service should be NULL", line, len, NULL);
    } else if (!json_is_string(s) || entry.service.p == NULL || json_string_length(s) != entry.service.len ||
               memcmp(json_string_value(s), entry.service.p, entry.service.len) != 0) {
        die("service differs from jansson's", line, len, NULL);
    }

    json_t *t = json_object_get(obj, tk);
    if (json_is_string(t)) {
        int64_t us;
        const char *why;
        if (worker_ts_parse_text(json_string_value(t), json_string_length(t), &us, &why) != EH_OK || us != entry.ts_us)
            die("timestamp differs from the decoded string's", line, len, NULL);
    } else if (json_is_number(t)) {
        /* exact decimal vs double: within a millisecond-scale tolerance */
        double v = json_number_value(t);
        double mag = v < 0 ? -v : v;
        if (mag > 0.999e11 && mag < 1.001e11)
            goto level; /* the seconds/milliseconds cut: the double may fall on the other side */
        double us = mag > 1e11 ? v * 1e3 : v * 1e6;
        double diff = us - (double)entry.ts_us;
        if (diff > 2.0 + 1e-9 * (us < 0 ? -us : us) || diff < -2.0 - 1e-9 * (us < 0 ? -us : us))
            die("numeric timestamp differs from jansson's double", line, len, NULL);
    } else {
        die("accepted a timestamp of a wrong type", line, len, NULL);
    }
level:;
    char ts[WORKER_TS_BUFLEN];
    if (worker_ts_format(entry.ts_us, ts) != entry.ts_len || strcmp(ts, entry.ts) != 0)
        die("ts text differs from ts_us", line, len, NULL);

    json_t *l = json_object_get(obj, lk);
    if (json_is_string(l)) {
        worker_level_t lv;
        if (worker_level_from_text(json_string_value(l), json_string_length(l), &lv) != EH_OK || lv != entry.level)
            die("level differs from the decoded string's", line, len, NULL);
    } else if (!json_is_number(l)) {
        die("accepted a level of a wrong type", line, len, NULL);
    }

    json_error_t err;
    json_t *attrs = json_loadb(entry.attributes.p, entry.attributes.len, 0, &err);
    if (attrs == NULL)
        die("attributes are not JSON", line, len, err.text);
    json_t *want = json_deep_copy(obj);
    if (want == NULL)
        abort();
    json_object_del(want, tk);
    json_object_del(want, lk);
    json_object_del(want, mk);
    if (sk != NULL)
        json_object_del(want, sk);
    if (!json_equal(attrs, want))
        die("attributes differ from the object minus the fields", line, len, NULL);
    json_decref(want);
    json_decref(attrs);

    check_row(line, len);
}

static void check_line(const char *line, size_t len)
{
    char reason[WORKER_REASON_LEN];
    json_error_t err;

    reason[0] = '\0';
    int rc = worker_validate_line(line, len, &entry, reason, sizeof(reason));
    if (memchr(line, '\0', len) != NULL) {
        /* jansson skips NUL bytes outside strings ("[1\0]" loads as [1]); a NUL is never JSON, nor COPY text */
        if (rc != EH_DECLINED || strncmp(reason, "field", 5) == 0 || strncmp(reason, "missing", 7) == 0 ||
            strncmp(reason, "not a JSON", 10) == 0)
            die("a line with a NUL byte was not refused as invalid JSON", line, len, reason);
        return;
    }
    json_t *j = json_loadb(line, len, 0, &err);

    switch (rc) {
    case WORKER_VALIDATE_BLANK:
        if (j != NULL || !all_ws(line, len))
            die("blank verdict on a non-blank line", line, len, NULL);
        break;
    case EH_OK:
        if (j == NULL) {
            if (!jansson_number_limit(&err))
                die("accepted what jansson refuses", line, len, err.text);
            break;
        }
        check_accepted(line, len, j);
        break;
    case EH_DECLINED: {
        if (!utf8_valid(reason) || reason[0] == '\0')
            die("reason empty or not UTF-8", line, len, reason);
        bool field = strncmp(reason, "missing field", 13) == 0 || strncmp(reason, "field ", 6) == 0;
        bool number = strncmp(reason, "number out of range", 19) == 0;
        bool not_object = strncmp(reason, "not a JSON object", 17) == 0;
        if (j != NULL && json_is_object(j) && !field && !number)
            die("refused as bad JSON an object jansson accepts", line, len, reason);
        if (j != NULL && !json_is_object(j) && !not_object && !number)
            die("refused an array without saying it is not an object", line, len, reason);
        if (j == NULL && (field || not_object) && !jansson_number_limit(&err)) {
            /* we judged it JSON; jansson must too, at least as a value */
            json_t *any = json_loadb(line, len, JSON_DECODE_ANY, &err);
            if (any == NULL && !jansson_number_limit(&err))
                die("judged JSON what jansson refuses", line, len, err.text);
            if (any != NULL && json_is_object(any))
                die("jansson accepts as any but not as document", line, len, reason);
            json_decref(any);
        }
        break;
    }
    default:
        die("unexpected return code", line, len, reason);
    }
    json_decref(j);
}

/* ------------------------------------------------------------ splitter */

typedef struct {
    char *text; /* NULL when too long */
    size_t len;
    uint64_t line_no, length, end_offset;
    bool too_long;
} rec_t;

typedef struct {
    rec_t *v;
    size_t n, cap;
} recs_t;

static int collect(const worker_line_t *line, void *ud)
{
    recs_t *r = ud;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        if (r->v == NULL)
            abort();
    }
    rec_t *x = &r->v[r->n++];
    x->line_no = line->line_no;
    x->length = line->length;
    x->end_offset = line->end_offset;
    x->too_long = line->too_long;
    x->len = line->text.len;
    x->text = NULL;
    if (!line->too_long) {
        x->text = malloc(line->text.len + 1);
        if (x->text == NULL)
            abort();
        if (line->text.len)
            memcpy(x->text, line->text.p, line->text.len);
    }
    return EH_OK;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].text);
    free(r->v);
}

static void split(const char *d, size_t size, size_t max, uint32_t seed, recs_t *out)
{
    worker_splitter_t *s = worker_splitter_create(max, 1, 0);
    if (s == NULL)
        abort();
    size_t off = 0;
    while (off < size) {
        size_t n = size - off;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 17;
            if (n > size - off)
                n = size - off;
        }
        if (worker_splitter_feed(s, d + off, n, collect, out) != EH_OK)
            abort();
        off += n;
    }
    if (worker_splitter_finish(s, collect, out) != EH_OK)
        abort();
    worker_splitter_destroy(s);
}

static void check_splitter(const char *d, size_t size)
{
    size_t max = 16 + size % 48;
    recs_t a = {0}, b = {0};
    uint32_t seed = (uint32_t)size * 2654435761u + (size ? (uint8_t)d[0] : 0) + 1;

    split(d, size, max, 0, &a);
    split(d, size, max, seed, &b);

    size_t want = 0;
    for (size_t i = 0; i < size; i++)
        want += d[i] == '\n';
    if (size > 0 && d[size - 1] != '\n')
        want++;
    if (a.n != want)
        die("splitter line count differs from lines_total", d, size, NULL);
    if (a.n != b.n)
        die("splitter depends on chunking (count)", d, size, NULL);
    for (size_t i = 0; i < a.n; i++) {
        rec_t *x = &a.v[i], *y = &b.v[i];
        if (x->line_no != i + 1 || x->line_no != y->line_no || x->length != y->length ||
            x->end_offset != y->end_offset || x->too_long != y->too_long || x->len != y->len ||
            (x->text && memcmp(x->text, y->text, x->len) != 0))
            die("splitter depends on chunking", d, size, NULL);
        if (x->too_long != (x->length > max) || (x->text && memchr(x->text, '\n', x->len)))
            die("splitter line length rule", d, size, NULL);
        if (x->text)
            check_line(x->text, x->len);
    }
    if (a.n > 0 && a.v[a.n - 1].end_offset != size)
        die("splitter: last end_offset is not the size", d, size, NULL);
    recs_free(&a);
    recs_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    check_line(d, size);
    check_splitter(d, size);
    return 0;
}
