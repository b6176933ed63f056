/*
 * utf8.h - the one UTF-8 validator of the project (RFC 3629: no overlong
 * forms, no UTF-16 surrogates, nothing above U+10FFFF).
 *
 * eh_utf8_seq is inline because the line validator calls it per byte of
 * every string it scans; everything else builds on it.
 */
#ifndef EH_UTF8_H
#define EH_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eh.h"

/* Length (1 to 4) of the well-formed sequence at p, with avail >= 1 bytes readable; 0 when it is not valid. */
static inline size_t eh_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 (overlong ASCII), F5..FF */
    }
    if (avail < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* Like eh_utf8_seq, and sets *cp to the code point of a valid sequence. */
size_t eh_utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp);
/* Whether s[0..len) is entirely valid UTF-8 (NUL bytes are valid UTF-8; callers that refuse them check apart). */
bool eh_utf8_valid(const char *s, size_t len);
/* The offset of the first invalid byte of s[0..len), or len when all of it is valid. */
size_t eh_utf8_invalid_at(const char *s, size_t len);
/* n moved back to the start of the character that s[n] belongs to (s[0..n] readable), so that s[0..n) never ends mid-character. */
size_t eh_utf8_boundary(const char *s, size_t n);
/* The largest m <= n such that s[0..m) does not end with an incomplete sequence (for cutting valid text short). */
size_t eh_utf8_trim(const char *s, size_t n);
/* Writes code point cp (at most U+10FFFF) as UTF-8 to out[0..4); the bytes written, or 0 for a cp past U+10FFFF. */
size_t eh_utf8_encode(uint32_t cp, char out[4]);
/* What the single-character escape \c of JSON and GraphQL strings stands for, or '\0' when c is not one. */
static inline char eh_escape_char(char c)
{
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return c;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return '\0';
    }
}
/* The value of hex digit c (either case), or -1. */
static inline int eh_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
