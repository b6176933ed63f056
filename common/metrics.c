#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

#define MAX_COLLECTORS 8

/*
 * A family. Its values live in the registry's cell block: for each slot,
 * ncells cells per series starting at `offset`. A counter or gauge series is
 * one cell; a histogram series is nbounds + 1 bucket counts (not cumulative;
 * the last is +Inf), the count, and the sum (a double's bits).
 */
struct eh_metric {
    eh_metrics_t *reg;
    kind_t kind;
    const char *name;
    const char *help;
    size_t nlabels;
    eh_metrics_label_t labels[EH_METRICS_MAX_LABELS];
    size_t nseries;
    size_t ncells; /* per series */
    size_t offset; /* of series 0, in cells, within a slot */
    double bounds[EH_METRICS_MAX_BUCKETS];
    size_t nbounds;
    bool sparse; /* series never counted are not rendered */
};

struct eh_metrics {
    eh_metric_t **families;
    size_t nfamilies;
    size_t slot_cells; /* cells of one slot */
    size_t nslots;
    size_t slot;             /* the slot this process writes */
    _Atomic uint64_t *cells; /* nslots * slot_cells; NULL until started */
    size_t map_len;          /* > 0: cells is an mmap of this length */
    struct {
        eh_metrics_collect_fn fn;
        void *ud;
    } collectors[MAX_COLLECTORS];
    size_t ncollectors;
};

eh_metrics_t *eh_metrics_create(void)
{
    return calloc(1, sizeof(eh_metrics_t));
}

void eh_metrics_destroy(eh_metrics_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->nfamilies; i++)
        free(reg->families[i]);
    free(reg->families);
    if (reg->map_len > 0)
        (void)munmap((void *)reg->cells, reg->map_len);
    else
        free((void *)reg->cells);
    free(reg);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no colon). */
static bool valid_name(const char *s, bool colon)
{
    if (s == NULL || *s == '\0' || isdigit((unsigned char)*s))
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(colon && *s == ':'))
            return false;
    return true;
}

static eh_metric_t *declare(eh_metrics_t *reg, kind_t kind, const char *name, const char *help, size_t nlabels,
                            const eh_metrics_label_t *labels, const double *bounds, size_t nbounds)
{
    if (reg == NULL || reg->cells != NULL || !valid_name(name, true) || help == NULL ||
        nlabels > EH_METRICS_MAX_LABELS || nbounds > EH_METRICS_MAX_BUCKETS)
        return NULL;
    size_t nseries = 1;
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i].name, false) || strcmp(labels[i].name, "le") == 0 || labels[i].nvalues == 0)
            return NULL;
        nseries *= labels[i].nvalues;
    }
    for (size_t i = 1; i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return NULL;
    eh_metric_t **grown = realloc(reg->families, (reg->nfamilies + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    reg->families = grown;
    eh_metric_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    *m = (eh_metric_t){.reg = reg,
                       .kind = kind,
                       .name = name,
                       .help = help,
                       .nlabels = nlabels,
                       .nseries = nseries,
                       .nbounds = nbounds};
    for (size_t i = 0; i < nlabels; i++)
        m->labels[i] = labels[i];
    for (size_t i = 0; i < nbounds; i++)
        m->bounds[i] = bounds[i];
    m->ncells = kind == KIND_HISTOGRAM ? nbounds + 3 : 1;
    m->offset = reg->slot_cells;
    reg->slot_cells += m->ncells * nseries;
    reg->families[reg->nfamilies++] = m;
    return m;
}

eh_metric_t *eh_metrics_counter(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                                const eh_metrics_label_t *labels)
{
    return declare(reg, KIND_COUNTER, name, help, nlabels, labels, NULL, 0);
}

eh_metric_t *eh_metrics_gauge(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                              const eh_metrics_label_t *labels)
{
    return declare(reg, KIND_GAUGE, name, help, nlabels, labels, NULL, 0);
}

eh_metric_t *eh_metrics_histogram(eh_metrics_t *reg, const char *name, const char *help, size_t nlabels,
                                  const eh_metrics_label_t *labels, const double *bounds, size_t nbounds)
{
    return declare(reg, KIND_HISTOGRAM, name, help, nlabels, labels, bounds, nbounds);
}

void eh_metrics_sparse(eh_metric_t *m)
{
    if (m != NULL)
        m->sparse = true;
}

int eh_metrics_start(eh_metrics_t *reg, size_t nslots, bool shared)
{
    if (reg == NULL || reg->cells != NULL || nslots == 0)
        return EH_ERR;
    size_t cells = reg->slot_cells > 0 ? reg->slot_cells : 1;
    if (nslots > SIZE_MAX / sizeof(uint64_t) / cells)
        return EH_ERR;
    size_t len = nslots * cells * sizeof(uint64_t);
    if (shared) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return EH_ERR;
        reg->cells = p; /* anonymous mappings start zeroed */
        reg->map_len = len;
    } else {
        reg->cells = calloc(nslots * cells, sizeof(uint64_t));
        if (reg->cells == NULL)
            return EH_ERR;
    }
    reg->nslots = nslots;
    return EH_OK;
}

void eh_metrics_set_slot(eh_metrics_t *reg, size_t slot)
{
    if (reg != NULL && slot < reg->nslots)
        reg->slot = slot;
}

void eh_metrics_reset_slot_gauges(eh_metrics_t *reg, size_t slot)
{
    if (reg == NULL || reg->cells == NULL || slot >= reg->nslots)
        return;
    for (size_t f = 0; f < reg->nfamilies; f++) {
        const eh_metric_t *m = reg->families[f];
        if (m->kind != KIND_GAUGE)
            continue;
        for (size_t s = 0; s < m->nseries; s++)
            atomic_store_explicit(&reg->cells[slot * reg->slot_cells + m->offset + s], 0, memory_order_relaxed);
    }
}

size_t eh_metrics_series(const eh_metric_t *m, const size_t *value_idx)
{
    if (m == NULL)
        return 0;
    size_t series = 0;
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t v = value_idx[i] < m->labels[i].nvalues ? value_idx[i] : m->labels[i].nvalues - 1;
        series = series * m->labels[i].nvalues + v;
    }
    return series;
}

size_t eh_metrics_value_index(const eh_metric_t *m, size_t label, const char *value)
{
    if (m == NULL || label >= m->nlabels)
        return 0;
    const eh_metrics_label_t *l = &m->labels[label];
    for (size_t i = 0; i < l->nvalues; i++)
        if (value != NULL && strcmp(l->values[i], value) == 0)
            return i;
    return l->nvalues - 1;
}

/* The cells of series in this process's slot; NULL when not counting. */
static _Atomic uint64_t *cells_of(eh_metric_t *m, size_t series)
{
    if (m == NULL || m->reg->cells == NULL || series >= m->nseries)
        return NULL;
    return &m->reg->cells[m->reg->slot * m->reg->slot_cells + m->offset + series * m->ncells];
}

void eh_metrics_counter_add(eh_metric_t *m, size_t series, uint64_t v)
{
    _Atomic uint64_t *c = cells_of(m, series);
    if (c != NULL && m->kind == KIND_COUNTER)
        atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

void eh_metrics_gauge_set(eh_metric_t *m, size_t series, int64_t v)
{
    _Atomic uint64_t *c = cells_of(m, series);
    if (c != NULL && m->kind == KIND_GAUGE)
        atomic_store_explicit(c, (uint64_t)v, memory_order_relaxed);
}

void eh_metrics_gauge_add(eh_metric_t *m, size_t series, int64_t delta)
{
    _Atomic uint64_t *c = cells_of(m, series);
    if (c != NULL && m->kind == KIND_GAUGE)
        atomic_fetch_add_explicit(c, (uint64_t)delta, memory_order_relaxed); /* two's complement wraps right */
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void eh_metrics_histogram_observe(eh_metric_t *m, size_t series, double v)
{
    _Atomic uint64_t *c = cells_of(m, series);
    if (c == NULL || m->kind != KIND_HISTOGRAM)
        return;
    if (!(v > 0)) /* also NaN */
        v = 0;
    size_t b = 0;
    while (b < m->nbounds && v > m->bounds[b])
        b++;
    atomic_fetch_add_explicit(&c[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c[m->nbounds + 1], 1, memory_order_relaxed);
    _Atomic uint64_t *sum = &c[m->nbounds + 2];
    uint64_t old = atomic_load_explicit(sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(sum, &old, double_bits(bits_double(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* The sum over slots of cell k of series. */
static uint64_t sum_cell(const eh_metric_t *m, size_t series, size_t k)
{
    const eh_metrics_t *reg = m->reg;
    uint64_t total = 0;
    for (size_t slot = 0; slot < reg->nslots; slot++)
        total += atomic_load_explicit(&reg->cells[slot * reg->slot_cells + m->offset + series * m->ncells + k],
                                      memory_order_relaxed);
    return total;
}

static double sum_double_cell(const eh_metric_t *m, size_t series, size_t k)
{
    const eh_metrics_t *reg = m->reg;
    double total = 0;
    for (size_t slot = 0; slot < reg->nslots; slot++)
        total += bits_double(atomic_load_explicit(
            &reg->cells[slot * reg->slot_cells + m->offset + series * m->ncells + k], memory_order_relaxed));
    return total;
}

int64_t eh_metrics_value(const eh_metric_t *m, size_t series)
{
    if (m == NULL || m->reg->cells == NULL || series >= m->nseries || m->kind == KIND_HISTOGRAM)
        return 0;
    return (int64_t)sum_cell(m, series, 0);
}

int eh_metrics_add_collector(eh_metrics_t *reg, eh_metrics_collect_fn fn, void *ud)
{
    if (reg == NULL || fn == NULL || reg->ncollectors == MAX_COLLECTORS)
        return EH_ERR;
    reg->collectors[reg->ncollectors].fn = fn;
    reg->collectors[reg->ncollectors].ud = ud;
    reg->ncollectors++;
    return EH_OK;
}

/* ---- rendering ---- */

EH_PRINTF(2, 3) static int appendf(eh_buf_t *out, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return EH_ERR;
    if ((size_t)n < sizeof(small))
        return eh_buf_append(out, small, (size_t)n);
    if (eh_buf_reserve(out, (size_t)n + 1) != EH_OK)
        return EH_ERR;
    va_start(ap, fmt);
    vsnprintf(out->p + out->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->len += (size_t)n;
    return EH_OK;
}

/* A label value: backslash, double quote and newline escaped. */
static int append_label_value(eh_buf_t *out, const char *v)
{
    for (; *v != '\0'; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        int rc = esc != NULL ? eh_buf_append_str(out, esc) : eh_buf_append(out, v, 1);
        if (rc != EH_OK)
            return EH_ERR;
    }
    return EH_OK;
}

/* HELP text: backslash and newline escaped. */
static int append_help(eh_buf_t *out, const char *name, const char *help, const char *type)
{
    if (appendf(out, "# HELP %s ", name) != EH_OK)
        return EH_ERR;
    for (const char *h = help; *h != '\0'; h++) {
        const char *esc = *h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : NULL;
        if ((esc != NULL ? eh_buf_append_str(out, esc) : eh_buf_append(out, h, 1)) != EH_OK)
            return EH_ERR;
    }
    return appendf(out, "\n# TYPE %s %s\n", name, type);
}

/* name{label="v",...[,le="x"]} */
static int append_series_name(eh_buf_t *out, const eh_metric_t *m, const char *suffix, size_t series, const char *le)
{
    if (appendf(out, "%s%s", m->name, suffix) != EH_OK)
        return EH_ERR;
    if (m->nlabels == 0 && le == NULL)
        return EH_OK;
    size_t idx[EH_METRICS_MAX_LABELS];
    for (size_t i = m->nlabels; i-- > 0;) {
        idx[i] = series % m->labels[i].nvalues;
        series /= m->labels[i].nvalues;
    }
    if (eh_buf_append_str(out, "{") != EH_OK)
        return EH_ERR;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (appendf(out, "%s%s=\"", i > 0 ? "," : "", m->labels[i].name) != EH_OK ||
            append_label_value(out, m->labels[i].values[idx[i]]) != EH_OK || eh_buf_append_str(out, "\"") != EH_OK)
            return EH_ERR;
    }
    if (le != NULL && appendf(out, "%sle=\"%s\"", m->nlabels > 0 ? "," : "", le) != EH_OK)
        return EH_ERR;
    return eh_buf_append_str(out, "}");
}

static int render_histogram_series(eh_buf_t *out, const eh_metric_t *m, size_t s)
{
    uint64_t cumulative = 0;
    char le[32];
    for (size_t b = 0; b <= m->nbounds; b++) {
        cumulative += sum_cell(m, s, b);
        if (b < m->nbounds)
            snprintf(le, sizeof(le), "%.15g", m->bounds[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        if (append_series_name(out, m, "_bucket", s, le) != EH_OK ||
            appendf(out, " %llu\n", (unsigned long long)cumulative) != EH_OK)
            return EH_ERR;
    }
    if (append_series_name(out, m, "_sum", s, NULL) != EH_OK ||
        appendf(out, " %.17g\n", sum_double_cell(m, s, m->nbounds + 2)) != EH_OK ||
        append_series_name(out, m, "_count", s, NULL) != EH_OK ||
        appendf(out, " %llu\n", (unsigned long long)sum_cell(m, s, m->nbounds + 1)) != EH_OK)
        return EH_ERR;
    return EH_OK;
}

/* No cell of series holds anything in any slot (a sparse family leaves it out). */
static bool series_untouched(const eh_metric_t *m, size_t series)
{
    for (size_t k = 0; k < m->ncells; k++)
        if (sum_cell(m, series, k) != 0)
            return false;
    return true;
}

static int render_family(eh_buf_t *out, const eh_metric_t *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (append_help(out, m->name, m->help, types[m->kind]) != EH_OK)
        return EH_ERR;
    for (size_t s = 0; s < m->nseries; s++) {
        if (m->sparse && series_untouched(m, s))
            continue;
        int rc;
        if (m->kind == KIND_HISTOGRAM)
            rc = render_histogram_series(out, m, s);
        else if (m->kind == KIND_COUNTER)
            rc = append_series_name(out, m, "", s, NULL) == EH_OK
                     ? appendf(out, " %llu\n", (unsigned long long)sum_cell(m, s, 0))
                     : EH_ERR;
        else
            rc = append_series_name(out, m, "", s, NULL) == EH_OK
                     ? appendf(out, " %lld\n", (long long)(int64_t)sum_cell(m, s, 0))
                     : EH_ERR;
        if (rc != EH_OK)
            return EH_ERR;
    }
    return EH_OK;
}

int eh_metrics_render(eh_metrics_t *reg, eh_buf_t *out)
{
    if (reg == NULL || reg->cells == NULL)
        return EH_ERR;
    for (size_t f = 0; f < reg->nfamilies; f++)
        if (render_family(out, reg->families[f]) != EH_OK)
            return EH_ERR;
    for (size_t i = 0; i < reg->ncollectors; i++)
        if (reg->collectors[i].fn(out, reg->collectors[i].ud) != EH_OK)
            return EH_ERR;
    return EH_OK;
}

int eh_metrics_write_sample(eh_buf_t *out, const char *name, const char *type, const char *help, double value)
{
    if (append_help(out, name, help, type) != EH_OK)
        return EH_ERR;
    if (isnan(value))
        return appendf(out, "%s NaN\n", name);
    return appendf(out, "%s %.17g\n", name, value);
}
