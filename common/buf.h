/*
 * buf.h - a growable byte buffer.
 *
 * { NULL, 0, 0 } (EH_BUF_INIT, or a zeroed struct) is an empty buffer.
 * The bytes are not NUL-terminated. A failed call leaves the buffer exactly
 * as it was (contents, length and capacity), so the caller can still use or
 * free it.
 */
#ifndef EH_BUF_H
#define EH_BUF_H

#include "eh.h"

typedef struct eh_buf {
    char *p;    /* owned; NULL until the first growth */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated; len <= cap */
} eh_buf_t;

#define EH_BUF_INIT                                                                                                    \
    {                                                                                                                  \
        NULL, 0, 0                                                                                                     \
    }

/*
 * Makes room for at least `extra` more bytes after len, so that the caller
 * may write up to p[len + extra - 1] and then advance len itself.
 * EH_OK, or EH_ERR (out of memory or size overflow).
 */
EH_MUST_CHECK int eh_buf_reserve(eh_buf_t *b, size_t extra);

/* Appends n bytes (data may be NULL when n is 0). EH_OK or EH_ERR. */
EH_MUST_CHECK int eh_buf_append(eh_buf_t *b, const void *data, size_t n);

/*
 * Appends n bytes when len stays within max, for a buffer that holds one
 * bounded record (a line): the capacity grows by doubling but never past max.
 * EH_OK, EH_DECLINED (len + n > max; nothing changed) or EH_ERR.
 */
EH_MUST_CHECK int eh_buf_append_max(eh_buf_t *b, const void *data, size_t n, size_t max);

/* Appends the NUL-terminated string s (without its NUL). EH_OK or EH_ERR. */
EH_MUST_CHECK int eh_buf_append_str(eh_buf_t *b, const char *s);

/* Empties the buffer and keeps its memory for reuse. */
void eh_buf_reset(eh_buf_t *b);

/* Frees the memory and leaves an empty buffer. NULL is accepted. */
void eh_buf_free(eh_buf_t *b);

#endif
