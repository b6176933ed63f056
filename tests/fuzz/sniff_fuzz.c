/*
 * sniff_fuzz.c - libFuzzer harness for the upload's format sniff
 * (api_sniff_* in api/util.c): the check an upload's bytes pass through
 * while they are spooled.
 *
 * For every input:
 * - the verdict and its reason do not depend on how the bytes are cut into
 *   chunks (whole; one byte at a time for short inputs; chunk sizes drawn
 *   from the input itself);
 * - an accepted file has no NUL byte in its first 64 KiB, and its first
 *   non-blank line (after an optional UTF-8 BOM) is a JSON object as
 *   jansson reads it.
 * Any disagreement aborts. The multipart framing around the file is parsed
 * by libmicrohttpd's post processor, which needs a live connection and is
 * exercised by the integration tests rather than here.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 4096

typedef struct {
    int verdict;
    const char *reason;
} outcome_t;

static outcome_t run(const char *buf, size_t size, const size_t *cuts, size_t ncuts)
{
    api_sniff_t s;
    api_sniff_init(&s, MAX_LINE);
    size_t off = 0;
    for (size_t k = 0; k < ncuts && off < size && s.verdict == 0; k++) {
        size_t n = cuts[k] < size - off ? cuts[k] : size - off;
        (void)api_sniff_feed(&s, buf + off, n);
        off += n;
    }
    if (off < size && s.verdict == 0)
        (void)api_sniff_feed(&s, buf + off, size - off);
    int v = api_sniff_finish(&s);
    outcome_t o = {v, s.reason};
    api_sniff_free(&s);
    return o;
}

static void die(const char *what, const outcome_t *a, const outcome_t *b)
{
    fprintf(stderr, "sniff_fuzz: %s: %d (%s) vs %d (%s)\n", what, a->verdict, a->reason ? a->reason : "-",
            b ? b->verdict : 0, b && b->reason ? b->reason : "-");
    abort();
}

static void check_accepted(const char *buf, size_t size, const outcome_t *o)
{
    size_t window = size < API_SNIFF_NUL_WINDOW ? size : API_SNIFF_NUL_WINDOW;
    if (memchr(buf, '\0', window) != NULL)
        die("accepted with a NUL byte in the first 64 KiB", o, NULL);
    size_t i = size >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < size && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    const char *nl = memchr(buf + i, '\n', size - i);
    size_t len = nl != NULL ? (size_t)(nl - (buf + i)) : size - i;
    json_t *v = json_loadb(buf + i, len, 0, NULL);
    bool object = json_is_object(v);
    json_decref(v);
    if (!object)
        die("accepted, but the first non-blank line is not a JSON object", o, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    outcome_t whole = run(buf, size, NULL, 0);
    if (whole.verdict != 1 && whole.verdict != -1)
        die("no final verdict", &whole, NULL);
    if (whole.verdict == -1 && whole.reason == NULL)
        die("refused without a reason", &whole, NULL);
    /* Chunk sizes 1..64 drawn from the input's own bytes. */
    size_t cuts[64];
    size_t ncuts = 0;
    for (size_t k = 0; k < size && ncuts < EH_ARRAY_LEN(cuts); k += 7)
        cuts[ncuts++] = (size_t)((unsigned char)buf[k] % 64) + 1;
    outcome_t chunked = run(buf, size, cuts, ncuts);
    if (chunked.verdict != whole.verdict || (whole.reason != chunked.reason && whole.reason != NULL &&
                                             (chunked.reason == NULL || strcmp(whole.reason, chunked.reason) != 0)))
        die("the verdict depends on the chunking", &whole, &chunked);
    if (size <= 512) {
        size_t ones[512];
        for (size_t k = 0; k < size; k++)
            ones[k] = 1;
        outcome_t bytewise = run(buf, size, ones, size);
        if (bytewise.verdict != whole.verdict)
            die("the verdict differs when fed byte by byte", &whole, &bytewise);
    }
    if (whole.verdict == 1)
        check_accepted(buf, size, &whole);
    free(buf);
    return 0;
}
