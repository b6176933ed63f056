#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "job_queries.h"

typedef struct arg_count {
    const char *name;
    int count;
    const char *value;
} arg_count_t;

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    EH_UNUSED(kind);
    arg_count_t *a = cls;
    if (key != NULL && strcmp(key, a->name) == 0) {
        if (a->count++ == 0)
            a->value = value;
    }
    return MHD_YES;
}

int api_params_get(struct MHD_Connection *c, const char *name, const char **value)
{
    arg_count_t a = {.name = name};
    (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_arg, &a);
    *value = NULL;
    if (a.count == 0)
        return API_PARAM_ABSENT;
    if (a.count > 1 || a.value == NULL || a.value[0] == '\0')
        return EH_DECLINED;
    *value = a.value;
    return EH_OK;
}

/* n digits at s as a number; -1 when one of them is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without the C library's time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int api_params_parse_time(const char *s, int64_t *epoch_us)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t len = strlen(s);
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return EH_DECLINED;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return EH_DECLINED;
    int dim = mdays[mo - 1] + (mo == 2 && leap(y));
    if (d > dim)
        return EH_DECLINED;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        int64_t scale = 100000;
        while (*p >= '0' && *p <= '9') {
            if (++n > 9)
                return EH_DECLINED;
            frac_us += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
        if (n == 0)
            return EH_DECLINED;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return EH_DECLINED;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return EH_DECLINED;
    }
    if (*p != '\0')
        return EH_DECLINED;
    if (sec == 60)
        sec = 59; /* a leap second: PostgreSQL has none either */
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *epoch_us = t * 1000000 + frac_us;
    return EH_OK;
}

int api_params_parse_levels(const char *s, unsigned *bits)
{
    unsigned set = 0;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return EH_DECLINED;
        int found = -1;
        for (int i = 0; i < API_JOBQ_LEVEL_COUNT; i++) {
            if (strlen(API_JOBQ_LEVEL_NAMES[i]) == n && strncmp(p, API_JOBQ_LEVEL_NAMES[i], n) == 0)
                found = i;
        }
        if (found < 0)
            return EH_DECLINED;
        set |= 1u << found;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *bits = set;
    return EH_OK;
}

/* Query parameter name as a number in [min, max] (def when absent): EH_OK, or EH_DECLINED with the 400 queued. */
int api_params_int(struct MHD_Connection *c, api_request_t *rq, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out, enum MHD_Result *answer)
{
    const char *v;
    int rc = api_params_get(c, name, &v);
    if (rc == API_PARAM_ABSENT) {
        *out = def;
        return EH_OK;
    }
    if (rc == EH_OK && api_util_parse_int(v, min, max, out) == EH_OK)
        return EH_OK;
    char what[96];
    snprintf(what, sizeof(what), "must be given once, as a whole number from %lld to %lld", (long long)min,
             (long long)max);
    *answer = api_params_refuse(c, rq, name, what);
    return EH_DECLINED;
}

enum MHD_Result api_params_refuse(struct MHD_Connection *c, api_request_t *rq, const char *name, const char *what)
{
    char code[64], message[256];
    snprintf(code, sizeof(code), "invalid_%s", name);
    snprintf(message, sizeof(message), "%s: %s", name, what);
    return api_http_send_error(c, rq, MHD_HTTP_BAD_REQUEST, code, message);
}
