/*
 * The progress bar lines. A line is a label, a bar, a percentage and details
 * ("12.0 MiB/40.0 MiB  3.1 MiB/s  ETA 9s"); when the terminal is narrow the
 * bar shrinks to its minimum first, then details go from the end, then the
 * bar itself, so that the line never wraps (a wrapped line cannot be
 * redrawn in place with a carriage return).
 */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BAR_MIN 10
#define BAR_MAX 40
#define MAX_FIELDS 6
#define FIELD_LEN 48
#define GREEN "\033[32m"
#define RESET "\033[0m"

void cli_progress_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, outlen, "%u B", (unsigned)n);
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outlen, v < 10.0 ? "%.2f %s" : v < 100.0 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_progress_duration(double seconds, char *out, size_t outlen)
{
    if (!isfinite(seconds) || seconds < 0 || seconds >= 99.0 * 3600) {
        snprintf(out, outlen, "--");
        return;
    }
    long s = lround(seconds);
    if (s < 60)
        snprintf(out, outlen, "%lds", s);
    else if (s < 3600)
        snprintf(out, outlen, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, outlen, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

size_t cli_progress_visible_width(const char *s)
{
    size_t n = 0;
    while (*s != '\0') {
        if (*s == '\033') { /* CSI: ESC [ params final-byte */
            s++;
            if (*s == '[')
                s++;
            while (*s != '\0' && !(*s >= 0x40 && *s <= 0x7e))
                s++;
            if (*s != '\0')
                s++;
            continue;
        }
        n++;
        s++;
    }
    return n;
}

typedef struct layout {
    const char *label;
    double fraction; /* 0..1, or < 0 when unknown */
    char fields[MAX_FIELDS][FIELD_LEN];
    int nfields;
} layout_t;

static void add_field(layout_t *l, const char *text)
{
    if (l->nfields < MAX_FIELDS)
        snprintf(l->fields[l->nfields++], FIELD_LEN, "%s", text);
}

static size_t fields_width(const layout_t *l, int n)
{
    size_t w = 0;
    for (int i = 0; i < n; i++)
        w += 2 + strlen(l->fields[i]);
    return w;
}

/* Appends with snprintf semantics; keeps *used at most outlen-1. */
static void put(char *out, size_t outlen, size_t *used, const char *s, size_t n)
{
    if (*used + 1 >= outlen)
        return;
    if (n > outlen - 1 - *used)
        n = outlen - 1 - *used;
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = '\0';
}

static size_t render(const layout_t *l, int width, bool color, char *out, size_t outlen)
{
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    size_t cols = width > 1 ? (size_t)width - 1 : 0;
    char pct[8] = "";
    if (l->fraction >= 0)
        snprintf(pct, sizeof(pct), " %3d%%", (int)floor(l->fraction * 100.0 + 1e-9));
    size_t fixed = strlen(l->label) + strlen(pct);
    int nf = l->nfields;
    /* bar = "[" + cells + "]" after a space */
    long bar = BAR_MAX;
    while (true) {
        long room = (long)cols - (long)fixed - (long)fields_width(l, nf) - 3;
        if (room >= BAR_MIN) {
            bar = room < BAR_MAX ? room : BAR_MAX;
            break;
        }
        if (nf == 0) {
            bar = 0;
            break;
        }
        nf--;
    }
    if (l->fraction < 0)
        bar = 0;
    size_t used = 0;
    put(out, outlen, &used, l->label, strlen(l->label));
    if (bar > 0) {
        long filled = (long)floor(l->fraction * (double)bar + 1e-9);
        char cells[BAR_MAX + 1];
        put(out, outlen, &used, " [", 2);
        if (color && filled > 0)
            put(out, outlen, &used, GREEN, strlen(GREEN));
        memset(cells, '#', (size_t)filled);
        put(out, outlen, &used, cells, (size_t)filled);
        if (color && filled > 0)
            put(out, outlen, &used, RESET, strlen(RESET));
        memset(cells, '.', (size_t)(bar - filled));
        put(out, outlen, &used, cells, (size_t)(bar - filled));
        put(out, outlen, &used, "]", 1);
    }
    put(out, outlen, &used, pct, strlen(pct));
    for (int i = 0; i < nf; i++) {
        put(out, outlen, &used, "  ", 2);
        put(out, outlen, &used, l->fields[i], strlen(l->fields[i]));
    }
    /* Without a bar the label and fields alone may still be too wide: cut at the column limit. */
    if (bar == 0 && used > cols) {
        used = cols;
        out[used] = '\0';
    }
    return used;
}

static double fraction(double done, double total)
{
    if (total <= 0)
        return -1;
    double f = done / total;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

size_t cli_progress_upload_line(const cli_upload_progress_t *p, int width, bool color, char *out, size_t outlen)
{
    layout_t l = {.label = "upload", .fraction = fraction((double)p->sent, (double)p->total)};
    char a[24], b[24], field[FIELD_LEN];
    cli_progress_bytes(p->sent, a, sizeof(a));
    if (p->total > 0) {
        cli_progress_bytes(p->total, b, sizeof(b));
        snprintf(field, sizeof(field), "%s/%s", a, b);
    } else {
        snprintf(field, sizeof(field), "%s", a);
    }
    add_field(&l, field);
    if (p->rate > 0) {
        cli_progress_bytes((uint64_t)p->rate, a, sizeof(a));
        snprintf(field, sizeof(field), "%s/s", a);
        add_field(&l, field);
        if (p->total > 0) {
            cli_progress_duration((double)(p->total - (p->sent < p->total ? p->sent : p->total)) / p->rate, a,
                                  sizeof(a));
            snprintf(field, sizeof(field), "ETA %s", a);
            add_field(&l, field);
        }
    }
    return render(&l, width, color, out, outlen);
}

size_t cli_progress_ingest_line(const cli_ingest_progress_t *p, int width, bool color, char *out, size_t outlen)
{
    layout_t l = {.label = "ingest", .fraction = fraction((double)p->processed, (double)p->total)};
    char field[FIELD_LEN], d[24];
    snprintf(field, sizeof(field), "%lld/%lld lines", (long long)p->processed, (long long)p->total);
    add_field(&l, field);
    snprintf(field, sizeof(field), "%lld valid", (long long)p->valid);
    add_field(&l, field);
    snprintf(field, sizeof(field), "%lld invalid", (long long)p->invalid);
    add_field(&l, field);
    if (p->rate > 0) {
        snprintf(field, sizeof(field), p->rate < 10 ? "%.1f lines/s" : "%.0f lines/s", p->rate);
        add_field(&l, field);
        if (p->total > p->processed) {
            cli_progress_duration((double)(p->total - p->processed) / p->rate, d, sizeof(d));
            snprintf(field, sizeof(field), "ETA %s", d);
            add_field(&l, field);
        }
    }
    return render(&l, width, color, out, outlen);
}
