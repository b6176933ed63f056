/*
 * s3_itest.c - common/s3.c against a real S3 server (s3rver locally, MinIO
 * in compose). Needs EH_S3_ENDPOINT, EH_S3_BUCKET, EH_S3_ACCESS_KEY and
 * EH_S3_SECRET_KEY (scripts/services.sh writes them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libs3.h>
#pragma GCC diagnostic pop

#include "../support/testutil.h"
#include "log.h"
#include "s3.h"
#include "timefmt.h"

#define BIG_SIZE (50u * 1024u * 1024u)
#define HIGH_FD_SIZE (4u * 1024u * 1024u)
#define RSS_GROWTH_LIMIT_KB (16 * 1024)

typedef struct fixture {
    eh_s3_config_t cfg;
    eh_s3_t *s3;
    char prefix[96]; /* keys of this run live under it, so parallel runs do not collide */
} fixture_t;

static fixture_t fx;

/* ---- helpers ----------------------------------------------------------- */

static void key_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", fx.prefix, name);
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The big object's byte at offset off: reproducible without keeping the object anywhere. */
static unsigned char gen_byte(uint64_t off)
{
    return (unsigned char)(splitmix64(off >> 3) >> ((off & 7) * 8));
}

/* An empty unlinked temp file. */
static int temp_fd(void)
{
    char path[] = "/tmp/eh-s3-itest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(unlink(path), 0);
    return fd;
}

/* An unlinked temp file holding data; the fd is at offset 0. */
static int temp_fd_with(const void *data, size_t len)
{
    int fd = temp_fd();
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static int temp_fd_generated(uint64_t size)
{
    int fd = temp_fd();
    unsigned char buf[64 * 1024];
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = gen_byte(off + i);
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        off += n;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Collects a GET into a fixed buffer. */
typedef struct sink {
    char buf[4096];
    size_t len;
    int calls;
    int rc; /* what to answer */
} sink_t;

static int sink_cb(const char *data, size_t len, void *ud)
{
    sink_t *s = ud;
    s->calls++;
    if (s->rc != EH_OK)
        return s->rc;
    if (len > sizeof(s->buf) - s->len)
        return EH_ERR;
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return EH_OK;
}

/* Checks a streamed GET of the big object against the generator. */
typedef struct verifier {
    uint64_t off;
    uint64_t mismatches;
    uint64_t first_bad;
} verifier_t;

static int verify_cb(const char *data, size_t len, void *ud)
{
    verifier_t *v = ud;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)data[i] != gen_byte(v->off + i)) {
            if (v->mismatches++ == 0)
                v->first_bad = v->off + i;
        }
    }
    v->off += len;
    return EH_OK;
}

/* VmHWM (peak resident set) in kB, after resetting it to the current RSS when reset is set. */
static long peak_rss_kb(bool reset)
{
    if (reset) {
        FILE *c = fopen("/proc/self/clear_refs", "w");
        assert_non_null(c);
        assert_true(fputs("5", c) >= 0);
        assert_int_equal(fclose(c), 0);
    }
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    assert_int_equal(fclose(f), 0);
    assert_true(kb > 0);
    return kb;
}

/*
 * A fake server that answers each of up to max_conns connections with one
 * canned reply, then closes it (with a reset when rst is set). It ends when
 * told to stop, or after 5 s without a connection, so a test cannot hang on it.
 */
typedef struct canned {
    int lfd;
    int port;
    const char *reply;
    bool rst;
    int max_conns;
    int conns; /* how many connections it served */
    atomic_bool stop;
    pthread_t thread;
} canned_t;

static void *canned_main(void *ud)
{
    canned_t *c = ud;
    int idle_ms = 0;
    while (c->conns < c->max_conns && !atomic_load(&c->stop) && idle_ms < 5000) {
        struct pollfd pfd = {.fd = c->lfd, .events = POLLIN};
        int ready = poll(&pfd, 1, 50);
        if (ready < 0)
            break;
        if (ready == 0) {
            idle_ms += 50;
            continue;
        }
        int fd = accept(c->lfd, NULL, NULL);
        if (fd < 0)
            break;
        c->conns++;
        /* Read the request head; a PUT body, if any, is left unread. */
        char buf[4096];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
            ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n") != NULL)
                break;
        }
        size_t len = strlen(c->reply);
        ssize_t w = write(fd, c->reply, len);
        (void)w; /* the client may be gone already; the test checks what it saw */
        if (c->rst) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    return NULL;
}

static eh_s3_t *canned_start(canned_t *c, const char *reply, bool rst, int max_conns, char *endpoint, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->lfd = eh_test_loopback_listener(8, &c->port);
    c->reply = reply;
    c->rst = rst;
    c->max_conns = max_conns;
    atomic_init(&c->stop, false);
    assert_int_equal(pthread_create(&c->thread, NULL, canned_main, c), 0);
    snprintf(endpoint, len, "127.0.0.1:%d", c->port);
    eh_s3_config_t cfg = fx.cfg;
    cfg.endpoint = endpoint;
    cfg.timeout_ms = 5000;
    eh_s3_t *s3 = eh_s3_create(&cfg);
    assert_non_null(s3);
    return s3;
}

/* Stops the server (the client is done by now) and returns how many connections it served. */
static int canned_stop(canned_t *c)
{
    atomic_store(&c->stop, true);
    assert_int_equal(pthread_join(c->thread, NULL), 0);
    assert_int_equal(close(c->lfd), 0);
    return c->conns;
}

static eh_s3_t *s3_with(const char *endpoint, const char *secret, int timeout_ms)
{
    eh_s3_config_t cfg = fx.cfg;
    if (endpoint != NULL)
        cfg.endpoint = endpoint;
    if (secret != NULL)
        cfg.secret_key = secret;
    cfg.timeout_ms = timeout_ms;
    eh_s3_t *s3 = eh_s3_create(&cfg);
    assert_non_null(s3);
    return s3;
}

/* ---- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    static const char *const vars[] = {"EH_S3_ENDPOINT", "EH_S3_BUCKET", "EH_S3_ACCESS_KEY", "EH_S3_SECRET_KEY"};
    const char *vals[4];
    for (size_t i = 0; i < EH_ARRAY_LEN(vars); i++) {
        vals[i] = eh_test_require_env(vars[i], "a real S3 server");
        if (vals[i] == NULL)
            return -1;
    }
    fx.cfg = (eh_s3_config_t){.endpoint = vals[0],
                              .bucket = vals[1],
                              .access_key = vals[2],
                              .secret_key = vals[3],
                              .https = false,
                              .timeout_ms = 10000};
    snprintf(fx.prefix, sizeof(fx.prefix), "itest/%ld-%ld", (long)getpid(), (long)time(NULL));
    eh_log_init("s3_itest");
    if (eh_s3_global_init() != EH_OK)
        return -1;
    fx.s3 = eh_s3_create(&fx.cfg);
    return fx.s3 != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    /* s3rver may keep an empty object for the cut upload after put_of_a_short_file_fails deleted it. */
    char key[160];
    key_of(key, sizeof(key), "short.jsonl");
    eh_s3_error_t err = {0};
    if (eh_s3_delete(fx.s3, key, &err) != EH_OK)
        print_error("s3_itest: cleaning up %s: %s\n", key, err.message);
    eh_s3_destroy(fx.s3);
    eh_s3_global_cleanup();
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void ensure_bucket_is_idempotent(void **state)
{
    (void)state;
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_ensure_bucket(fx.s3, &err), EH_OK);
    assert_int_equal(eh_s3_ensure_bucket(fx.s3, &err), EH_OK);
}

static void delete_bucket_done(S3Status status, const S3ErrorDetails *details, void *ud)
{
    (void)details;
    *(S3Status *)ud = status;
}

static S3Status delete_bucket_props(const S3ResponseProperties *p, void *ud)
{
    (void)p;
    (void)ud;
    return S3StatusOK;
}

/* A bucket that does not exist yet is created, and a second call finds it. */
static void ensure_bucket_creates_a_missing_bucket(void **state)
{
    (void)state;
    char bucket[64];
    snprintf(bucket, sizeof(bucket), "eh-itest-%ld", (long)getpid());
    eh_s3_config_t cfg = fx.cfg;
    cfg.bucket = bucket;
    eh_s3_t *s3 = eh_s3_create(&cfg);
    assert_non_null(s3);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_head(s3, "nothing", NULL, &err), EH_DECLINED);
    /* Asking is not creating. */
    assert_int_equal(eh_s3_bucket_exists(s3, &err), EH_DECLINED);
    assert_int_equal(eh_s3_bucket_exists(s3, &err), EH_DECLINED);
    assert_int_equal(eh_s3_ensure_bucket(s3, &err), EH_OK);
    assert_int_equal(eh_s3_bucket_exists(s3, &err), EH_OK);
    assert_int_equal(eh_s3_ensure_bucket(s3, &err), EH_OK);

    /* Now it exists: a missing key in it is still EH_DECLINED, and an upload lands. */
    int fd = temp_fd_with("{}\n", 3);
    assert_int_equal(eh_s3_put_fd(s3, "k.jsonl", fd, 3, &err), EH_OK);
    assert_int_equal(close(fd), 0);
    uint64_t size = 0;
    assert_int_equal(eh_s3_head(s3, "k.jsonl", &size, &err), EH_OK);
    assert_int_equal(size, 3);
    assert_int_equal(eh_s3_delete(s3, "k.jsonl", &err), EH_OK);
    eh_s3_destroy(s3);

    /*
     * Leave the server as we found it. s3.h has no bucket deletion, so use
     * libs3: DELETE /bucket sent as an object request on the service root,
     * as s3.c does for its bucket requests (see there why).
     */
    S3Status st = S3StatusInternalError;
    S3ResponseHandler h = {delete_bucket_props, delete_bucket_done};
    S3BucketContext root = {fx.cfg.endpoint,  NULL, S3ProtocolHTTP, S3UriStylePath, fx.cfg.access_key,
                            fx.cfg.secret_key};
    S3_delete_object(&root, bucket, NULL, &h, &st);
    assert_int_equal(st, S3StatusOK);
    s3 = eh_s3_create(&cfg);
    assert_non_null(s3);
    assert_int_equal(eh_s3_head(s3, "k.jsonl", NULL, &err), EH_DECLINED);
    assert_int_equal(eh_s3_bucket_exists(s3, &err), EH_DECLINED);
    eh_s3_destroy(s3);
}

static const char small_body[] = "{\"timestamp\":\"2026-11-21T10:00:00Z\",\"level\":\"info\",\"message\":\"one\"}\n"
                                 "{\"timestamp\":\"2026-11-21T10:00:01Z\",\"level\":\"warn\",\"message\":\"two\"}\n";

static void put_head_get_roundtrip(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "small.jsonl");
    size_t len = sizeof(small_body) - 1;
    int fd = temp_fd_with(small_body, len);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, len, &err), EH_OK);
    assert_int_equal(close(fd), 0);

    uint64_t size = 0;
    assert_int_equal(eh_s3_head(fx.s3, key, &size, &err), EH_OK);
    assert_int_equal(size, len);

    sink_t sink = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, sink_cb, &sink, &err), EH_OK);
    assert_int_equal(sink.len, len);
    assert_memory_equal(sink.buf, small_body, len);

    /* A range: exactly bytes 10..29. */
    sink_t part = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(fx.s3, key, 10, 20, sink_cb, &part, &err), EH_OK);
    assert_int_equal(part.len, 20);
    assert_memory_equal(part.buf, small_body + 10, 20);

    /* From an offset to the end. */
    sink_t tail = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(fx.s3, key, 100, 0, sink_cb, &tail, &err), EH_OK);
    assert_int_equal(tail.len, len - 100);
    assert_memory_equal(tail.buf, small_body + 100, len - 100);

    /* Delete, then the object is gone; deleting again is fine. */
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
    memset(&err, 0, sizeof(err));
    assert_int_equal(eh_s3_head(fx.s3, key, &size, &err), EH_DECLINED);
    assert_int_equal(err.http_status, 404);
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
}

/*
 * With every descriptor up to 1100 taken, curl's sockets are above
 * FD_SETSIZE (1024), which select() cannot wait on: curl_multi_fdset leaves
 * them out, and the old wait fell back to 100 ms sleeps per step. Each call
 * must still work, and at the speed of a wait on the socket: 20 HEADs of a
 * few steps each would take several seconds with blind sleeps.
 */
static void descriptors_above_1023_work(void **state)
{
    (void)state;
    struct rlimit saved, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = 4096;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur; /* needs CAP_SYS_RESOURCE */
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            skip();
    }
    static int fillers[1200];
    int n = 0;
    for (;;) {
        assert_true(n < (int)EH_ARRAY_LEN(fillers));
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        fillers[n++] = fd;
        if (fd >= 1100)
            break;
    }
    /* Descriptors are handed out lowest first: whatever opens now lands above 1100. */
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(probe > 1100);
    assert_int_equal(close(probe), 0);

    char key[160];
    key_of(key, sizeof(key), "highfd.jsonl");
    int fd = temp_fd_generated(HIGH_FD_SIZE);
    eh_s3_error_t err = {0};
    int64_t t0 = eh_time_mono_ms();
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, HIGH_FD_SIZE, &err), EH_OK);
    int64_t put_ms = eh_time_mono_ms() - t0;
    assert_int_equal(close(fd), 0);

    verifier_t v = {0};
    t0 = eh_time_mono_ms();
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, verify_cb, &v, &err), EH_OK);
    int64_t get_ms = eh_time_mono_ms() - t0;
    assert_int_equal(v.off, HIGH_FD_SIZE);
    assert_int_equal(v.mismatches, 0);

    t0 = eh_time_mono_ms();
    for (int i = 0; i < 20; i++) {
        uint64_t size = 0;
        assert_int_equal(eh_s3_head(fx.s3, key, &size, &err), EH_OK);
        assert_int_equal(size, HIGH_FD_SIZE);
    }
    int64_t heads_ms = eh_time_mono_ms() - t0;

    t0 = eh_time_mono_ms();
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
    int64_t delete_ms = eh_time_mono_ms() - t0;
    assert_int_equal(eh_s3_head(fx.s3, key, NULL, &err), EH_DECLINED);
    print_message("[ INFO     ] above fd 1023: 4 MiB put %" PRId64 " ms, get %" PRId64 " ms, 20 heads %" PRId64
                  " ms, delete %" PRId64 " ms\n",
                  put_ms, get_ms, heads_ms, delete_ms);
    /* Generous bounds (a loaded machine, sanitizers): the point is that no step waits blind. */
    assert_true(put_ms < 3000);
    assert_true(get_ms < 2000);
    assert_true(heads_ms < 2000);
    assert_true(delete_ms < 1000);

    for (int i = 0; i < n; i++)
        assert_int_equal(close(fillers[i]), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

static void put_from_an_offset_sends_the_rest(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "offset.jsonl");
    size_t len = sizeof(small_body) - 1;
    int fd = temp_fd_with(small_body, len);
    assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, len - 5, &err), EH_OK);
    assert_int_equal(close(fd), 0);
    sink_t sink = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, sink_cb, &sink, &err), EH_OK);
    assert_int_equal(sink.len, len - 5);
    assert_memory_equal(sink.buf, small_body + 5, len - 5);
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
}

static void get_of_a_missing_key_is_declined(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "does-not-exist.jsonl");
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, sink_cb, &sink, &err), EH_DECLINED);
    assert_int_equal(sink.calls, 0);
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.code, "NoSuchKey");
    assert_true(err.message[0] != '\0');
}

static void delete_of_a_missing_key_is_ok(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "never-was.jsonl");
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
}

static void callback_error_aborts_the_get(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "abort.jsonl");
    size_t len = sizeof(small_body) - 1;
    int fd = temp_fd_with(small_body, len);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, len, &err), EH_OK);
    assert_int_equal(close(fd), 0);

    sink_t sink = {.rc = EH_ERR};
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, sink_cb, &sink, &err), EH_ERR);
    assert_int_equal(sink.calls, 1);
    assert_string_equal(err.code, "AbortedByCallback");

    /* The callback's own code comes back, so the caller can tell it from a storage failure. */
    sink_t declined = {.rc = EH_DECLINED};
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, sink_cb, &declined, &err), EH_DECLINED);
    assert_int_equal(declined.calls, 1);
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
}

static void put_of_a_short_file_fails(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "short.jsonl");
    int fd = temp_fd_with("{}\n", 3);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, 1000, &err), EH_ERR);
    assert_int_equal(close(fd), 0);
    assert_string_equal(err.code, "AbortedByCallback");
    assert_non_null(strstr(err.message, "early"));
    /* Whether the server keeps an empty object for the cut upload is its business (s3rver does); clean up. */
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);

    /* A descriptor that cannot be read fails the same way, with the reason. */
    assert_int_equal(eh_s3_put_fd(fx.s3, key, -1, 10, &err), EH_ERR);
    assert_non_null(strstr(err.message, "Bad file descriptor"));
}

/* The measurement itself: touching 24 MiB must show as peak growth, or the check below proves nothing. */
static void peak_rss_probe_sees_growth(void **state)
{
    (void)state;
    size_t len = 24u * 1024u * 1024u;
    long before = peak_rss_kb(true);
    volatile char *p = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i += 4096)
        p[i] = (char)i;
    long growth = peak_rss_kb(false) - before;
    free((void *)p);
    assert_true(growth >= RSS_GROWTH_LIMIT_KB);
}

static void big_object_streams_in_flat_memory(void **state)
{
    (void)state;
    char key[160];
    key_of(key, sizeof(key), "big.jsonl");
    int fd = temp_fd_generated(BIG_SIZE);
    eh_s3_error_t err = {0};
    long before_put = peak_rss_kb(true);
    assert_int_equal(eh_s3_put_fd(fx.s3, key, fd, BIG_SIZE, &err), EH_OK);
    long put_growth = peak_rss_kb(false) - before_put;
    assert_int_equal(close(fd), 0);

    uint64_t size = 0;
    assert_int_equal(eh_s3_head(fx.s3, key, &size, &err), EH_OK);
    assert_int_equal(size, BIG_SIZE);

    verifier_t v = {0};
    long before_get = peak_rss_kb(true);
    assert_int_equal(eh_s3_get(fx.s3, key, 0, 0, verify_cb, &v, &err), EH_OK);
    long get_growth = peak_rss_kb(false) - before_get;
    print_message("[ INFO     ] 50 MiB object: peak RSS growth %ld kB during put, %ld kB during get\n", put_growth,
                  get_growth);
    assert_int_equal(v.off, BIG_SIZE);
    if (v.mismatches != 0)
        fail_msg("%" PRIu64 " bytes differ, the first at offset %" PRIu64, v.mismatches, v.first_bad);
    assert_true(get_growth < RSS_GROWTH_LIMIT_KB);
    assert_true(put_growth < RSS_GROWTH_LIMIT_KB);

    /* A range deep inside the object is the generator's bytes too. */
    verifier_t mid = {.off = 33 * 1000 * 1000 + 7};
    assert_int_equal(eh_s3_get(fx.s3, key, mid.off, 100000, verify_cb, &mid, &err), EH_OK);
    assert_int_equal(mid.off, 33 * 1000 * 1000 + 7 + 100000);
    assert_int_equal(mid.mismatches, 0);
    assert_int_equal(eh_s3_delete(fx.s3, key, &err), EH_OK);
}

static void bad_secret_is_a_403_error(void **state)
{
    (void)state;
    static const char bad_secret[] = "not-the-secret-0123456789";
    char key[160];
    key_of(key, sizeof(key), "denied.jsonl");
    eh_s3_t *bad = s3_with(NULL, bad_secret, 10000);
    eh_s3_error_t err = {0};

    int fd = temp_fd_with("{}\n", 3);
    assert_int_equal(eh_s3_put_fd(bad, key, fd, 3, &err), EH_ERR);
    assert_int_equal(close(fd), 0);
    assert_int_equal(err.http_status, 403);
    assert_true(err.code[0] != '\0');
    assert_null(strstr(err.message, bad_secret));

    memset(&err, 0, sizeof(err));
    sink_t sink = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(bad, key, 0, 0, sink_cb, &sink, &err), EH_ERR);
    assert_int_equal(err.http_status, 403);
    assert_true(err.code[0] != '\0');

    memset(&err, 0, sizeof(err));
    assert_int_equal(eh_s3_head(bad, key, NULL, &err), EH_ERR);
    assert_int_equal(err.http_status, 403);
    assert_true(err.code[0] != '\0');
    eh_s3_destroy(bad);
}

static void closed_port_is_again_quickly(void **state)
{
    (void)state;
    int port = 0;
    int fd = eh_test_loopback_socket(&port);
    assert_int_equal(close(fd), 0); /* nothing listens there any more */
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", port);
    eh_s3_t *s3 = s3_with(endpoint, NULL, 10000);
    eh_s3_error_t err = {0};
    int64_t t0 = eh_time_mono_ms();
    assert_int_equal(eh_s3_head(s3, "k", NULL, &err), EH_AGAIN);
    assert_int_equal(eh_s3_ensure_bucket(s3, &err), EH_AGAIN);
    sink_t sink = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(s3, "k", 0, 0, sink_cb, &sink, &err), EH_AGAIN);
    int tmp = temp_fd_with("{}\n", 3);
    assert_int_equal(eh_s3_put_fd(s3, "k", tmp, 3, &err), EH_AGAIN);
    assert_int_equal(close(tmp), 0);
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took < 2000);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.code, "FailedToConnect");
    eh_s3_destroy(s3);
}

/* A server that accepts the connection and never answers: the inactivity limit ends the wait. */
static void silent_server_times_out(void **state)
{
    (void)state;
    int port = 0;
    int lfd = eh_test_loopback_listener(8, &port);
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", port);
    eh_s3_t *s3 = s3_with(endpoint, NULL, 300);
    eh_s3_error_t err = {0};
    int64_t t0 = eh_time_mono_ms();
    assert_int_equal(eh_s3_head(s3, "k", NULL, &err), EH_AGAIN);
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took >= 300);
    assert_true(took < 3000);
    assert_string_equal(err.code, "Timeout");
    eh_s3_destroy(s3);
    assert_int_equal(close(lfd), 0);
}

/* libs3 takes a cut body for a success (curl's PARTIAL_FILE); s3.c must not pass it on as the end. */
static void truncated_body_is_again(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, reply, false, 1, endpoint, sizeof(endpoint));
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(s3, "k", 0, 0, sink_cb, &sink, &err), EH_AGAIN);
    assert_int_equal(sink.len, 10);
    assert_string_equal(err.code, "IncompleteBody");
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);
}

/* A connection reset in the middle of the body: transient, and not retried once bytes went out. */
static void reset_mid_body_is_again(void **state)
{
    (void)state;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, reply, true, 2, endpoint, sizeof(endpoint));
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(s3, "k", 0, 0, sink_cb, &sink, &err), EH_AGAIN);
    assert_true(sink.len <= 10);
    eh_s3_destroy(s3);
    int conns = canned_stop(&c);
    /* Retried once only when nothing had reached the callback yet. */
    assert_int_equal(conns, sink.len == 0 ? 2 : 1);
}

/* A server that closes without answering: an idempotent request is tried once more, then EH_AGAIN. */
static void empty_reply_is_retried_once_then_again(void **state)
{
    (void)state;
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, "", false, 2, endpoint, sizeof(endpoint));
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_head(s3, "k", NULL, &err), EH_AGAIN);
    assert_int_equal(err.http_status, 0);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 2);
}

/* A PUT too (its body is read again from the file); a pipe cannot be read again, so it gets no second try. */
static void put_is_retried_once_from_a_file_not_from_a_pipe(void **state)
{
    (void)state;
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, "", false, 2, endpoint, sizeof(endpoint));
    int fd = temp_fd_with("{}\n", 3);
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_put_fd(s3, "k", fd, 3, &err), EH_AGAIN);
    /* (That the second try sends the same bytes is shown against s3rver by the api's stalled-PUT test.) */
    assert_int_equal(close(fd), 0);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 2);

    s3 = canned_start(&c, "", false, 2, endpoint, sizeof(endpoint));
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "{}\n", 3), 3);
    assert_int_equal(close(p[1]), 0);
    assert_int_equal(eh_s3_put_fd(s3, "k", p[0], 3, &err), EH_AGAIN);
    assert_int_equal(close(p[0]), 0);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);
}

static void service_unavailable_is_again(void **state)
{
    (void)state;
    static const char xml_503[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: 91\r\n\r\n"
        "<?xml version=\"1.0\"?><Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>\n";
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, xml_503, false, 1, endpoint, sizeof(endpoint));
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(s3, "k", 0, 0, sink_cb, &sink, &err), EH_AGAIN);
    assert_int_equal(sink.calls, 0);
    assert_string_equal(err.message, "busy");
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);

    /* HEAD gets no body, so no S3 code: a bare 503 (or a gateway's 502) is still transient. */
    static const char bare_503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    s3 = canned_start(&c, bare_503, false, 1, endpoint, sizeof(endpoint));
    assert_int_equal(eh_s3_head(s3, "k", NULL, &err), EH_AGAIN);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);
}

/*
 * A server that ignores Range answers 200 with the whole object: the GET is
 * refused from its Content-Length, before any byte reaches the callback, and
 * not tried again (the same server would answer the same).
 */
static void ignored_range_is_refused_before_the_body(void **state)
{
    (void)state;
    static const char whole[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                                "0123456789012345678901234567890123456789012345678901234567890123456789"
                                "012345678901234567890123456789";
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, whole, false, 2, endpoint, sizeof(endpoint));
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(s3, "k", 10, 20, sink_cb, &sink, &err), EH_ERR);
    assert_int_equal(sink.calls, 0);
    assert_string_equal(err.code, EH_S3_RANGE_NOT_HONOURED);
    assert_non_null(strstr(err.message, "ignored the Range header"));
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);
}

/* The answers of a server that honours Range pass: the exact range, and a range clipped at the object's end. */
static void honoured_range_passes(void **state)
{
    (void)state;
    static const char exact[] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-29/100\r\n"
                                "Content-Length: 20\r\n\r\n01234567890123456789";
    canned_t c;
    char endpoint[64];
    eh_s3_t *s3 = canned_start(&c, exact, false, 1, endpoint, sizeof(endpoint));
    sink_t sink = {.rc = EH_OK};
    eh_s3_error_t err = {0};
    assert_int_equal(eh_s3_get(s3, "k", 10, 20, sink_cb, &sink, &err), EH_OK);
    assert_int_equal(sink.len, 20);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);

    static const char clipped[] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 90-99/100\r\n"
                                  "Content-Length: 10\r\n\r\n0123456789";
    s3 = canned_start(&c, clipped, false, 1, endpoint, sizeof(endpoint));
    sink_t tail = {.rc = EH_OK};
    assert_int_equal(eh_s3_get(s3, "k", 90, 20, sink_cb, &tail, &err), EH_OK);
    assert_int_equal(tail.len, 10);
    eh_s3_destroy(s3);
    assert_int_equal(canned_stop(&c), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ensure_bucket_is_idempotent),
        cmocka_unit_test(ensure_bucket_creates_a_missing_bucket),
        cmocka_unit_test(put_head_get_roundtrip),
        cmocka_unit_test(descriptors_above_1023_work),
        cmocka_unit_test(put_from_an_offset_sends_the_rest),
        cmocka_unit_test(get_of_a_missing_key_is_declined),
        cmocka_unit_test(delete_of_a_missing_key_is_ok),
        cmocka_unit_test(callback_error_aborts_the_get),
        cmocka_unit_test(put_of_a_short_file_fails),
        cmocka_unit_test(peak_rss_probe_sees_growth),
        cmocka_unit_test(big_object_streams_in_flat_memory),
        cmocka_unit_test(bad_secret_is_a_403_error),
        cmocka_unit_test(closed_port_is_again_quickly),
        cmocka_unit_test(silent_server_times_out),
        cmocka_unit_test(truncated_body_is_again),
        cmocka_unit_test(reset_mid_body_is_again),
        cmocka_unit_test(empty_reply_is_retried_once_then_again),
        cmocka_unit_test(put_is_retried_once_from_a_file_not_from_a_pipe),
        cmocka_unit_test(service_unavailable_is_again),
        cmocka_unit_test(ignored_range_is_refused_before_the_body),
        cmocka_unit_test(honoured_range_passes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
