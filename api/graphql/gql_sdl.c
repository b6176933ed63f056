/*
 * The schema's SDL, embedded at build time from api/graphql/schema.graphql
 * (the one source of truth: eh-api parses it at start, the tests compare
 * the introspection answer with it). The assembler includes the file's
 * bytes and a NUL after them; the Makefile rebuilds this object when the
 * file changes.
 */
#include <stddef.h>

#include "gql_sdl.h"

__asm__(".section .rodata\n"
        ".global api_gql_sdl_text\n"
        ".type api_gql_sdl_text, @object\n"
        "api_gql_sdl_text:\n"
        ".incbin \"api/graphql/schema.graphql\"\n"
        ".byte 0\n"
        ".global api_gql_sdl_end\n"
        "api_gql_sdl_end:\n"
        ".previous\n");

size_t api_gql_sdl_len(void)
{
    return (size_t)(api_gql_sdl_end - api_gql_sdl_text) - 1;
}
