#include "timefmt.h"

#include <stdio.h>
#include <time.h>

int64_t eh_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t eh_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t eh_time_format_ms(int64_t epoch_ms, char out[EH_TIME_BUFLEN])
{
    /* Floor division, so that times before 1970 keep a positive millisecond part. */
    int64_t secs = epoch_ms / 1000;
    int64_t ms = epoch_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        out[0] = '\0';
        return 0;
    }
    int n = snprintf(out, EH_TIME_BUFLEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
    if (n < 0 || n >= EH_TIME_BUFLEN) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}
