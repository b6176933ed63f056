/* uuid.h - random (version 4) UUIDs and their validation. */
#ifndef EH_UUID_H
#define EH_UUID_H

#include <stdbool.h>

#include "eh.h"

/* Writes a new lowercase v4 UUID and its NUL into out. EH_ERR when the kernel gives no randomness. */
EH_MUST_CHECK int eh_uuid_v4(char out[EH_UUID_STRLEN + 1]);

/* True when s is exactly len bytes of the canonical 8-4-4-4-12 hex form (any version, either case). */
bool eh_uuid_valid(const char *s, size_t len);

#endif
