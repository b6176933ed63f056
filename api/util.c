#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "utf8.h"

static bool is_control(const unsigned char *s, size_t seq)
{
    if (seq == 1)
        return s[0] < 0x20 || s[0] == 0x7F;
    return seq == 2 && s[0] == 0xC2 && s[1] < 0xA0; /* C1 controls U+0080..U+009F */
}

size_t api_util_clean_utf8(const char *src, size_t len, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t seq = eh_utf8_seq(s + i, len - i);
        if (seq == 0) {
            i++;
            continue;
        }
        if (!is_control(s + i, seq)) {
            if (o + seq >= outlen)
                break;
            memcpy(out + o, s + i, seq);
            o += seq;
        }
        i += seq;
    }
    out[o] = '\0';
    return o;
}

size_t api_util_file_name(const char *raw, char out[API_FILE_NAME_MAX + 1])
{
    out[0] = '\0';
    if (raw == NULL)
        return 0;
    const char *base = raw;
    for (const char *p = raw; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    size_t rawlen = strlen(base);
    char *clean = malloc(rawlen + 1);
    if (clean == NULL)
        return 0;
    size_t n = api_util_clean_utf8(base, rawlen, clean, rawlen + 1);
    if (n > API_FILE_NAME_MAX) {
        /* Keep the extension, which decides whether the file is accepted, and the start of the name. */
        const char *dot = strrchr(clean, '.');
        size_t ext = dot != NULL ? n - (size_t)(dot - clean) : 0;
        if (ext > 16)
            ext = 0;
        size_t keep = eh_utf8_boundary(clean, API_FILE_NAME_MAX - ext);
        memmove(clean + keep, clean + n - ext, ext);
        n = keep + ext;
        clean[n] = '\0';
    }
    memcpy(out, clean, n + 1);
    free(clean);
    return n;
}

bool api_util_has_jsonl_ext(const char *name)
{
    size_t n = strlen(name);
    return (n >= 6 && strcasecmp(name + n - 6, ".jsonl") == 0) || (n >= 7 && strcasecmp(name + n - 7, ".ndjson") == 0);
}

int api_util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 18)
        return EH_DECLINED;
    int64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return EH_DECLINED;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return EH_DECLINED;
    *out = v;
    return EH_OK;
}

/* ---- the format sniff ---- */

enum { SNIFF_SKIP, SNIFF_LINE, SNIFF_DONE };
static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

void api_sniff_init(api_sniff_t *s, size_t max_line)
{
    memset(s, 0, sizeof(*s));
    s->max = max_line;
}

void api_sniff_free(api_sniff_t *s)
{
    if (s == NULL)
        return;
    eh_buf_free(&s->line);
}

static int refuse(api_sniff_t *s, const char *reason)
{
    s->verdict = -1;
    s->reason = reason;
    api_sniff_free(s);
    return -1;
}

static int judge_line(api_sniff_t *s)
{
    json_error_t jerr;
    json_t *v = json_loadb(s->line.p, s->line.len, 0, &jerr);
    bool object = json_is_object(v);
    json_decref(v);
    if (!object)
        return refuse(s, "the first non-blank line is not a JSON object");
    api_sniff_free(s);
    s->state = SNIFF_DONE;
    return 0;
}

int api_sniff_feed(api_sniff_t *s, const char *data, size_t len)
{
    if (s->verdict != 0)
        return s->verdict;
    /*
     * The first problem in byte order decides the reason, so that the answer
     * does not depend on how the body was cut into chunks (found by
     * tests/fuzz/sniff_fuzz.c): bytes before a NUL are judged first.
     */
    const char *nul = NULL;
    if (s->seen < API_SNIFF_NUL_WINDOW) {
        size_t n = len < API_SNIFF_NUL_WINDOW - s->seen ? len : (size_t)(API_SNIFF_NUL_WINDOW - s->seen);
        nul = memchr(data, '\0', n);
    }
    size_t limit = nul != NULL ? (size_t)(nul - data) : len;
    size_t i = 0;
    while (i < limit && s->state != SNIFF_DONE) {
        if (s->state == SNIFF_SKIP) {
            uint64_t off = s->seen + i;
            unsigned char c = (unsigned char)data[i];
            if (off < 3 && s->bom == off && c == BOM[off]) {
                s->bom++;
                i++;
                continue;
            }
            if (s->bom > 0 && s->bom < 3)
                return refuse(s, "the file does not start with valid UTF-8");
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                i++;
                continue;
            }
            s->state = SNIFF_LINE;
        }
        const char *nl = memchr(data + i, '\n', limit - i);
        size_t n = nl != NULL ? (size_t)(nl - (data + i)) : limit - i;
        int rc = eh_buf_append_max(&s->line, data + i, n, s->max);
        if (rc == EH_DECLINED)
            return refuse(s, "the first non-blank line is longer than EH_MAX_LINE_BYTES");
        if (rc != EH_OK)
            return refuse(s, "out of memory while checking the file");
        i += n;
        if (nl != NULL) {
            i++;
            if (judge_line(s) < 0)
                return -1;
        }
    }
    if (nul != NULL)
        return refuse(s, "the file holds a NUL byte in its first 64 KiB (binary content)");
    s->seen += len;
    if (s->state == SNIFF_DONE && s->seen >= API_SNIFF_NUL_WINDOW)
        s->verdict = 1;
    return s->verdict;
}

int api_sniff_finish(api_sniff_t *s)
{
    if (s->verdict != 0)
        return s->verdict;
    if (s->bom > 0 && s->bom < 3)
        return refuse(s, "the file does not start with valid UTF-8");
    if (s->state == SNIFF_SKIP)
        return refuse(s, "the file holds no JSON line");
    if (s->state == SNIFF_LINE && judge_line(s) < 0)
        return -1;
    s->verdict = 1;
    return 1;
}
