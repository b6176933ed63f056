#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

/* "EHMIGRAT" as a big-endian 64-bit number: the session advisory lock every runner takes. */
static const char MIGRATE_LOCK_KEY[] = "4992325164064719188";

static const char SQL_TRY_LOCK[] = "SELECT pg_try_advisory_lock($1::bigint)";
static const char SQL_LOCK[] = "SELECT pg_advisory_lock($1::bigint)";
static const char SQL_UNLOCK[] = "SELECT pg_advisory_unlock($1::bigint)";
static const char SQL_CREATE_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "version integer PRIMARY KEY, "
                                       "name text NOT NULL, "
                                       "checksum text NOT NULL, "
                                       "applied_at timestamptz NOT NULL DEFAULT now())";
static const char SQL_RECORDED[] = "SELECT version, name, checksum FROM schema_migrations ORDER BY version";
enum { RECORDED_COL_VERSION, RECORDED_COL_NAME, RECORDED_COL_CHECKSUM };
static const char SQL_RECORD[] = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::integer, $2, $3)";

typedef struct mig_file {
    int version;
    char *name;    /* file name inside the directory */
    bool recorded; /* schema_migrations has its version */
} mig_file_t;

typedef struct mig_list {
    mig_file_t *v;
    size_t n, cap;
} mig_list_t;

const char *eh_migrate_default_dir(void)
{
    const char *dir = getenv("EH_MIGRATIONS_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : "migrations";
}

void eh_migrate_checksum(const char *data, size_t len, char out[17])
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL; /* FNV-1a 64 prime */
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

static void list_free(mig_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* NNNN_something.sql; the version is the four digits. */
static bool parse_name(const char *name, int *version)
{
    size_t len = strlen(name);
    if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
        return false;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *version = v;
    return true;
}

static int cmp_version(const void *a, const void *b)
{
    const mig_file_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static int list_files(const char *dir, mig_list_t *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        int err = errno;
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "dir", dir, "errno", err), "cannot open migrations dir: %s",
                  strerror(err));
        return EH_ERR;
    }
    int rc = EH_ERR;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0) {
                eh_log_errno(EH_LOG_ERROR, errno, "read migrations dir");
                goto out;
            }
            break;
        }
        int version;
        if (!parse_name(e->d_name, &version)) {
            size_t len = strlen(e->d_name);
            if (len >= 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
                eh_log_kv(EH_LOG_WARN, json_pack("{s:s}", "file", e->d_name),
                          "ignoring a .sql file not named NNNN_name.sql");
            continue;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            mig_file_t *v = realloc(out->v, cap * sizeof(*v));
            if (v == NULL)
                goto oom;
            out->v = v;
            out->cap = cap;
        }
        char *name = strdup(e->d_name);
        if (name == NULL)
            goto oom;
        out->v[out->n++] = (mig_file_t){.version = version, .name = name};
    }
    if (out->n > 0)
        qsort(out->v, out->n, sizeof(*out->v), cmp_version);
    for (size_t i = 1; i < out->n; i++) {
        if (out->v[i].version == out->v[i - 1].version) {
            eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:s}", "file", out->v[i - 1].name, "other", out->v[i].name),
                      "two migration files share version %04d", out->v[i].version);
            goto out;
        }
    }
    rc = EH_OK;
    goto out;
oom:
    eh_log_errno(EH_LOG_ERROR, ENOMEM, "list migrations");
out:
    closedir(d);
    return rc;
}

/* Reads dir/name whole (at most EH_MIGRATE_MAX_FILE_BYTES); *data is new and NUL-terminated. */
static int read_file(const char *dir, const char *name, char **data, size_t *len)
{
    char path[4096];
    int rc = EH_ERR;
    char *buf = NULL;
    *data = NULL;
    *len = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "file", name), "migration path too long");
        return EH_ERR;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:i}", "file", path, "errno", err), "cannot open migration: %s",
                  strerror(err));
        return EH_ERR;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        eh_log_errno(EH_LOG_ERROR, errno, "stat migration");
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > EH_MIGRATE_MAX_FILE_BYTES) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:I}", "file", path, "size", (json_int_t)st.st_size),
                  "migration is not a regular file of at most %d bytes", EH_MIGRATE_MAX_FILE_BYTES);
        goto out;
    }
    /* One byte more than the size, to notice a file that grows while it is read. */
    size_t cap = (size_t)st.st_size + 1;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        eh_log_errno(EH_LOG_ERROR, ENOMEM, "read migration");
        goto out;
    }
    size_t off = 0;
    while (off < cap) {
        ssize_t n = read(fd, buf + off, cap - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            eh_log_errno(EH_LOG_ERROR, errno, "read migration");
            goto out;
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    if (off != (size_t)st.st_size) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "file", path), "migration changed while being read");
        goto out;
    }
    /* The body goes to the server as a C string: a NUL would silently cut it short. */
    if (memchr(buf, '\0', off) != NULL) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "file", path), "migration holds a NUL byte");
        goto out;
    }
    buf[off] = '\0';
    *data = buf;
    *len = off;
    buf = NULL;
    rc = EH_OK;
out:
    free(buf);
    close(fd);
    return rc;
}

static int file_checksum(const char *dir, const char *name, char out[17])
{
    char *data;
    size_t len;
    if (read_file(dir, name, &data, &len) != EH_OK)
        return EH_ERR;
    eh_migrate_checksum(data, len, out);
    free(data);
    return EH_OK;
}

static mig_file_t *find_version(mig_list_t *l, int version)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].version == version)
            return &l->v[i];
    return NULL;
}

/* Every recorded migration must still have its file, unchanged. Marks the recorded files. */
static int verify_recorded(const PGresult *rec, mig_list_t *files, const char *dir, int *max_recorded)
{
    *max_recorded = -1;
    for (int r = 0; r < PQntuples(rec); r++) {
        int version = (int)strtol(PQgetvalue(rec, r, RECORDED_COL_VERSION), NULL, 10);
        const char *name = PQgetvalue(rec, r, RECORDED_COL_NAME);
        const char *want = PQgetvalue(rec, r, RECORDED_COL_CHECKSUM);
        if (version > *max_recorded)
            *max_recorded = version;
        mig_file_t *f = find_version(files, version);
        if (f == NULL) {
            eh_log_kv(EH_LOG_ERROR, json_pack("{s:i, s:s, s:s}", "version", version, "name", name, "dir", dir),
                      "migration %04d (%s) is recorded as applied but its file is missing; refusing to migrate",
                      version, name);
            return EH_ERR;
        }
        f->recorded = true;
        char got[17];
        if (file_checksum(dir, f->name, got) != EH_OK)
            return EH_ERR;
        if (strcmp(got, want) != 0) {
            eh_log_kv(EH_LOG_ERROR,
                      json_pack("{s:i, s:s, s:s, s:s}", "version", version, "file", f->name, "recorded_checksum", want,
                                "file_checksum", got),
                      "applied migration %s was changed after it was applied; refusing to migrate "
                      "(add a new migration instead)",
                      f->name);
            return EH_ERR;
        }
        if (strcmp(name, f->name) != 0)
            eh_log_kv(EH_LOG_WARN,
                      json_pack("{s:i, s:s, s:s}", "version", version, "recorded_name", name, "file", f->name),
                      "migration file was renamed after it was applied (content unchanged)");
    }
    return EH_OK;
}

/* Runs one file and records it, in one transaction. */
static int apply_one(eh_db_t *db, const char *dir, const mig_file_t *f)
{
    PGconn *conn = eh_db_conn(db);
    char *body = NULL;
    size_t len;
    PGresult *res = NULL;
    int rc = EH_ERR;
    int64_t t0 = eh_time_mono_ms();
    if (read_file(dir, f->name, &body, &len) != EH_OK)
        return EH_ERR;
    char sum[17];
    eh_migrate_checksum(body, len, sum);

    rc = eh_db_begin(db);
    if (rc != EH_OK)
        goto out;
    /* The simple protocol, because a file holds several statements; files are the project's own code. */
    res = PQexec(conn, body);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COPY_IN) {
        /* COPY FROM STDIN has no data to read here: end it so that the rollback below can run. */
        PQclear(res);
        res = NULL;
        if (PQputCopyEnd(conn, "COPY FROM STDIN is not supported in migrations") == 1)
            for (int i = 0; i < 16 && (res = PQgetResult(conn)) != NULL; i++)
                PQclear(res);
        res = NULL;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        char text[512];
        snprintf(text, sizeof(text), "%s", st == PGRES_COPY_IN ? "COPY FROM STDIN is not supported" : msg);
        text[strcspn(text, "\n")] = '\0';
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s, s:s}", "file", f->name, "sqlstate", state != NULL ? state : ""),
                  "migration %s failed: %s", f->name, text);
        rc = PQstatus(conn) == CONNECTION_BAD ? EH_AGAIN : EH_ERR;
        goto out;
    }
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        eh_log_kv(EH_LOG_ERROR, json_pack("{s:s}", "file", f->name),
                  "migration %s ended the transaction itself (BEGIN/COMMIT in the file are not allowed)", f->name);
        rc = PQstatus(conn) == CONNECTION_BAD ? EH_AGAIN : EH_ERR;
        goto out;
    }
    char version[16];
    snprintf(version, sizeof(version), "%d", f->version);
    const char *params[] = {version, f->name, sum};
    rc = eh_db_exec(db, SQL_RECORD, 3, params);
    if (rc != EH_OK)
        goto out;
    rc = eh_db_commit(db);
    if (rc != EH_OK)
        goto out;
    eh_log_kv(EH_LOG_INFO,
              json_pack("{s:i, s:s, s:s, s:I}", "version", f->version, "file", f->name, "checksum", sum, "ms",
                        (json_int_t)(eh_time_mono_ms() - t0)),
              "migration applied");
out:
    PQclear(res);
    if (rc != EH_OK)
        eh_db_rollback(db);
    free(body);
    return rc;
}

/* Takes the runner lock, saying so when another runner holds it. */
static int take_lock(eh_db_t *db)
{
    const char *params[] = {MIGRATE_LOCK_KEY};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_TRY_LOCK, 1, params, &status);
    if (res == NULL)
        return status;
    bool got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got)
        return EH_OK;
    eh_log_info("another migration runner holds the lock; waiting for it");
    return eh_db_exec(db, SQL_LOCK, 1, params);
}

static void release_lock(eh_db_t *db)
{
    /* A session lock dies with its session: nothing to release on a lost connection. */
    if (PQstatus(eh_db_conn(db)) != CONNECTION_OK)
        return;
    const char *params[] = {MIGRATE_LOCK_KEY};
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_UNLOCK, 1, params, &status);
    if (res == NULL)
        return; /* logged */
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        eh_log_warn("migration lock was not held at release");
    PQclear(res);
}

int eh_migrate_run(eh_db_t *db, const char *dir, int *applied)
{
    mig_list_t files = {0};
    PGresult *rec = NULL;
    bool locked = false;
    int count = 0;
    int rc = EH_ERR;
    if (applied != NULL)
        *applied = 0;
    if (PQtransactionStatus(eh_db_conn(db)) != PQTRANS_IDLE) {
        eh_log_error("migrations must start on an idle connection (not in a transaction)");
        return EH_ERR;
    }
    rc = list_files(dir, &files);
    if (rc != EH_OK)
        goto out;
    rc = take_lock(db);
    if (rc != EH_OK)
        goto out;
    locked = true;
    /* Under the lock, so that two first runs do not race to create it. */
    rc = eh_db_exec(db, SQL_CREATE_TABLE, 0, NULL);
    if (rc != EH_OK)
        goto out;
    rec = eh_db_query(db, SQL_RECORDED, 0, NULL, &rc);
    if (rec == NULL)
        goto out;
    int max_recorded;
    rc = verify_recorded(rec, &files, dir, &max_recorded);
    if (rc != EH_OK)
        goto out;
    /* Pending files that cannot be read (too big, NUL byte) stop the run before any of them is applied. */
    for (size_t i = 0; i < files.n; i++) {
        char sum[17];
        if (!files.v[i].recorded && (rc = file_checksum(dir, files.v[i].name, sum)) != EH_OK)
            goto out;
    }
    for (size_t i = 0; i < files.n; i++) {
        mig_file_t *f = &files.v[i];
        if (f->recorded)
            continue;
        if (f->version < max_recorded)
            eh_log_kv(EH_LOG_WARN, json_pack("{s:s, s:i}", "file", f->name, "latest_applied", max_recorded),
                      "applying a migration older than the latest applied one");
        rc = apply_one(db, dir, f);
        if (rc != EH_OK)
            goto out;
        count++;
        if (applied != NULL)
            *applied = count;
    }
    eh_log_kv(EH_LOG_INFO, json_pack("{s:s, s:i, s:i}", "dir", dir, "applied", count, "files", (int)files.n),
              count > 0 ? "migrations applied" : "schema up to date");
out:
    PQclear(rec);
    if (locked)
        release_lock(db);
    list_free(&files);
    if (rc != EH_OK && PQstatus(eh_db_conn(db)) == CONNECTION_BAD)
        rc = EH_AGAIN;
    return rc;
}
