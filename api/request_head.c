#include "request_head.h"

#include <string.h>

#define WS_PREFIX "GET /ws/"
#define WS_PREFIX_LEN (sizeof(WS_PREFIX) - 1)

bool api_head_complete(const char *buf, size_t n)
{
    const char *end = buf + n;
    for (const char *p = buf; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) {
        size_t left = (size_t)(end - p) - 1;
        if (left >= 1 && p[1] == '\n')
            return true;
        if (left >= 2 && p[1] == '\r' && p[2] == '\n')
            return true;
    }
    return false;
}

api_head_verdict_t api_head_classify(const char *buf, size_t n, bool ws_hook)
{
    if (n < API_HEAD_PEEK_MAX && !api_head_complete(buf, n))
        return API_HEAD_WAIT;
    if (ws_hook && n >= WS_PREFIX_LEN && memcmp(buf, WS_PREFIX, WS_PREFIX_LEN) == 0)
        return API_HEAD_WEBSOCKET;
    return API_HEAD_HTTP;
}
