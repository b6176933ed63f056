/*
 * The cache of verified API keys, its revocation poller and the per-key
 * token buckets (keyring.h says what is guaranteed).
 *
 * Only rows that exist are cached (valid or revoked), so the table is
 * bounded by the number of keys ever made, not by what clients send: an
 * unknown prefix costs one indexed read every time (an attacker's random
 * keys cannot evict the buckets of real ones). Past MAX_ENTRIES nothing new
 * is cached; such keys still work, at one read each.
 */
#include "keyring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keepalive.h"
#include "log.h"
#include "stop.h"
#include "timefmt.h"

#define NBUCKETS 4096
#define MAX_ENTRIES 100000
#define POLL_MS 250
#define TRUST_MS 1000         /* the cache is trusted this long after the last successful poll */
#define RECONNECT_MAX_MS 5000 /* back-off ceiling while the database is unreachable */
#define KEY_DB_WAIT_MS 2000

/* One statement, one snapshot: the counter value an entry is stamped with matches the row it read. */
static const char SQL_KEY[] =
    "SELECT s.revocations, k.id::text, k.tenant_id::text, k.hash, k.scope, k.revoked_at IS NULL "
    "FROM auth_state s LEFT JOIN api_keys k ON k.prefix = $1 WHERE s.id = 1";
static const char SQL_POLL[] = "SELECT revocations FROM auth_state WHERE id = 1";

typedef struct entry {
    char prefix[EH_APIKEY_PREFIX_LEN + 1];
    unsigned char hash[EH_APIKEY_HASH_LEN];
    api_key_info_t info;
    bool valid;  /* false: revoked */
    int64_t seq; /* auth_state.revocations when the row was read */
    api_bucket_t bucket;
    struct entry *next;
} entry_t;

struct api_keyring {
    char *db_url;
    eh_db_pool_t *pool;
    int64_t rps, burst;
    pthread_mutex_t mu;
    entry_t *buckets[NBUCKETS];
    int count;
    _Atomic int64_t seq;       /* last polled counter; -1 before the first poll */
    _Atomic int64_t polled_ms; /* monotonic ms of the last successful poll */
    pthread_t thread;
    bool started;
    eh_stop_t *stop;
    eh_keepalive_t *db; /* the poller's own connection, reopened with back-off */
};

bool api_bucket_take(api_bucket_t *b, int64_t now_ms, int64_t rps, int64_t burst, int64_t *retry_after_s)
{
    if (rps <= 0)
        return true;
    if (b->last_ms == 0) {
        b->tokens = (double)burst;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * (double)rps / 1000.0;
        if (b->tokens > (double)burst)
            b->tokens = (double)burst;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    double wait_s = (1.0 - b->tokens) / (double)rps;
    int64_t whole = (int64_t)wait_s;
    if ((double)whole < wait_s)
        whole++;
    *retry_after_s = whole < 1 ? 1 : whole;
    return false;
}

static unsigned bucket_of(const char *prefix)
{
    uint32_t h = 2166136261u; /* FNV-1a; prefixes are random already */
    for (const char *p = prefix; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h & (NBUCKETS - 1);
}

static entry_t *find(api_keyring_t *kr, const char *prefix)
{
    for (entry_t *e = kr->buckets[bucket_of(prefix)]; e != NULL; e = e->next) {
        if (strcmp(e->prefix, prefix) == 0)
            return e;
    }
    return NULL;
}

api_keyring_t *api_keyring_create(const char *db_url, eh_db_pool_t *pool, int64_t rps, int64_t burst)
{
    api_keyring_t *kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        return NULL;
    kr->db_url = strdup(db_url);
    kr->pool = pool;
    kr->rps = rps;
    kr->burst = burst;
    atomic_init(&kr->seq, -1);
    atomic_init(&kr->polled_ms, 0);
    kr->stop = eh_stop_create();
    kr->db =
        kr->db_url != NULL ? eh_keepalive_create(&eh_db_keepalive_ops, kr->db_url, POLL_MS, RECONNECT_MAX_MS) : NULL;
    if (kr->db_url == NULL || kr->stop == NULL || kr->db == NULL || pthread_mutex_init(&kr->mu, NULL) != 0) {
        eh_keepalive_destroy(kr->db);
        eh_stop_destroy(kr->stop);
        free(kr->db_url);
        free(kr);
        return NULL; /* a failed init at start: the process exits, nothing else to undo */
    }
    return kr;
}

static void poll_once(api_keyring_t *kr)
{
    eh_db_t *db = eh_keepalive_get(kr->db);
    if (db == NULL)
        return;
    int status = EH_ERR;
    PGresult *res = eh_db_query(db, SQL_POLL, 0, NULL, &status);
    if (res == NULL) {
        if (status == EH_AGAIN)
            eh_keepalive_broken(kr->db);
        return;
    }
    if (PQntuples(res) == 1) {
        atomic_store(&kr->seq, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        atomic_store(&kr->polled_ms, eh_time_mono_ms());
    }
    PQclear(res);
}

static void *poller_main(void *arg)
{
    api_keyring_t *kr = arg;
    bool warned = false;
    do {
        poll_once(kr);
        bool stale = eh_time_mono_ms() - atomic_load(&kr->polled_ms) > TRUST_MS;
        if (stale && !warned)
            eh_log_warn("cannot read the key revocation counter: every key is read from the database");
        warned = stale;
    } while (!eh_stop_sleep_ms(kr->stop, POLL_MS));
    return NULL;
}

int api_keyring_start(api_keyring_t *kr)
{
    if (pthread_create(&kr->thread, NULL, poller_main, kr) != 0) {
        eh_log_error("cannot start the key revocation poller");
        return EH_ERR;
    }
    kr->started = true;
    return EH_OK;
}

void api_keyring_destroy(api_keyring_t *kr)
{
    if (kr == NULL)
        return;
    if (kr->started) {
        eh_stop_request(kr->stop);
        pthread_join(kr->thread, NULL);
    }
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (entry_t *e = kr->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    eh_keepalive_destroy(kr->db);
    eh_stop_destroy(kr->stop);
    pthread_mutex_destroy(&kr->mu);
    free(kr->db_url);
    free(kr);
}

/* The cached verdict: EH_OK / EH_DECLINED, or EH_AGAIN when the row must be read again. Under kr->mu. */
/* Caches (or refreshes, keeping its bucket) what the database said of prefix. Under kr->mu. */
static void remember(api_keyring_t *kr, const char *prefix, const unsigned char stored[EH_APIKEY_HASH_LEN],
                     const api_key_info_t *info, bool valid, int64_t seq)
{
    entry_t *e = find(kr, prefix);
    if (e == NULL) {
        if (kr->count >= MAX_ENTRIES || (e = calloc(1, sizeof(*e))) == NULL)
            return;
        memcpy(e->prefix, prefix, sizeof(e->prefix));
        unsigned b = bucket_of(prefix);
        e->next = kr->buckets[b];
        kr->buckets[b] = e;
        kr->count++;
    }
    memcpy(e->hash, stored, EH_APIKEY_HASH_LEN);
    e->info = *info;
    e->valid = valid;
    e->seq = seq;
}

/* Reads the row of prefix. EH_OK (row found, out/stored/valid set), EH_DECLINED (no row) or EH_AGAIN. */
static int read_key(api_keyring_t *kr, const char *prefix, api_key_info_t *out,
                    unsigned char stored[EH_APIKEY_HASH_LEN], bool *valid, int64_t *seq)
{
    int status = EH_AGAIN;
    eh_db_t *db = eh_db_pool_acquire(kr->pool, KEY_DB_WAIT_MS, &status);
    if (db == NULL)
        return EH_AGAIN;
    const char *params[] = {prefix};
    PGresult *res = eh_db_query(db, SQL_KEY, 1, params, &status);
    eh_db_pool_release(kr->pool, db);
    if (res == NULL)
        return EH_AGAIN;
    int rc = EH_AGAIN;
    if (PQntuples(res) == 1) {
        *seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = EH_DECLINED;
        if (!PQgetisnull(res, 0, 1)) {
            size_t n = 0;
            unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &n);
            if (raw != NULL && n == EH_APIKEY_HASH_LEN) {
                memset(out, 0, sizeof(*out));
                memcpy(out->prefix, prefix, sizeof(out->prefix));
                snprintf(out->key_id, sizeof(out->key_id), "%s", PQgetvalue(res, 0, 1));
                snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", PQgetvalue(res, 0, 2));
                out->write = strcmp(PQgetvalue(res, 0, 4), "write") == 0;
                *valid = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
                memcpy(stored, raw, EH_APIKEY_HASH_LEN);
                rc = EH_OK;
            } else {
                eh_log_error("an api_keys row has a hash of the wrong length");
                rc = EH_AGAIN;
            }
            PQfreemem(raw);
        }
    }
    PQclear(res);
    return rc;
}

/* The cached entry of prefix when it may be trusted (fresh and not revoked since), else NULL. Under kr->mu. */
static const entry_t *trusted(api_keyring_t *kr, const char *prefix)
{
    entry_t *e = find(kr, prefix);
    if (e == NULL)
        return NULL;
    int64_t seq = atomic_load(&kr->seq);
    if (e->seq != seq || seq < 0 || eh_time_mono_ms() - atomic_load(&kr->polled_ms) > TRUST_MS)
        return NULL;
    return e;
}

/*
 * What the keyring knows of prefix: the cache when it may be trusted, else
 * the database (and the cache is refreshed). EH_OK with *valid, *info and
 * stored set, or EH_AGAIN when the database cannot say.
 */
static int look_up(api_keyring_t *kr, const char *prefix, api_key_info_t *info,
                   unsigned char stored[EH_APIKEY_HASH_LEN], bool *valid)
{
    pthread_mutex_lock(&kr->mu);
    const entry_t *e = trusted(kr, prefix);
    if (e != NULL) {
        *info = e->info;
        memcpy(stored, e->hash, EH_APIKEY_HASH_LEN);
        *valid = e->valid;
    }
    pthread_mutex_unlock(&kr->mu);
    if (e != NULL)
        return EH_OK;
    int64_t seq = -1;
    int rc = read_key(kr, prefix, info, stored, valid, &seq);
    if (rc != EH_OK)
        return rc;
    pthread_mutex_lock(&kr->mu);
    remember(kr, prefix, stored, info, *valid, seq);
    pthread_mutex_unlock(&kr->mu);
    return EH_OK;
}

int api_keyring_verify(api_keyring_t *kr, const char *key, size_t len, api_key_info_t *out)
{
    char prefix[EH_APIKEY_PREFIX_LEN + 1];
    unsigned char hash[EH_APIKEY_HASH_LEN];
    if (eh_apikey_parse(key, len, prefix) != EH_OK)
        return EH_DECLINED;
    if (eh_apikey_hash(key, len, hash) != EH_OK)
        return EH_AGAIN;
    api_key_info_t info;
    unsigned char stored[EH_APIKEY_HASH_LEN];
    bool valid = false;
    int rc = look_up(kr, prefix, &info, stored, &valid);
    if (rc != EH_OK)
        return rc;
    if (!valid || !eh_apikey_hash_equal(stored, hash))
        return EH_DECLINED;
    *out = info;
    return EH_OK;
}

int64_t api_keyring_generation(api_keyring_t *kr)
{
    return atomic_load(&kr->seq);
}

int api_keyring_check_prefix(api_keyring_t *kr, const char *prefix)
{
    api_key_info_t info;
    unsigned char stored[EH_APIKEY_HASH_LEN];
    bool valid = false;
    int rc = look_up(kr, prefix, &info, stored, &valid);
    if (rc != EH_OK)
        return rc;
    return valid ? EH_OK : EH_DECLINED;
}

bool api_keyring_take(api_keyring_t *kr, const api_key_info_t *key, int64_t *retry_after_s)
{
    if (kr->rps <= 0)
        return true;
    pthread_mutex_lock(&kr->mu);
    entry_t *e = find(kr, key->prefix);
    /* Not cached (table full): such a key is not limited rather than refused. */
    bool ok = e == NULL || api_bucket_take(&e->bucket, eh_time_mono_ms(), kr->rps, kr->burst, retry_after_s);
    pthread_mutex_unlock(&kr->mu);
    return ok;
}
