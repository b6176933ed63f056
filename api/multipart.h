/*
 * multipart.h - an incremental multipart/form-data parser (RFC 7578 framing
 * per RFC 2046) for the upload path, fed the raw request body in chunks of
 * any size, split anywhere.
 *
 * It calls back when a part begins (its field name, filename and content
 * type from the part headers), for each run of the part's data and when the
 * part ends. Data is handed out as pointers into the caller's chunk; only the
 * bytes at a chunk's end that may begin a delimiter are held back (at most
 * boundary length + 3 bytes) and handed out from an internal buffer once the
 * next chunk shows they were data. A part's data costs one memchr pass for
 * '\r' plus a compare at each CR.
 *
 * Accepted: a preamble before the first delimiter (skipped), transport
 * padding (spaces, tabs) after a delimiter, header lines folded with leading
 * whitespace, an epilogue after the close delimiter (ignored). Refused, with
 * a short reason: a delimiter line with anything else after the boundary, a
 * part header block over API_MULTIPART_HEADER_MAX bytes or holding a NUL,
 * bare CR or LF, or a line without ':', more than API_MULTIPART_PARTS_MAX
 * parts, a part without "Content-Disposition: form-data" and a name
 * parameter, a repeated Content-Disposition, Content-Type, name or filename,
 * an unterminated quoted string, and a body that ends before the close
 * delimiter (told by api_multipart_finish).
 *
 * No global state; the caller owns the parser struct. One allocation (the
 * header buffer) at init, none per chunk.
 */
#ifndef EH_API_MULTIPART_H
#define EH_API_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

#define API_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */
#define API_MULTIPART_HEADER_MAX 8192 /* one part's header block, its closing empty line included */
#define API_MULTIPART_PARTS_MAX 64

/*
 * The part being parsed, as the callbacks see it. The strings are
 * NUL-terminated and borrowed: valid from part_begin until part_end returns
 * (or the parser stops).
 */
typedef struct api_multipart_part {
    const char *name;         /* the name parameter, unquoted; never NULL (may be "") */
    const char *filename;     /* the filename parameter, unquoted; NULL when absent (filename* is ignored) */
    const char *content_type; /* the part's Content-Type value, trimmed; NULL when absent */
    unsigned index;           /* 0 for the first part of the body */
    uint64_t offset;          /* bytes of this part's data handed out before this call (its size at part_end) */
} api_multipart_part_t;

/*
 * Each callback returns EH_OK to go on; anything else stops the parser
 * (api_multipart_feed returns EH_ERR from then on). Any of them may be NULL.
 * They must not feed, finish or free the parser that calls them.
 */
typedef struct api_multipart_callbacks {
    int (*part_begin)(void *ud, const api_multipart_part_t *part);
    /* len > 0. data is borrowed for the call only: into the chunk being fed, or (a few bytes) the parser's own. */
    int (*part_data)(void *ud, const api_multipart_part_t *part, const char *data, size_t len);
    /* The part's closing delimiter line was read whole: no more data follows for it. */
    int (*part_end)(void *ud, const api_multipart_part_t *part);
} api_multipart_callbacks_t;

/* Private to multipart.c; a struct so that the caller can hold it by value. */
typedef struct api_multipart {
    api_multipart_callbacks_t cb;
    void *ud;
    char delim[4 + API_MULTIPART_BOUNDARY_MAX]; /* "\r\n--" boundary */
    size_t dlen;
    char hold[4 + API_MULTIPART_BOUNDARY_MAX]; /* a proper prefix of delim seen at the end of the last chunk */
    size_t hold_len;
    char *hdr; /* the current part's header block (API_MULTIPART_HEADER_MAX + 1 bytes), then its strings */
    size_t hdr_len;
    int state;
    int status; /* EH_OK; EH_DECLINED (malformed body) or EH_ERR (a callback stopped) once stopped */
    const char *reason;
    unsigned parts;
    bool in_part; /* part_begin was called and part_end not yet */
    api_multipart_part_t part;
} api_multipart_t;

/*
 * Prepares mp for one body framed by boundary[0..len) (as found by
 * api_multipart_boundary). cb is copied. EH_OK; EH_DECLINED when the
 * boundary is not 1..70 RFC 2046 characters (not ending in a space); EH_ERR
 * when out of memory. On failure mp needs no api_multipart_free (it may
 * still be given one).
 */
EH_MUST_CHECK int api_multipart_init(api_multipart_t *mp, const char *boundary, size_t len,
                                     const api_multipart_callbacks_t *cb, void *ud);

/*
 * Parses the next len bytes of the body (data may be NULL when len is 0),
 * calling back as parts begin, carry data and end. EH_OK; EH_DECLINED when
 * the body is malformed (api_multipart_reason says why); EH_ERR when a
 * callback stopped it. Once stopped, every later call returns the same
 * status and does nothing. Bytes after the close delimiter are ignored.
 */
EH_MUST_CHECK int api_multipart_feed(api_multipart_t *mp, const char *data, size_t len);

/*
 * The body has ended. EH_OK when the close delimiter was read; else the
 * status of an earlier stop, or EH_DECLINED ("body ends before the closing
 * delimiter"). A part cut short gets no part_end.
 */
EH_MUST_CHECK int api_multipart_finish(api_multipart_t *mp);

/* Why the parser stopped: a short static phrase for a 400 body; NULL while it has not. */
const char *api_multipart_reason(const api_multipart_t *mp);

/* Frees what init allocated; mp may be NULL or freed already. */
void api_multipart_free(api_multipart_t *mp);

/*
 * The boundary parameter of a Content-Type header value (NUL-terminated,
 * e.g. `multipart/form-data; boundary="a b"`; NULL is declined), unquoted,
 * into out. The parameters are parsed in order (a quoted value may hold ';'
 * or "boundary="), the parameter name is case-insensitive. EH_OK, or
 * EH_DECLINED when there is none, there are two, the value is malformed, or
 * it is not a valid RFC 2046 boundary (out is then unspecified). It does not
 * check the media type.
 */
EH_MUST_CHECK int api_multipart_boundary(const char *content_type, char out[API_MULTIPART_BOUNDARY_MAX + 1]);

#endif
