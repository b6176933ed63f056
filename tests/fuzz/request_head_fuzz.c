/*
 * request_head_fuzz.c - libFuzzer harness for the listener's decision on the
 * first bytes of a connection (api/request_head.c).
 *
 * For every input, against a naive reference:
 * - api_head_complete(buf, n) is true exactly when buf holds "\n\n" or
 *   "\n\r\n";
 * - it is monotonic: once a prefix is complete, every longer prefix is;
 * - api_head_classify waits exactly while the head is incomplete and shorter
 *   than API_HEAD_PEEK_MAX, and sends to the WebSocket relay only a head
 *   that starts with "GET /ws/" when a relay is registered.
 * Any disagreement aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/request_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool reference_complete(const char *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\n')
            continue;
        if (b[i + 1] == '\n' || (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n'))
            return true;
    }
    return false;
}

static void check(bool ok, const char *what, size_t n)
{
    if (!ok) {
        fprintf(stderr, "request_head_fuzz: %s (n=%zu)\n", what, n);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > API_HEAD_PEEK_MAX + 16)
        size = API_HEAD_PEEK_MAX + 16;
    /* A copy of exactly size bytes, so that ASan sees any read past the end. */
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    size_t n = size > API_HEAD_PEEK_MAX ? API_HEAD_PEEK_MAX : size;
    bool complete = api_head_complete(buf, n);
    check(complete == reference_complete(buf, n), "api_head_complete disagrees with the reference", n);
    /* Monotonic over prefixes (every prefix for short inputs, a sample for long ones). */
    bool seen = false;
    size_t step = n < 512 ? 1 : n / 256;
    for (size_t k = 0; k <= n; k += step) {
        bool c = api_head_complete(buf, k);
        check(!seen || c, "a longer prefix of a complete head is incomplete", k);
        seen = seen || c;
    }
    for (int ws = 0; ws < 2; ws++) {
        api_head_verdict_t v = api_head_classify(buf, n, ws != 0);
        bool wait = n < API_HEAD_PEEK_MAX && !complete;
        check((v == API_HEAD_WAIT) == wait, "waits when it should decide, or decides too early", n);
        bool prefix = n >= 8 && memcmp(buf, "GET /ws/", 8) == 0;
        if (!wait)
            check((v == API_HEAD_WEBSOCKET) == (ws && prefix), "wrong side", n);
    }
    free(buf);
    return 0;
}
