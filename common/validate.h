/*
 * validate.h - turns one log line (a JSON object) into a log entry, or says
 * precisely why it cannot (CONTRACT.md, "Log lines").
 *
 * The line is scanned once by common/json_scan.h (strict RFC 8259 JSON, as
 * jansson and PostgreSQL's jsonb accept it; our own scanner, not jansson),
 * only the four field values are decoded, and the attributes are built by
 * copying the untouched members' bytes, so nothing is allocated per line
 * and nothing is re-serialised (about 10x faster than json_loadb plus
 * json_dumps: bench/validate_bench.c). The unit tests and the fuzz harness
 * (tests/fuzz/validate_fuzz.c) hold it to jansson's verdicts; json_scan.h
 * lists the known differences, which are on purpose.
 *
 * Rules, where the contract leaves a choice:
 * - Whole line: what json_scan.h accepts: valid UTF-8; no "\u0000" escape
 *   and no lone surrogate; nesting at most WORKER_JSON_MAX_DEPTH (2048)
 *   values deep; numbers with more than 4000 digits or an exponent beyond
 *   +-10000 are refused ("number out of range"), while integers beyond 64
 *   bits are accepted.
 * - Duplicate keys: the last one wins, as in jsonb and JavaScript.
 * - Keys are case-sensitive. For each field the aliases are tried in the
 *   contract's order and the first key present is used, whatever its value;
 *   a wrong value does not fall through to the next alias. Used keys (every
 *   occurrence) leave the attributes; the other aliases stay there.
 *   "log.level" and "error_severity" are literal top-level keys; a nested
 *   {"log":{"level":..}} is not looked into and stays an attribute.
 *   ECS "service.name" is not an alias (the contract does not list it).
 * - timestamp: an RFC 3339 string or a JSON number of epoch seconds or
 *   milliseconds, in years 0001..9999 UTC: the rules are in timestamp.h.
 * - level: a name (case-insensitive) or a pino/bunyan number in [10, 60]:
 *   the rules are in level.h.
 * - message: a string (may be empty).
 * - service: a string, or null (stored as NULL); any other type is invalid.
 */
#ifndef EH_WORKER_VALIDATE_H
#define EH_WORKER_VALIDATE_H

#include <stdbool.h>

#include "buf.h"
#include "eh.h"
/* The pieces of the rules: their names (worker_ts_*, worker_level_*, WORKER_JSON_MAX_DEPTH) come with this header. */
#include "json_scan.h"
#include "level.h"
#include "timestamp.h"

/* worker_validate_line's result for a line of only spaces, tabs and CRs: skip it, it is not an error. */
#define WORKER_VALIDATE_BLANK 1

/* A reason buffer of this size never truncates a reason. */
#define WORKER_REASON_LEN 192

/*
 * One validated line. Zero-initialise it (= {0}) once and reuse it for every
 * line of a job: its scratch memory is kept between lines, so that a warm
 * entry validates without allocating. Free it with worker_entry_clear.
 *
 * Lifetime of the slices (message, service, attributes): they point either
 * into the line passed to worker_validate_line or into the entry's scratch,
 * so they stay valid until the next worker_validate_line on this entry or
 * worker_entry_clear, and only while the line's bytes are unchanged. Build
 * the COPY row before either happens.
 */
typedef struct worker_entry {
    uint64_t line_no;          /* set by the caller; the validator does not touch it */
    int64_t ts_us;             /* microseconds since the Unix epoch, UTC */
    char ts[WORKER_TS_BUFLEN]; /* ts_us as "YYYY-MM-DD HH:MM:SS.ffffff+00", NUL-terminated */
    size_t ts_len;             /* strlen(ts) */
    worker_level_t level;
    eh_str_t message;    /* decoded UTF-8, no NUL inside; borrowed as above */
    eh_str_t service;    /* decoded; p == NULL when absent or null */
    eh_str_t attributes; /* JSON object text ("{}" when nothing is left); borrowed as above */

    /* private: reused from line to line */
    eh_buf_t scratch;
    worker_json_member_t *members; /* the line's top-level members */
    signed char *member_alias;     /* per member: the field alias its key is, or -1 */
    size_t members_cap;            /* of both tables */
} worker_entry_t;

/*
 * Validates line[0..len) (no '\n'; the splitter already removed it).
 * EH_OK: valid, out filled (except line_no).
 * WORKER_VALIDATE_BLANK: only whitespace; out and reason untouched.
 * EH_DECLINED: invalid; reason holds a NUL-terminated, valid UTF-8 message
 *   such as "missing field: timestamp" (reason_len >= WORKER_REASON_LEN
 *   never truncates); out's fields are unspecified.
 * EH_ERR: out of memory; reason says so.
 */
EH_MUST_CHECK int worker_validate_line(const char *line, size_t len, worker_entry_t *out, char *reason,
                                       size_t reason_len);

/* Frees the entry's scratch memory and zeroes it. NULL is accepted. */
void worker_entry_clear(worker_entry_t *e);

#endif
