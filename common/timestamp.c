/*
 * timestamp.c - the timestamp rules; see timestamp.h.
 *
 * Calendar arithmetic is done on integers (days since the epoch, then
 * microseconds), not through struct tm and the C library: the result does
 * not depend on the machine's TZ.
 */
#include "timestamp.h"

#include <stdbool.h>
#include <string.h>

#include "json_scan.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
/* 0001-01-01 00:00:00 and 9999-12-31 23:59:59.999999 UTC; days_from_civil(1,1,1) = -719162, (10000,1,1) = 2932897. */
#define TS_MIN_US (INT64_C(-719162) * US_PER_DAY)
#define TS_MAX_US (INT64_C(2932897) * US_PER_DAY - 1)
/* Epoch numbers whose magnitude is above 1e11 are milliseconds: 1e11 s = 1e17 us. */
#define EPOCH_MS_ABOVE_US UINT64_C(100000000000000000)

static inline bool is_digit(unsigned c)
{
    return c - '0' < 10u;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static unsigned days_in_month(int y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return dim[m - 1];
}

/* Two digits at p, or -1. */
static int two_digits(const char *p)
{
    if (!is_digit((unsigned char)p[0]) || !is_digit((unsigned char)p[1]))
        return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool ascii_ieq3(const char *p, const char *word)
{
    return (p[0] | 0x20) == word[0] && (p[1] | 0x20) == word[1] && (p[2] | 0x20) == word[2];
}

/* The zone at p: 'Z', "UTC", "GMT" (any case), "+hh", "+hhmm" or "+hh:mm". Its end, or NULL. */
static const char *parse_zone(const char *p, const char *end, int *offset)
{
    *offset = 0;
    if (*p == 'Z' || *p == 'z')
        return p + 1;
    if (end - p >= 3 && (ascii_ieq3(p, "utc") || ascii_ieq3(p, "gmt")))
        return p + 3;
    if (*p != '+' && *p != '-')
        return NULL;
    int sign = *p++ == '-' ? -1 : 1;
    int oh = end - p >= 2 ? two_digits(p) : -1;
    int om = 0;
    if (oh < 0)
        return NULL;
    p += 2;
    if (end - p >= 3 && *p == ':') {
        om = two_digits(p + 1);
        p += 3;
    } else if (end - p >= 2) {
        om = two_digits(p);
        p += 2;
    }
    if (om < 0 || oh > 23 || om > 59)
        return NULL;
    *offset = sign * (oh * 3600 + om * 60);
    return p;
}

/* Digits after the '.': the first six make the microseconds, the others are cut. The end, or NULL. */
static const char *parse_fraction(const char *p, const char *end, int64_t *frac)
{
    const char *start = p;
    int64_t scale = 100000;

    *frac = 0;
    while (p < end && is_digit((unsigned char)*p)) {
        *frac += (*p - '0') * scale; /* scale is 0 past the sixth digit */
        scale /= 10;
        p++;
    }
    return p == start ? NULL : p;
}

int worker_ts_parse_text(const char *s, size_t len, int64_t *us, const char **why)
{
    const char *end = s + len;
    const char *p = s + 19;
    int64_t frac = 0;
    int offset;

    *why = "not an RFC 3339 timestamp";
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return EH_DECLINED;
    int yh = two_digits(s), yl = two_digits(s + 2), month = two_digits(s + 5), day = two_digits(s + 8);
    int hour = two_digits(s + 11), minute = two_digits(s + 14), second = two_digits(s + 17);
    if (yh < 0 || yl < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0)
        return EH_DECLINED;
    int year = yh * 100 + yl;
    if (p < end && *p == '.' && (p = parse_fraction(p + 1, end, &frac)) == NULL)
        return EH_DECLINED;
    if (p < end && *p == ' ')
        p++;
    if (p == end) {
        *why = "missing time zone";
        return EH_DECLINED;
    }
    if ((p = parse_zone(p, end, &offset)) == NULL) {
        *why = "invalid time zone";
        return EH_DECLINED;
    }
    if (p != end)
        return EH_DECLINED;

    if (month < 1 || month > 12)
        *why = "month out of range";
    else if (day < 1 || (unsigned)day > days_in_month(year, (unsigned)month))
        *why = "day out of range";
    else if (hour > 23)
        *why = "hour out of range"; /* PostgreSQL takes 24:00:00; RFC 3339 does not */
    else if (minute > 59)
        *why = "minute out of range";
    else if (second > 60)
        *why = "second out of range"; /* 60 is a leap second: it rolls over, as in PostgreSQL */
    else
        *why = NULL;
    if (*why != NULL)
        return EH_DECLINED;
    int64_t secs =
        days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    int64_t v = secs * US_PER_SEC + frac;
    if (v < TS_MIN_US || v > TS_MAX_US) {
        *why = "timestamp out of range";
        return EH_DECLINED;
    }
    *us = v;
    return EH_OK;
}

int worker_ts_parse_number(const char *s, size_t len, int64_t *us, const char **why)
{
    uint64_t n;
    bool cut;
    bool neg = len > 0 && s[0] == '-';

    *why = "timestamp out of range";
    /* Seconds first; a magnitude above 1e11 means milliseconds. */
    if (!worker_json_number_scaled(s, len, 6, &n, &cut) || n > EPOCH_MS_ABOVE_US || (n == EPOCH_MS_ABOVE_US && cut)) {
        if (!worker_json_number_scaled(s, len, 3, &n, &cut))
            return EH_DECLINED;
    }
    /* floor: a negative instant with cut-off digits lies one microsecond further back */
    int64_t v = neg ? -(int64_t)n - (cut ? 1 : 0) : (int64_t)n;
    if (v < TS_MIN_US || v > TS_MAX_US)
        return EH_DECLINED;
    *us = v;
    *why = NULL;
    return EH_OK;
}

static void put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
}

size_t worker_ts_format(int64_t us, char out[WORKER_TS_BUFLEN])
{
    int64_t days = us / US_PER_DAY;
    int64_t rem = us % US_PER_DAY;
    int y;
    unsigned m, d;

    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    unsigned secs = (unsigned)(rem / US_PER_SEC);
    unsigned frac = (unsigned)(rem % US_PER_SEC);
    put2(out, (unsigned)y / 100);
    put2(out + 2, (unsigned)y % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = ' ';
    put2(out + 11, secs / 3600);
    out[13] = ':';
    put2(out + 14, secs / 60 % 60);
    out[16] = ':';
    put2(out + 17, secs % 60);
    out[19] = '.';
    for (int i = 25; i >= 20; i--) {
        out[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    memcpy(out + 26, "+00", 4);
    return 29;
}
