/* splitter.c - line splitter over a byte stream; see splitter.h. */
#include "splitter.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const char BOM[3] = {'\xEF', '\xBB', '\xBF'};

struct worker_splitter {
    size_t max;         /* longest line accepted, without its terminator */
    size_t limit;       /* max + 1 for a '\r': a pending line longer than this is certainly too long */
    uint64_t line_no;   /* number of the pending (next) line */
    uint64_t offset;    /* file offset of the next byte to be fed */
    bool at_file_start; /* the pending line starts at offset 0, so it may begin with a BOM */
    eh_buf_t pend;      /* bytes of a pending line that began in an earlier chunk; cap <= limit */
    bool dropping;      /* the pending line is too long: its bytes are counted, not kept */
    uint64_t seen;      /* bytes of the pending line so far, while dropping */
    char last;          /* last byte seen while dropping: a final '\r' is not part of the length */
};

worker_splitter_t *worker_splitter_create(size_t max_line_bytes, uint64_t first_line_no, uint64_t start_offset)
{
    if (max_line_bytes == 0 || max_line_bytes >= SIZE_MAX / 2 || first_line_no == 0)
        return NULL;
    worker_splitter_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->max = max_line_bytes;
    s->limit = max_line_bytes + 1;
    s->line_no = first_line_no;
    s->offset = start_offset;
    s->at_file_start = start_offset == 0;
    return s;
}

void worker_splitter_destroy(worker_splitter_t *s)
{
    if (s == NULL)
        return;
    eh_buf_free(&s->pend);
    free(s);
}

uint64_t worker_splitter_next_line_no(const worker_splitter_t *s)
{
    return s->line_no;
}

uint64_t worker_splitter_offset(const worker_splitter_t *s)
{
    return s->offset;
}

/* Hands one complete line (raw bytes without the '\n') to the callback. */
static int emit_line(worker_splitter_t *s, const char *p, size_t n, uint64_t end_offset, worker_line_cb cb, void *ud)
{
    worker_line_t line = {.line_no = s->line_no++, .end_offset = end_offset};
    bool first = s->at_file_start;

    s->at_file_start = false;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    line.length = n;
    /* The BOM counts towards the limit, so that the verdict does not depend on how the stream was chunked. */
    if (n > s->max) {
        line.too_long = true;
        return cb(&line, ud);
    }
    if (first && n >= sizeof(BOM) && memcmp(p, BOM, sizeof(BOM)) == 0) {
        p += sizeof(BOM);
        n -= sizeof(BOM);
    }
    line.text.p = p;
    line.text.len = n;
    line.length = n;
    return cb(&line, ud);
}

/* Keeps (or, for a line already too long, counts) bytes of a line whose end has not been seen yet. */
static int append_partial(worker_splitter_t *s, const char *p, size_t n)
{
    if (n == 0)
        return EH_OK;
    if (s->dropping) {
        s->seen += n;
        s->last = p[n - 1];
        return EH_OK;
    }
    int rc = eh_buf_append_max(&s->pend, p, n, s->limit);
    if (rc == EH_DECLINED) {
        s->dropping = true;
        s->seen = (uint64_t)s->pend.len + n;
        s->last = p[n - 1];
        eh_buf_reset(&s->pend);
        return EH_OK;
    }
    return rc;
}

/* Emits the pending line, now complete, and clears it. */
static int emit_pending(worker_splitter_t *s, uint64_t end_offset, worker_line_cb cb, void *ud)
{
    if (!s->dropping) {
        size_t n = s->pend.len;
        eh_buf_reset(&s->pend);
        /* The buffer is not touched again before the callback returns. */
        return emit_line(s, s->pend.p, n, end_offset, cb, ud);
    }
    worker_line_t line = {.line_no = s->line_no++, .end_offset = end_offset, .too_long = true};
    line.length = s->seen - (s->last == '\r' ? 1 : 0);
    s->at_file_start = false;
    s->dropping = false;
    s->seen = 0;
    return cb(&line, ud);
}

int worker_splitter_feed(worker_splitter_t *s, const char *data, size_t len, worker_line_cb cb, void *ud)
{
    const char *p = data;
    const char *end = data + len;
    uint64_t base = s->offset;
    int rc;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            rc = append_partial(s, p, (size_t)(end - p));
            if (rc != EH_OK)
                return rc;
            break;
        }
        uint64_t end_offset = base + (uint64_t)(nl - data) + 1;
        if (s->pend.len == 0 && !s->dropping) {
            rc = emit_line(s, p, (size_t)(nl - p), end_offset, cb, ud);
        } else {
            rc = append_partial(s, p, (size_t)(nl - p));
            if (rc == EH_OK)
                rc = emit_pending(s, end_offset, cb, ud);
        }
        if (rc != EH_OK)
            return rc;
        p = nl + 1;
    }
    s->offset = base + len;
    return EH_OK;
}

int worker_splitter_finish(worker_splitter_t *s, worker_line_cb cb, void *ud)
{
    if (s->pend.len == 0 && !s->dropping)
        return EH_OK;
    return emit_pending(s, s->offset, cb, ud);
}
