/*
 * splitter.h - cuts a byte stream (a log file read in chunks) into lines.
 *
 * Line definition (the same as the contract's lines_total): every '\n' ends
 * a line; a non-empty piece after the last '\n' is one more line (emitted by
 * worker_splitter_finish). Line numbers are physical and 1-based: blank
 * lines are emitted too, and the caller skips them.
 *
 * The text handed to the callback excludes the '\n' and one '\r' before it.
 * A UTF-8 byte order mark at file offset 0 (only there) is dropped from the
 * first line. A line longer than max_line_bytes (counted without its
 * terminator) is not buffered: its bytes are dropped and it is reported once,
 * at its end, with too_long set and the length seen.
 *
 * A line that lies inside one fed chunk is passed as a slice of that chunk
 * (no copy); only a line that spans chunks is copied into the splitter's
 * buffer, which never grows beyond max_line_bytes + 1 (room for a '\r').
 *
 * Checkpoints: after the callback for a line returns, everything up to
 * line->end_offset is done; a later run resumes with
 * worker_splitter_create(max, line->line_no + 1, line->end_offset) and feeds
 * the file from that offset.
 */
#ifndef EH_WORKER_SPLITTER_H
#define EH_WORKER_SPLITTER_H

#include <stdbool.h>

#include "eh.h"

typedef struct worker_line {
    uint64_t line_no;    /* physical, 1-based */
    eh_str_t text;       /* borrowed, valid only during the callback; {NULL, 0} when too_long */
    uint64_t length;     /* bytes of the line without its terminator (text.len unless too_long) */
    bool too_long;       /* length > max_line_bytes: the bytes were dropped */
    uint64_t end_offset; /* file offset just past the line's '\n' (the end of the file for a final line) */
} worker_line_t;

/* Returns EH_OK to go on; any other value stops the splitter and is returned by feed/finish. */
typedef int (*worker_line_cb)(const worker_line_t *line, void *ud);

typedef struct worker_splitter worker_splitter_t;

/*
 * New splitter whose first line is numbered first_line_no (>= 1) and starts
 * at file offset start_offset (0 for the start of the file: only then is a
 * BOM skipped). max_line_bytes must be >= 1. NULL on out of memory or a bad
 * argument.
 */
EH_MUST_CHECK worker_splitter_t *worker_splitter_create(size_t max_line_bytes, uint64_t first_line_no,
                                                        uint64_t start_offset);

/*
 * Feeds the next len bytes of the stream and calls cb for every line they
 * complete. EH_OK; the callback's non-EH_OK value as soon as it returns one
 * (the rest of the chunk is not looked at); EH_ERR when out of memory. After
 * a non-EH_OK return the splitter must only be destroyed.
 */
EH_MUST_CHECK int worker_splitter_feed(worker_splitter_t *s, const char *data, size_t len, worker_line_cb cb, void *ud);

/* Ends the stream: emits the final line without '\n', if any. Same returns as feed. */
EH_MUST_CHECK int worker_splitter_finish(worker_splitter_t *s, worker_line_cb cb, void *ud);

/* Number the next line will get (after finish: one more than the last line). */
uint64_t worker_splitter_next_line_no(const worker_splitter_t *s);

/* File offset of the next byte to be fed. */
uint64_t worker_splitter_offset(const worker_splitter_t *s);

/* NULL is accepted. */
void worker_splitter_destroy(worker_splitter_t *s);

#endif
