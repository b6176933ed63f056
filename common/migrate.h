/*
 * migrate.h - applies migrations/NNNN_name.sql files in numeric order.
 *
 * Each file runs in its own transaction together with its row in
 * schema_migrations (version, name, checksum, applied_at), so a file is
 * either applied and recorded or neither. The whole run holds a session
 * advisory lock, so that several processes starting at once apply each file
 * exactly once. A file must not contain transaction control (BEGIN/COMMIT)
 * or statements that cannot run inside a transaction.
 */
#ifndef EH_MIGRATE_H
#define EH_MIGRATE_H

#include "db.h"
#include "eh.h"

/* Files larger than this are refused: a migration is source code, not data. */
#define EH_MIGRATE_MAX_FILE_BYTES (10 * 1024 * 1024)

/*
 * Applies the pending files of dir on db (borrowed, not in a transaction)
 * and sets *applied (may be NULL) to how many were applied, also on error.
 * Before applying anything, refuses with EH_ERR (and a log line naming the
 * file) when a recorded file changed (checksum) or disappeared. Returns
 * EH_OK (also when up to date), EH_AGAIN when the database went away, or
 * EH_ERR; on error the failing file's transaction is rolled back and the
 * files applied before it stay applied. The advisory lock is released on
 * every path.
 */
EH_MUST_CHECK int eh_migrate_run(eh_db_t *db, const char *dir, int *applied);

/* The directory to read migrations from: $EH_MIGRATIONS_DIR when set and not empty, else "migrations". */
const char *eh_migrate_default_dir(void);

/* The checksum recorded for a file: 64-bit FNV-1a of its bytes as 16 lowercase hex digits and a NUL. */
void eh_migrate_checksum(const char *data, size_t len, char out[17]);

#endif
