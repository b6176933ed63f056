/*
 * multipart.c - the incremental multipart/form-data parser (multipart.h).
 *
 * The body is read as "\r\n" + body so that a first delimiter at offset 0
 * and every later one are the same string, "\r\n--" boundary: the parser
 * starts with "\r\n" already held back. A valid boundary has no CR, so CR
 * appears in the delimiter only at its start: a partial match that fails
 * can be given out as data whole, with no other alignment to try (no KMP
 * table), and the search is memchr for CR plus a memcmp at each hit.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

enum {
    ST_PREAMBLE,  /* before the first delimiter: bytes are skipped */
    ST_DELIM_END, /* just after "\r\n--" boundary */
    ST_CLOSE,     /* after "\r\n--" boundary "-": the second '-' closes the body */
    ST_PADDING,   /* transport padding after a delimiter, before its CRLF */
    ST_DELIM_LF,  /* the delimiter line's CR was read */
    ST_HEADERS,   /* a part's header block, into mp->hdr */
    ST_DATA,      /* a part's data */
    ST_EPILOGUE,  /* after the close delimiter: bytes are ignored */
    ST_STOPPED,   /* mp->status and mp->reason say why */
};

static int fail(api_multipart_t *mp, const char *reason)
{
    mp->state = ST_STOPPED;
    mp->status = EH_DECLINED;
    mp->reason = reason;
    return EH_DECLINED;
}

/* A callback's verdict: anything but EH_OK stops the parser for good. */
static int callback_result(api_multipart_t *mp, int rc)
{
    if (rc == EH_OK)
        return EH_OK;
    mp->state = ST_STOPPED;
    mp->status = EH_ERR;
    mp->reason = "stopped by the receiver";
    return EH_ERR;
}

/* ---- parameters: Content-Disposition's, and the boundary of a Content-Type ---- */

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p)
{
    while (ows(*p))
        p++;
    return p;
}

/* A token byte of a parameter name: not a control, space, separator of the list, or quote. */
static bool name_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u != 0x7F && c != ';' && c != '=' && c != '"';
}

/* An unquoted value is laxer than a token ('=' and '"' inside pass), as clients send boundaries unquoted. */
static bool value_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u != 0x7F && c != ';';
}

/*
 * At a parameter list's separator (or its end): the next parameter's name
 * and *pp moved past its '='. 1; 0 at the end of the list (a trailing ';'
 * is tolerated); -1 when malformed.
 */
static int param_next(const char **pp, const char **name, size_t *nlen)
{
    const char *p = skip_ows(*pp);
    if (*p == '\0')
        return 0;
    if (*p != ';')
        return -1;
    p = skip_ows(p + 1);
    if (*p == '\0')
        return 0;
    const char *s = p;
    while (name_char(*p))
        p++;
    if (p == s)
        return -1;
    *name = s;
    *nlen = (size_t)(p - s);
    p = skip_ows(p);
    if (*p != '=')
        return -1;
    *pp = p + 1;
    return 1;
}

/*
 * The value at p (a token, or a quoted string whose backslash escapes are
 * undone), written to out[0..cap) and NUL-terminated; out NULL skips it.
 * out may point into the text being read, at or after the '=' before p:
 * each byte is written before the one it came from, and the NUL too.
 * Returns the position after the value, or NULL when it is empty, an open
 * quoted string, or longer than cap.
 */
static const char *param_value(const char *p, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    p = skip_ows(p);
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (*p == '\0')
                return NULL;
            if (out != NULL && n == cap)
                return NULL;
            if (out != NULL)
                out[n] = *p;
            n++;
        }
        p++;
    } else {
        for (; value_char(*p); p++, n++) {
            if (out != NULL && n == cap)
                return NULL;
            if (out != NULL)
                out[n] = *p;
        }
        if (n == 0)
            return NULL;
    }
    if (out != NULL)
        out[n] = '\0';
    *len = n;
    return p;
}

static bool named(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(s, want, len) == 0;
}

/* RFC 2046: 1..70 of DIGIT ALPHA '()+_,-./:=? and space, the last not a space. */
static bool boundary_ok(const char *b, size_t len)
{
    if (len == 0 || len > API_MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && strchr("'()+_,-./:=? ", c) == NULL)
            return false;
    }
    return true;
}

int api_multipart_boundary(const char *content_type, char out[API_MULTIPART_BOUNDARY_MAX + 1])
{
    if (content_type == NULL)
        return EH_DECLINED;
    const char *p = content_type + strcspn(content_type, ";");
    const char *name = NULL;
    size_t nlen = 0, len = 0;
    bool found = false;
    int more;
    while ((more = param_next(&p, &name, &nlen)) == 1) {
        bool mine = named(name, nlen, "boundary");
        if (mine && found)
            return EH_DECLINED; /* two: which one the sender meant is a guess */
        size_t skipped = 0;
        p = param_value(p, mine ? out : NULL, API_MULTIPART_BOUNDARY_MAX, mine ? &len : &skipped);
        if (p == NULL)
            return EH_DECLINED;
        found = found || mine;
    }
    return more == 0 && found && boundary_ok(out, len) ? EH_OK : EH_DECLINED;
}

/* ---- a part's headers ---- */

/* Content-Disposition's value v (NUL-terminated, in mp->hdr): form-data, name, filename; decoded in place. */
static int parse_disposition(api_multipart_t *mp, char *v)
{
    size_t tlen = strcspn(v, "; \t");
    if (!named(v, tlen, "form-data"))
        return fail(mp, "part is not form-data");
    const char *p = v + tlen;
    const char *name = NULL;
    size_t nlen = 0, len = 0;
    int more;
    while ((more = param_next(&p, &name, &nlen)) == 1) {
        const char **slot = NULL;
        if (named(name, nlen, "name"))
            slot = &mp->part.name;
        else if (named(name, nlen, "filename"))
            slot = &mp->part.filename;
        if (slot != NULL && *slot != NULL)
            return fail(mp, "repeated parameter in Content-Disposition");
        char *out = v + (p - v) - 1; /* over the '=': see param_value */
        p = param_value(p, out, SIZE_MAX, &len);
        if (p == NULL)
            return fail(mp, "malformed Content-Disposition");
        if (slot != NULL)
            *slot = out;
    }
    if (more < 0)
        return fail(mp, "malformed Content-Disposition");
    return EH_OK;
}

/* One header line line[0..len) (its CRLF is at line[len]): the two we read, others skipped. */
static int parse_header_line(api_multipart_t *mp, char *line, size_t len, bool *seen_cd)
{
    if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
        return fail(mp, "bare CR or LF in part headers");
    char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return fail(mp, "malformed part header");
    size_t nlen = (size_t)(colon - line);
    while (nlen > 0 && ows(line[nlen - 1]))
        nlen--;
    char *v = colon + 1;
    char *end = line + len;
    while (v < end && ows(*v))
        v++;
    while (end > v && ows(end[-1]))
        end--;
    *end = '\0'; /* over trailing space or the line's CR */
    if (named(line, nlen, "Content-Disposition")) {
        if (*seen_cd)
            return fail(mp, "repeated Content-Disposition");
        *seen_cd = true;
        return parse_disposition(mp, v);
    }
    if (named(line, nlen, "Content-Type")) {
        if (mp->part.content_type != NULL)
            return fail(mp, "repeated Content-Type");
        mp->part.content_type = v;
    }
    return EH_OK;
}

/* The block h[0..n), each line ended by CRLF (the empty line not included). */
static int parse_headers(api_multipart_t *mp, char *h, size_t n)
{
    if (memchr(h, '\0', n) != NULL)
        return fail(mp, "NUL byte in part headers");
    /* Folded lines (CRLF then space or tab) are one line: blank out the CRLF. */
    for (size_t i = 0; i + 2 < n; i++) {
        if (h[i] == '\r' && h[i + 1] == '\n' && ows(h[i + 2]))
            h[i] = h[i + 1] = ' ';
    }
    bool seen_cd = false;
    for (size_t i = 0; i < n;) {
        char *crlf = memmem(h + i, n - i, "\r\n", 2); /* found: the block ends with CRLF */
        size_t len = (size_t)(crlf - (h + i));
        int rc = parse_header_line(mp, h + i, len, &seen_cd);
        if (rc != EH_OK)
            return rc;
        i += len + 2;
    }
    if (!seen_cd)
        return fail(mp, "part without Content-Disposition");
    if (mp->part.name == NULL)
        return fail(mp, "part without a name");
    return EH_OK;
}

/* Collects header bytes up to the next LF; at the empty line, the part begins. */
static int read_headers(api_multipart_t *mp, const char *p, size_t len, size_t *used)
{
    const char *lf = memchr(p, '\n', len);
    size_t n = lf != NULL ? (size_t)(lf - p) + 1 : len;
    if (n > API_MULTIPART_HEADER_MAX - mp->hdr_len)
        return fail(mp, "part headers too long");
    memcpy(mp->hdr + mp->hdr_len, p, n);
    mp->hdr_len += n;
    *used = n;
    size_t h = mp->hdr_len;
    bool empty = h == 2 && memcmp(mp->hdr, "\r\n", 2) == 0;
    if (lf == NULL || !(empty || (h >= 4 && memcmp(mp->hdr + h - 4, "\r\n\r\n", 4) == 0)))
        return EH_OK;
    memset(&mp->part, 0, sizeof(mp->part));
    mp->part.index = mp->parts - 1;
    int rc = parse_headers(mp, mp->hdr, h - 2);
    if (rc != EH_OK)
        return rc;
    mp->state = ST_DATA;
    mp->hold_len = 0;
    mp->in_part = true;
    return callback_result(mp, mp->cb.part_begin != NULL ? mp->cb.part_begin(mp->ud, &mp->part) : EH_OK);
}

/* ---- delimiters and data ---- */

/* data[0..len) belongs to the current part (or to the preamble, where it is dropped). */
static int give(api_multipart_t *mp, const char *data, size_t len)
{
    if (len == 0 || mp->state != ST_DATA)
        return EH_OK;
    if (mp->cb.part_data != NULL) {
        int rc = callback_result(mp, mp->cb.part_data(mp->ud, &mp->part, data, len));
        if (rc != EH_OK)
            return rc;
    }
    mp->part.offset += len;
    return EH_OK;
}

/*
 * In the preamble or a part's data: gives out p[0..len) up to the next
 * delimiter and moves to ST_DELIM_END after it; a possible delimiter start
 * at the end is held back. *used: the bytes consumed.
 */
static int scan(api_multipart_t *mp, const char *p, size_t len, size_t *used)
{
    const char *d = mp->delim;
    size_t dlen = mp->dlen;
    *used = len;
    if (mp->hold_len > 0) {
        size_t need = dlen - mp->hold_len;
        size_t n = len < need ? len : need;
        if (memcmp(p, d + mp->hold_len, n) == 0) {
            if (n < need) {
                memcpy(mp->hold + mp->hold_len, p, n);
                mp->hold_len += n;
                return EH_OK;
            }
            mp->hold_len = 0;
            mp->state = ST_DELIM_END;
            *used = n;
            return EH_OK;
        }
        /* Not the delimiter: the held bytes were data (no CR after their first byte to retry at). */
        size_t held = mp->hold_len;
        mp->hold_len = 0;
        int rc = give(mp, mp->hold, held);
        if (rc != EH_OK)
            return rc;
    }
    const char *end = p + len;
    for (const char *q = p; (q = memchr(q, '\r', (size_t)(end - q))) != NULL; q++) {
        size_t rest = (size_t)(end - q);
        if (memcmp(q, d, rest < dlen ? rest : dlen) != 0)
            continue;
        int rc = give(mp, p, (size_t)(q - p));
        if (rc != EH_OK)
            return rc;
        if (rest < dlen) {
            memcpy(mp->hold, q, rest);
            mp->hold_len = rest;
            return EH_OK;
        }
        mp->state = ST_DELIM_END;
        *used = (size_t)(q - p) + dlen;
        return EH_OK;
    }
    return give(mp, p, len);
}

/* The delimiter line is whole: the part before it (if any) ends. */
static int delimiter_done(api_multipart_t *mp, int next)
{
    mp->state = next;
    if (!mp->in_part)
        return EH_OK;
    mp->in_part = false;
    return callback_result(mp, mp->cb.part_end != NULL ? mp->cb.part_end(mp->ud, &mp->part) : EH_OK);
}

/* One byte of the rest of a delimiter line: "--" (close), or padding then CRLF. */
static int delimiter_byte(api_multipart_t *mp, char c)
{
    switch (mp->state) {
    case ST_DELIM_END:
    case ST_PADDING:
        if (c == '-' && mp->state == ST_DELIM_END) {
            mp->state = ST_CLOSE;
            return EH_OK;
        }
        if (ows(c)) {
            mp->state = ST_PADDING;
            return EH_OK;
        }
        if (c == '\r') {
            mp->state = ST_DELIM_LF;
            return EH_OK;
        }
        break;
    case ST_CLOSE:
        if (c == '-')
            return delimiter_done(mp, ST_EPILOGUE);
        break;
    case ST_DELIM_LF:
        if (c != '\n')
            break;
        if (delimiter_done(mp, ST_HEADERS) != EH_OK)
            return mp->status;
        if (mp->parts == API_MULTIPART_PARTS_MAX)
            return fail(mp, "too many parts"); /* the last one allowed has ended first */
        mp->parts++;
        mp->hdr_len = 0;
        return EH_OK;
    }
    return fail(mp, "malformed delimiter line");
}

/* ---- the parser's life ---- */

int api_multipart_init(api_multipart_t *mp, const char *boundary, size_t len, const api_multipart_callbacks_t *cb,
                       void *ud)
{
    memset(mp, 0, sizeof(*mp));
    if (!boundary_ok(boundary, len))
        return EH_DECLINED;
    mp->hdr = malloc(API_MULTIPART_HEADER_MAX + 1);
    if (mp->hdr == NULL)
        return EH_ERR;
    if (cb != NULL)
        mp->cb = *cb;
    mp->ud = ud;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, len);
    mp->dlen = 4 + len;
    memcpy(mp->hold, "\r\n", 2); /* the body is read as if it followed a line end */
    mp->hold_len = 2;
    mp->state = ST_PREAMBLE;
    return EH_OK;
}

int api_multipart_feed(api_multipart_t *mp, const char *data, size_t len)
{
    if (mp->state == ST_STOPPED)
        return mp->status;
    for (size_t i = 0; i < len && mp->state != ST_EPILOGUE;) {
        size_t used = 1;
        int rc;
        if (mp->state == ST_PREAMBLE || mp->state == ST_DATA)
            rc = scan(mp, data + i, len - i, &used);
        else if (mp->state == ST_HEADERS)
            rc = read_headers(mp, data + i, len - i, &used);
        else
            rc = delimiter_byte(mp, data[i]);
        if (rc != EH_OK)
            return rc;
        i += used;
    }
    return EH_OK;
}

int api_multipart_finish(api_multipart_t *mp)
{
    if (mp->state == ST_STOPPED)
        return mp->status;
    if (mp->state != ST_EPILOGUE)
        return fail(mp, "body ends before the closing delimiter");
    return EH_OK;
}

const char *api_multipart_reason(const api_multipart_t *mp)
{
    return mp->reason;
}

void api_multipart_free(api_multipart_t *mp)
{
    if (mp == NULL)
        return;
    free(mp->hdr);
    mp->hdr = NULL;
}
