/* buf.c - growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

int eh_buf_reserve(eh_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return EH_OK;
    if (extra > SIZE_MAX - b->len)
        return EH_ERR;
    size_t need = b->len + extra;
    /* Doubling keeps appends amortised O(1); fall back to the exact need near SIZE_MAX. */
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return EH_ERR;
    b->p = p;
    b->cap = cap;
    return EH_OK;
}

int eh_buf_append(eh_buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return EH_OK;
    if (eh_buf_reserve(b, n) != EH_OK)
        return EH_ERR;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return EH_OK;
}

int eh_buf_append_max(eh_buf_t *b, const void *data, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return EH_DECLINED;
    if (n == 0)
        return EH_OK;
    if (n > b->cap - b->len) {
        size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
        while (cap < b->len + n)
            cap = cap > max / 2 ? max : cap * 2;
        if (cap > max)
            cap = max;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return EH_ERR;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return EH_OK;
}

int eh_buf_append_str(eh_buf_t *b, const char *s)
{
    return eh_buf_append(b, s, strlen(s));
}

void eh_buf_reset(eh_buf_t *b)
{
    b->len = 0;
}

void eh_buf_free(eh_buf_t *b)
{
    if (b == NULL)
        return;
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}
