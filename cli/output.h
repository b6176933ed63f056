/*
 * output.h - how `eh` shows what happens: a progress bar redrawn in place on
 * a terminal, one plain line per event otherwise, one JSON object per line
 * with --json.
 */
#ifndef EH_CLI_OUTPUT_H
#define EH_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { CLI_OUT_TTY, CLI_OUT_PLAIN, CLI_OUT_JSON } cli_out_mode_t;

typedef struct cli_out {
    cli_out_mode_t mode;
    bool color;     /* TTY without NO_COLOR */
    bool bar_shown; /* a bar is on the current line (cleared before anything else is printed) */
    /* the upload's rate */
    double upload_t0;
    int64_t upload_last_draw_ms;
    bool upload_done_drawn; /* the 100 % frame is drawn once, however often libcurl reports it */
    /* the ingestion rate: lines since the first event this follow saw */
    double ingest_t0;
    int64_t ingest_p0;
    bool ingest_started;
} cli_out_t;

/* Mode from --json and whether stdout is a terminal; colour unless NO_COLOR is set (to anything) or TERM=dumb. */
void cli_out_init(cli_out_t *o, bool json);

/* An upload's progress (TTY: the bar, at most every 100 ms and at the end; other modes: nothing). */
void cli_out_upload_progress(cli_out_t *o, uint64_t sent, uint64_t total);
/* Resets the per-transfer state before the next upload or follow. */
void cli_out_reset(cli_out_t *o);

/* One event of the live progress (borrowed). */
void cli_out_event(cli_out_t *o, json_t *event);

/* Ends the bar's line, if one is shown, so that the next output starts on a clean line. */
void cli_out_end_bar(cli_out_t *o);

/* The terminal's width (TIOCGWINSZ, else COLUMNS, else 80). */
int cli_out_width(void);

#endif
