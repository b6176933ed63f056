/*
 * json_scan_fuzz.c - libFuzzer harness for the JSON scanner
 * (common/json_scan.c) on its own, with jansson as the referee.
 *
 * For every input:
 * - the verdict agrees with jansson's json_loadb(JSON_DECODE_ANY): what one
 *   accepts the other accepts, but for the documented differences (numbers
 *   jansson cannot hold; NUL bytes; numbers past our digit/exponent limits);
 * - the members of an accepted object are the same whatever the size of the
 *   caller's table (1, 2, 3 or 64 at a time), ordered, inside the text and
 *   not overlapping, each key a JSON string whose decoded form is valid
 *   UTF-8 without NUL, and as many as jansson's object has (duplicates
 *   aside: jansson keeps the last);
 * - an error's offset lies within the text.
 * Any disagreement aborts.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/json_scan.h"
#include "../../common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MEMBERS 4096

static void die(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "json_scan_fuzz: %s\n  text: %.*s\n", what, (int)(len > 300 ? 300 : len), text);
    abort();
}

/* Scans text with a member table of cap entries; returns the verdict, members in out (up to MAX_MEMBERS). */
static int scan(const char *text, size_t len, size_t cap, worker_json_member_t *out, size_t *nout,
                worker_json_parser_t *ps)
{
    worker_json_type_t type;
    worker_json_init(ps, text, len);
    *nout = 0;
    int rc = worker_json_begin(ps, &type);
    if (rc != EH_OK)
        return rc;
    while (rc == EH_OK) {
        size_t got = 0;
        size_t room = MAX_MEMBERS - *nout < cap ? MAX_MEMBERS - *nout : cap;
        if (room == 0)
            return -100; /* more members than the harness keeps: not judged */
        rc = worker_json_next_members(ps, out + *nout, room, &got);
        *nout += got;
    }
    return rc;
}

static bool has_nul(const char *t, size_t n)
{
    return memchr(t, '\0', n) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    static worker_json_member_t a[MAX_MEMBERS], b[MAX_MEMBERS];
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    worker_json_parser_t ps;
    size_t na = 0, nb = 0;
    int rc = scan(text, size, 64, a, &na, &ps);
    if (rc == -100)
        goto out;
    if (rc == EH_DECLINED && worker_json_error_offset(&ps) > size)
        die("error offset past the end", text, size);
    json_error_t jerr;
    json_t *j = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
    bool ours = rc == WORKER_JSON_END;
    if (ours && j == NULL && !has_nul(text, size) && strstr(jerr.text, "too big") == NULL &&
        strstr(jerr.text, "overflow") == NULL)
        die("we accept what jansson refuses", text, size);
    if (!ours && j != NULL && !has_nul(text, size) && ps.err != WORKER_JSON_ERR_NUMBER && ps.err != WORKER_JSON_ERR_NUL)
        die("we refuse what jansson accepts", text, size);
    for (size_t cap = 1; cap <= 3; cap++) {
        worker_json_parser_t ps2;
        int rc2 = scan(text, size, cap, b, &nb, &ps2);
        if (rc2 != rc || nb != na || memcmp(a, b, na * sizeof(*a)) != 0)
            die("the members depend on the table size", text, size);
    }
    if (ours && json_is_object(j)) {
        size_t prev_end = 0;
        char *key = malloc(size + 1);
        for (size_t i = 0; key != NULL && i < na; i++) {
            const worker_json_member_t *m = &a[i];
            if (m->start < prev_end || m->key_end <= m->start + 1 || m->value_start < m->key_end ||
                m->end <= m->value_start || m->end > size)
                die("member ranges out of order or outside the text", text, size);
            if (text[m->start] != '"' || text[m->key_end - 1] != '"')
                die("a key is not a quoted string", text, size);
            size_t klen = worker_json_decode_string(text + m->start + 1, m->key_end - m->start - 2, key);
            if (!eh_utf8_valid(key, klen) || memchr(key, '\0', klen) != NULL)
                die("a decoded key is not valid UTF-8 without NUL", text, size);
            if (json_object_getn(j, key, klen) == NULL)
                die("a key jansson does not have", text, size);
            prev_end = m->end;
        }
        free(key);
        if (json_object_size(j) > na)
            die("jansson sees more members", text, size);
    }
    json_decref(j);
out:
    free(text);
    return 0;
}
