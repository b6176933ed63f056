/* copy_row.c - COPY text rows; see copy_row.h. */
#include "copy_row.h"

#include <string.h>

#define U64_DIGITS 20

/* The escape letter for bytes COPY text format must not see raw; 0 for the others. */
static const char ESCAPE[256] = {['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'};

size_t worker_copy_escape(char *dst, const char *src, size_t n)
{
    char *o = dst;
    const char *end = src + n;
    const char *run = src;

    for (const char *p = src; p < end; p++) {
        char esc = ESCAPE[(unsigned char)*p];
        if (esc == 0)
            continue;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        o[0] = '\\';
        o[1] = esc;
        o += 2;
        run = p + 1;
    }
    memcpy(o, run, (size_t)(end - run));
    o += end - run;
    return (size_t)(o - dst);
}

static size_t put_u64(char *o, uint64_t v)
{
    char tmp[U64_DIGITS];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        o[i] = tmp[n - 1 - i];
    return n;
}

/* "job_id\tline_no\t" */
static size_t put_key(char *o, const char *job_id, size_t id_len, uint64_t line_no)
{
    char *start = o;
    memcpy(o, job_id, id_len);
    o += id_len;
    *o++ = '\t';
    o += put_u64(o, line_no);
    *o++ = '\t';
    return (size_t)(o - start);
}

/* Worst case of a, b and c summed, or SIZE_MAX when that overflows (eh_buf_reserve then fails). */
static size_t room(size_t a, size_t b, size_t c)
{
    if (a > SIZE_MAX / 2 || b > SIZE_MAX / 2 || c > SIZE_MAX / 2)
        return SIZE_MAX;
    size_t sum = 2 * a;
    if (2 * b > SIZE_MAX - sum)
        return SIZE_MAX;
    sum += 2 * b;
    if (c > SIZE_MAX - sum)
        return SIZE_MAX;
    return sum + c;
}

int worker_copy_row_entry(eh_buf_t *b, const char *job_id, const worker_entry_t *e)
{
    size_t id_len = strlen(job_id);
    const char *level = worker_level_name(e->level);
    size_t level_len = strlen(level);
    /* Fixed part: id, line_no, ts, level, "\N", 7 separators; variable part escaped at most 2x. */
    size_t fixed = id_len + U64_DIGITS + e->ts_len + level_len + 2 + 7;
    size_t need = room(e->message.len + e->service.len, e->attributes.len, fixed);

    if (eh_buf_reserve(b, need) != EH_OK)
        return EH_ERR;
    char *o = b->p + b->len;
    o += put_key(o, job_id, id_len, e->line_no);
    memcpy(o, e->ts, e->ts_len);
    o += e->ts_len;
    *o++ = '\t';
    memcpy(o, level, level_len);
    o += level_len;
    *o++ = '\t';
    if (e->service.p == NULL) {
        memcpy(o, "\\N", 2);
        o += 2;
    } else {
        o += worker_copy_escape(o, e->service.p, e->service.len);
    }
    *o++ = '\t';
    o += worker_copy_escape(o, e->message.p, e->message.len);
    *o++ = '\t';
    o += worker_copy_escape(o, e->attributes.p, e->attributes.len);
    *o++ = '\n';
    b->len = (size_t)(o - b->p);
    return EH_OK;
}

int worker_copy_row_error(eh_buf_t *b, const char *job_id, uint64_t line_no, const char *reason, size_t reason_len)
{
    size_t id_len = strlen(job_id);
    size_t need = room(reason_len, 0, id_len + U64_DIGITS + 3);

    if (eh_buf_reserve(b, need) != EH_OK)
        return EH_ERR;
    char *o = b->p + b->len;
    o += put_key(o, job_id, id_len, line_no);
    o += worker_copy_escape(o, reason, reason_len);
    *o++ = '\n';
    b->len = (size_t)(o - b->p);
    return EH_OK;
}
