/*
 * progress.h - the text of the progress bars (upload bytes, ingestion
 * lines), fitted to the terminal's width. Pure formatting: the unit tests
 * check it without a terminal.
 */
#ifndef EH_CLI_PROGRESS_H
#define EH_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "0 B", "512 B", "1.5 KiB", "12.0 MiB", "1.02 GiB". */
void cli_progress_bytes(uint64_t n, char *out, size_t outlen);
/* "0s", "59s", "1m05s", "2h03m"; "--" when unknown (negative, not finite, or over 99 hours). */
void cli_progress_duration(double seconds, char *out, size_t outlen);

typedef struct cli_upload_progress {
    uint64_t sent, total; /* total 0: not known yet */
    double rate;          /* bytes per second; 0: not known yet */
} cli_upload_progress_t;

typedef struct cli_ingest_progress {
    int64_t processed, total, valid, invalid;
    double rate; /* lines per second; 0: not known yet */
} cli_ingest_progress_t;

/*
 * One line of at most width-1 visible columns (the last column stays free so
 * that the terminal never wraps), without a newline. With color, the bar's
 * filled part is green (escape codes are not counted as columns). Returns
 * the number of bytes written (out is always terminated).
 */
size_t cli_progress_upload_line(const cli_upload_progress_t *p, int width, bool color, char *out, size_t outlen);
size_t cli_progress_ingest_line(const cli_ingest_progress_t *p, int width, bool color, char *out, size_t outlen);

/* The number of columns a line takes: its characters without the escape sequences (ASCII only). */
size_t cli_progress_visible_width(const char *s);

#endif
