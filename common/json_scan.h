/*
 * json_scan.h - a single-pass scanner of strict JSON text, for one log line.
 *
 * Our own scanner, not jansson: it validates the whole text as strict
 * RFC 8259 JSON (what jansson and PostgreSQL's jsonb accept) without
 * allocating or building a tree. Of a top-level object it reports each
 * member's key and value as byte ranges of the text, with the value's type,
 * so that a caller reads only the values it needs (decoding strings with
 * worker_json_decode_string) and copies the other members' bytes as they
 * are. The unit tests and the fuzz harness (tests/fuzz/validate_fuzz.c)
 * hold it to jansson's verdicts; the known differences are on purpose:
 * integers beyond 64 bits and reals beyond double are accepted (jsonb stores
 * them), and a raw NUL byte outside a string is refused (jansson skips it;
 * PostgreSQL refuses it in text).
 *
 * Rules beyond RFC 8259 (PostgreSQL's limits):
 * - The whole text is valid UTF-8; no "\u0000" escape and no lone surrogate
 *   (PostgreSQL's text and jsonb refuse both).
 * - Nesting at most WORKER_JSON_MAX_DEPTH values deep (as jansson).
 * - Numbers with more than WORKER_JSON_NUM_MAX_DIGITS digits or an exponent
 *   beyond +-WORKER_JSON_NUM_MAX_EXP are refused ("number out of range":
 *   jsonb's numeric could not store all of them), while integers beyond 64
 *   bits are accepted.
 *
 * Usage: worker_json_init, worker_json_begin, then (when the text is an
 * object) worker_json_next_members into the caller's table, growing it
 * while the call returns EH_OK (table full):
 *
 *     worker_json_init(&ps, text, len);
 *     rc = worker_json_begin(&ps, &type);
 *     while (rc == EH_OK) {
 *         ... make room in v (n members so far, cap in all) ...
 *         rc = worker_json_next_members(&ps, v + n, cap - n, &got);
 *         n += got;
 *     }
 *     valid JSON: rc == WORKER_JSON_END (for any type), v[0..n) the members;
 *     invalid: rc == EH_DECLINED, and the parser's err* fields (and
 *     worker_json_error_column/_offset) say what and where.
 *
 * The caller owns the table, so nothing here allocates, and a whole line's
 * members come from one call in the common case (no call per member on the
 * hot path). Every pointer is borrowed from the text, which must stay
 * unchanged while the parser or the member ranges are used.
 */
#ifndef EH_WORKER_JSON_SCAN_H
#define EH_WORKER_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

/* Deepest nesting accepted; the top-level object is depth 1, its values 2 (jansson counts the same way). */
#define WORKER_JSON_MAX_DEPTH 2048

/* With WORKER_JSON_NUM_MAX_EXP, far inside numeric's 131072 / 16383 digit limits. */
#define WORKER_JSON_NUM_MAX_DIGITS 4000
#define WORKER_JSON_NUM_MAX_EXP 10000

/* The type of a value; worker_json_type_name gives its name for messages. */
typedef enum {
    WORKER_JSON_OBJECT,
    WORKER_JSON_ARRAY,
    WORKER_JSON_STRING,
    WORKER_JSON_NUMBER,
    WORKER_JSON_TRUE,
    WORKER_JSON_FALSE,
    WORKER_JSON_NULL
} worker_json_type_t;

/* Why a scan stopped; the first error found, the scan does not go on after it. */
typedef enum {
    WORKER_JSON_ERR_NONE,
    WORKER_JSON_ERR_SYNTAX,    /* err_msg says what was wrong ("unexpected end of line" when the text ran out) */
    WORKER_JSON_ERR_UTF8,      /* invalid UTF-8, in a string or where the syntax wanted something else; err_value is
                                  the offending byte */
    WORKER_JSON_ERR_NUL,       /* a "\u0000" escape; err_at is its backslash */
    WORKER_JSON_ERR_SURROGATE, /* a lone surrogate escape; err_value is its code unit */
    WORKER_JSON_ERR_CONTROL,   /* an unescaped control character in a string; err_value is it */
    WORKER_JSON_ERR_DEPTH,     /* nested deeper than WORKER_JSON_MAX_DEPTH */
    WORKER_JSON_ERR_NUMBER     /* a number beyond WORKER_JSON_NUM_MAX_DIGITS or WORKER_JSON_NUM_MAX_EXP */
} worker_json_err_t;

/*
 * The scanner's state. Set up by worker_json_init; callers only read it:
 * base and end delimit the text, and once a call returned EH_DECLINED the
 * err* fields describe the error.
 */
typedef struct worker_json_parser {
    const unsigned char *base, *p, *end; /* the text, and the scan position in it */
    worker_json_err_t err;               /* WORKER_JSON_ERR_NONE until an error */
    const unsigned char *err_at;         /* where the error is (a byte of the text, or end) */
    const char *err_msg;                 /* WORKER_JSON_ERR_SYNTAX: what was wrong (static) */
    unsigned err_value;                  /* the code point or byte the error is about */
    unsigned char state;                 /* private: where the member loop stands */
} worker_json_parser_t;

/*
 * One member of the top-level object, as offsets into the text (from base):
 * start is its key's opening quote, key_end is just past the key's closing
 * quote (so the key's JSON body is start + 1 .. key_end - 1), value_start is
 * the value's first byte and end is just past the value. start .. end is the
 * whole member, whitespace around the ':' included.
 */
typedef struct worker_json_member {
    size_t start, key_end, value_start, end;
    worker_json_type_t type; /* of the value */
    bool key_escaped;        /* the key holds a backslash escape */
    bool value_escaped;      /* a string value that holds a backslash escape */
} worker_json_member_t;

/* worker_json_next_members's result once the whole text has been scanned and found valid. */
#define WORKER_JSON_END 1

/* Points ps at text[0..len) (borrowed), before its first byte, with no error. */
void worker_json_init(worker_json_parser_t *ps, const char *text, size_t len);

/* True when text[0..len) holds only JSON whitespace (spaces, tabs, CRs and LFs), or nothing. */
bool worker_json_is_blank(const char *text, size_t len);

/*
 * Starts the scan of the text as one JSON value with optional whitespace
 * around it; *type gets the value's type. An object is only opened here
 * (its members come from worker_json_next_members); any other value is
 * scanned whole, and worker_json_next_members then returns WORKER_JSON_END.
 * EH_OK, or EH_DECLINED: not JSON, the err* fields say why.
 */
EH_MUST_CHECK int worker_json_begin(worker_json_parser_t *ps, worker_json_type_t *type);

/*
 * The next members of the top-level object, after worker_json_begin
 * returned EH_OK, into v[0..cap), in order (duplicate keys included); *n
 * gets how many were stored.
 * EH_OK: v is full (*n == cap) and the object may hold more: call again
 *   with room (the rest of the text is not scanned yet).
 * WORKER_JSON_END: the object is closed and the whole text is valid JSON.
 * EH_DECLINED: not JSON; the err* fields say why (the members stored before
 *   the error are whole).
 * Once it returned WORKER_JSON_END or EH_DECLINED it keeps returning that.
 */
EH_MUST_CHECK int worker_json_next_members(worker_json_parser_t *ps, worker_json_member_t *v, size_t cap, size_t *n);

/*
 * Decodes the body (without the quotes) of a string that the scan
 * accepted (so every escape is well-formed and surrogates are paired) into
 * out, which must hold n bytes: the decoded text is never longer than its
 * JSON form. Returns the decoded length; the output is valid UTF-8 with no
 * NUL and is not NUL-terminated.
 */
size_t worker_json_decode_string(const char *body, size_t n, char *out);

/* The 1-based character (not byte) column of ps->err_at, counting UTF-8 sequences from base. */
size_t worker_json_error_column(const worker_json_parser_t *ps);

/* The 0-based byte offset of ps->err_at from base. */
size_t worker_json_error_offset(const worker_json_parser_t *ps);

/* "an object", "an array", "a string", "a number", "true", "false" or "null", for messages. */
const char *worker_json_type_name(worker_json_type_t type);

/*
 * floor(|v| * 10^scale) into *out for the text of a number v that the
 * scan accepted, exactly (no floating point). *inexact says
 * whether non-zero digits were cut off. False when the result exceeds 10^18
 * (*out and *inexact are then unspecified).
 */
EH_MUST_CHECK bool worker_json_number_scaled(const char *s, size_t len, int scale, uint64_t *out, bool *inexact);

#endif
