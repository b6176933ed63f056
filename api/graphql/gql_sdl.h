/* gql_sdl.h - the embedded schema.graphql. */
#ifndef EH_API_GQL_SDL_H
#define EH_API_GQL_SDL_H

#include <stddef.h>

extern const char api_gql_sdl_text[]; /* NUL-terminated */
extern const char api_gql_sdl_end[];
size_t api_gql_sdl_len(void);

#endif
