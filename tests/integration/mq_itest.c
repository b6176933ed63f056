/*
 * mq_itest - common/mq.c against a real RabbitMQ ($EH_AMQP_URL).
 *
 * The tests use the real topology (eh.jobs, eh.jobs.dead, eh.progress) and
 * purge the two queues before each test that reads them, so reruns start
 * clean; routing keys and bodies carry a fresh UUID so that nothing left by
 * another run can be mistaken for this run's message. Do not point them at
 * a broker that real workers consume from.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <amqp.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../support/testutil.h"
#include "log.h"
#include "mq.h"
#include "timefmt.h"
#include "uuid.h"

#define WAIT_MS 5000
#define CONFIRM_MS 5000

static const char *amqp_url;

static int group_setup(void **state)
{
    (void)state;
    amqp_url = eh_test_require_env("EH_AMQP_URL", "a real RabbitMQ");
    if (amqp_url == NULL)
        return -1;
    eh_test_log_init("mq_itest");
    return 0;
}

/* ---- helpers ---- */

/* Parses the broker's URL into *info, whose strings point into the returned copy (new: free it after). */
static char *parse_broker_url(struct amqp_connection_info *info)
{
    char *copy = strdup(amqp_url);
    assert_non_null(copy);
    assert_int_equal(amqp_parse_url(copy, info), AMQP_STATUS_OK);
    return copy;
}

static eh_mq_t *connect_ok(int heartbeat_s)
{
    eh_mq_t *mq = eh_mq_connect(amqp_url, heartbeat_s, WAIT_MS);
    assert_non_null(mq);
    assert_true(eh_mq_is_open(mq));
    assert_int_equal(eh_mq_declare_topology(mq), EH_OK);
    return mq;
}

static void purge_queues(eh_mq_t *mq)
{
    assert_int_equal(eh_mq_purge(mq, EH_MQ_JOBS_QUEUE, NULL), EH_OK);
    assert_int_equal(eh_mq_purge(mq, EH_MQ_DEAD_QUEUE, NULL), EH_OK);
}

static uint32_t count_of(eh_mq_t *mq, const char *queue)
{
    uint32_t n = UINT32_MAX;
    assert_int_equal(eh_mq_message_count(mq, queue, &n), EH_OK);
    return n;
}

/* A JSON body unique to this call. */
static void make_body(char *out, size_t outlen, const char *what)
{
    char id[EH_UUID_STRLEN + 1];
    assert_int_equal(eh_uuid_v4(id), EH_OK);
    snprintf(out, outlen, "{\"job_id\":\"%s\",\"what\":\"%s\"}", id, what);
}

static void publish_job(eh_mq_t *mq, const char *body)
{
    assert_int_equal(eh_mq_publish_confirmed(mq, "", EH_MQ_JOBS_QUEUE, body, strlen(body), CONFIRM_MS), EH_OK);
}

static void expect_message(eh_mq_t *mq, const char *body, const char *routing_key, eh_mq_msg_t *msg)
{
    assert_int_equal(eh_mq_next(mq, msg, WAIT_MS), EH_OK);
    assert_non_null(msg->body);
    assert_int_equal(msg->len, strlen(body));
    assert_string_equal(msg->body, body);
    assert_string_equal(msg->routing_key, routing_key);
    assert_true(msg->delivery_tag > 0);
}

static void expect_nothing(eh_mq_t *mq, int64_t ms)
{
    eh_mq_msg_t msg;
    int rc = eh_mq_next(mq, &msg, ms);
    if (rc == EH_OK)
        print_error("unexpected message: %s\n", msg.body);
    eh_mq_msg_free(&msg);
    assert_int_equal(rc, EH_DECLINED);
}

/*
 * A one-connection TCP proxy to the broker, to break the connection from
 * outside: PROXY_CLOSE shuts both sides, PROXY_FREEZE stops forwarding but
 * keeps the sockets open (a peer that went silent: only heartbeats notice).
 */
enum { PROXY_RUN = 0, PROXY_CLOSE = 1, PROXY_FREEZE = 2 };

typedef struct proxy {
    int listen_fd;
    int port;
    char host[256];
    int broker_port;
    atomic_int mode;
    pthread_t thread;
} proxy_t;

static int connect_to(const char *host, int port)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, portstr, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static bool forward(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *proxy_main(void *arg)
{
    proxy_t *p = arg;
    int client = accept(p->listen_fd, NULL, NULL);
    int broker = client >= 0 ? connect_to(p->host, p->broker_port) : -1;
    while (client >= 0 && broker >= 0 && atomic_load(&p->mode) != PROXY_CLOSE) {
        if (atomic_load(&p->mode) == PROXY_FREEZE) {
            usleep(20 * 1000);
            continue;
        }
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = broker, .events = POLLIN}};
        int n = poll(fds, 2, 20);
        if (n < 0)
            break;
        if ((fds[0].revents & (POLLIN | POLLHUP)) && !forward(client, broker))
            break;
        if ((fds[1].revents & (POLLIN | POLLHUP)) && !forward(broker, client))
            break;
    }
    if (client >= 0)
        close(client);
    if (broker >= 0)
        close(broker);
    return NULL;
}

static void proxy_start(proxy_t *p)
{
    memset(p, 0, sizeof(*p));
    struct amqp_connection_info info;
    char *copy = parse_broker_url(&info);
    snprintf(p->host, sizeof(p->host), "%s", info.host);
    p->broker_port = info.port;
    free(copy);
    p->listen_fd = eh_test_loopback_listener(1, &p->port);
    atomic_init(&p->mode, PROXY_RUN);
    assert_int_equal(pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

static void proxy_stop(proxy_t *p)
{
    atomic_store(&p->mode, PROXY_CLOSE);
    assert_int_equal(pthread_join(p->thread, NULL), 0);
    close(p->listen_fd);
}

/* The broker's URL with host and port replaced by the proxy's. */
static eh_mq_t *connect_via(proxy_t *p, int heartbeat_s)
{
    struct amqp_connection_info info;
    char *copy = parse_broker_url(&info);
    char url[512];
    snprintf(url, sizeof(url), "amqp://%s:%s@127.0.0.1:%d", info.user, info.password, p->port);
    free(copy);
    eh_mq_t *mq = eh_mq_connect(url, heartbeat_s, WAIT_MS);
    assert_non_null(mq);
    return mq;
}

/* ---- tests ---- */

static void test_topology_is_idempotent(void **state)
{
    (void)state;
    eh_mq_t *mq = connect_ok(0);
    assert_int_equal(eh_mq_declare_topology(mq), EH_OK);
    assert_int_equal(eh_mq_declare_topology(mq), EH_OK);
    assert_true(eh_mq_is_open(mq));
    /* The queues exist (a passive declare of a missing one closes the channel). */
    (void)count_of(mq, EH_MQ_JOBS_QUEUE);
    (void)count_of(mq, EH_MQ_DEAD_QUEUE);
    eh_mq_destroy(mq);

    /* A second connection declares the same topology again without a mismatch. */
    mq = connect_ok(0);
    assert_true(eh_mq_is_open(mq));
    eh_mq_destroy(mq);
}

static void test_publish_consume_ack(void **state)
{
    (void)state;
    eh_mq_t *pub = connect_ok(0);
    eh_mq_t *con = connect_ok(0);
    purge_queues(pub);

    char body[128];
    make_body(body, sizeof(body), "roundtrip");
    publish_job(pub, body);
    assert_int_equal(count_of(pub, EH_MQ_JOBS_QUEUE), 1);

    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    eh_mq_msg_t msg;
    expect_message(con, body, EH_MQ_JOBS_QUEUE, &msg);
    assert_false(msg.redelivered);
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    assert_null(msg.body);

    /* Acked: gone for good, neither redelivered nor left in the queue. */
    expect_nothing(con, 300);
    assert_int_equal(count_of(pub, EH_MQ_JOBS_QUEUE), 0);
    eh_mq_destroy(con);
    eh_mq_destroy(pub);
}

static void test_unacked_message_is_redelivered_after_destroy(void **state)
{
    (void)state;
    eh_mq_t *pub = connect_ok(0);
    purge_queues(pub);
    char body[128];
    make_body(body, sizeof(body), "redeliver");
    publish_job(pub, body);

    eh_mq_t *con = connect_ok(0);
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    eh_mq_msg_t msg;
    expect_message(con, body, EH_MQ_JOBS_QUEUE, &msg);
    eh_mq_msg_free(&msg);
    eh_mq_destroy(con); /* without ack */

    con = connect_ok(0);
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    expect_message(con, body, EH_MQ_JOBS_QUEUE, &msg);
    assert_true(msg.redelivered);
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    eh_mq_destroy(con);
    eh_mq_destroy(pub);
}

static void test_reject_dead_letters(void **state)
{
    (void)state;
    eh_mq_t *con = connect_ok(0);
    purge_queues(con);
    char body[128];
    make_body(body, sizeof(body), "poison");
    publish_job(con, body);

    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    eh_mq_msg_t msg;
    expect_message(con, body, EH_MQ_JOBS_QUEUE, &msg);
    assert_int_equal(eh_mq_reject(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    expect_nothing(con, 300); /* not requeued */

    /* It lands in eh.jobs.dead through the fanout DLX, with its original routing key. */
    eh_mq_t *dead = connect_ok(0);
    assert_int_equal(count_of(dead, EH_MQ_JOBS_QUEUE), 0);
    assert_int_equal(eh_mq_consume(dead, EH_MQ_DEAD_QUEUE, 1), EH_OK);
    expect_message(dead, body, EH_MQ_JOBS_QUEUE, &msg);
    assert_int_equal(eh_mq_ack(dead, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    eh_mq_destroy(dead);
    eh_mq_destroy(con);
}

static void test_progress_exclusive_queue(void **state)
{
    (void)state;
    eh_mq_t *relay = connect_ok(0);
    eh_mq_t *worker = connect_ok(0);
    assert_int_equal(eh_mq_consume_exclusive(relay, EH_MQ_PROGRESS_EXCHANGE, "job.*"), EH_OK);

    char id[EH_UUID_STRLEN + 1];
    assert_int_equal(eh_uuid_v4(id), EH_OK);
    char key[64], other[64], body[128];
    snprintf(key, sizeof(key), "job.%s", id);
    snprintf(other, sizeof(other), "other.%s", id);
    snprintf(body, sizeof(body), "{\"job_id\":\"%s\",\"event\":\"progress\",\"seq\":1}", id);

    /* Not matched by job.*: never reaches the relay. */
    assert_int_equal(eh_mq_publish_fast(worker, EH_MQ_PROGRESS_EXCHANGE, other, "{}", 2), EH_OK);
    assert_int_equal(eh_mq_publish_fast(worker, EH_MQ_PROGRESS_EXCHANGE, key, body, strlen(body)), EH_OK);

    eh_mq_msg_t msg;
    expect_message(relay, body, key, &msg);
    /* Auto-ack: acking is not needed, and nothing else arrives. */
    eh_mq_msg_free(&msg);
    expect_nothing(relay, 300);
    assert_true(eh_mq_is_open(relay));
    assert_true(eh_mq_is_open(worker));
    eh_mq_destroy(worker);
    eh_mq_destroy(relay);
}

static void test_confirmed_and_fast_share_a_handle(void **state)
{
    (void)state;
    /* The worker publishes progress fast and its final event confirmed, on one handle. */
    eh_mq_t *mq = connect_ok(0);
    purge_queues(mq);
    char a[128], b[128];
    make_body(a, sizeof(a), "confirmed 1");
    make_body(b, sizeof(b), "confirmed 2");
    publish_job(mq, a);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eh_mq_publish_fast(mq, EH_MQ_PROGRESS_EXCHANGE, "job.nobody-listens", "{}", 2), EH_OK);
    int64_t t0 = eh_time_mono_ms();
    publish_job(mq, b);
    assert_true(eh_time_mono_ms() - t0 < CONFIRM_MS / 2); /* the delivery tags stayed in step */
    assert_int_equal(count_of(mq, EH_MQ_JOBS_QUEUE), 2);
    assert_int_equal(eh_mq_purge(mq, EH_MQ_JOBS_QUEUE, NULL), EH_OK);
    eh_mq_destroy(mq);
}

static void test_next_times_out(void **state)
{
    (void)state;
    eh_mq_t *con = connect_ok(0);
    purge_queues(con);
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    int64_t t0 = eh_time_mono_ms();
    expect_nothing(con, 400);
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took >= 390);
    assert_true(took < 1400);
    assert_true(eh_mq_is_open(con));
    eh_mq_destroy(con);
}

static void test_cancel_stops_deliveries(void **state)
{
    (void)state;
    eh_mq_t *pub = connect_ok(0);
    eh_mq_t *con = connect_ok(0);
    purge_queues(pub);
    char a[128], b[128];
    make_body(a, sizeof(a), "first");
    make_body(b, sizeof(b), "second");
    publish_job(pub, a);

    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    eh_mq_msg_t msg;
    expect_message(con, a, EH_MQ_JOBS_QUEUE, &msg);
    assert_int_equal(eh_mq_cancel(con), EH_OK);
    /* The delivery tag stays valid after the cancel: the worker acks after claiming. */
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);

    publish_job(pub, b);
    expect_nothing(con, 500);
    assert_int_equal(count_of(pub, EH_MQ_JOBS_QUEUE), 1);

    /* Consuming again picks it up. */
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    expect_message(con, b, EH_MQ_JOBS_QUEUE, &msg);
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    assert_int_equal(eh_mq_cancel(con), EH_OK);
    assert_int_equal(eh_mq_cancel(con), EH_OK); /* nothing to cancel */
    eh_mq_destroy(con);
    eh_mq_destroy(pub);
}

static void test_cancel_requeues_prefetched(void **state)
{
    (void)state;
    eh_mq_t *pub = connect_ok(0);
    eh_mq_t *con = connect_ok(0);
    purge_queues(pub);
    char a[128], b[128];
    make_body(a, sizeof(a), "taken");
    make_body(b, sizeof(b), "prefetched");
    publish_job(pub, a);
    publish_job(pub, b);

    /* Prefetch 2: the second message is on its way (or read already) when we cancel. */
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 2), EH_OK);
    eh_mq_msg_t msg;
    expect_message(con, a, EH_MQ_JOBS_QUEUE, &msg);
    assert_int_equal(eh_mq_idle(con, 200), EH_OK); /* lets the second delivery arrive */
    assert_int_equal(eh_mq_cancel(con), EH_OK);
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    expect_nothing(con, 300);
    assert_int_equal(count_of(pub, EH_MQ_JOBS_QUEUE), 1);

    eh_mq_t *other = connect_ok(0);
    assert_int_equal(eh_mq_consume(other, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    expect_message(other, b, EH_MQ_JOBS_QUEUE, &msg);
    assert_true(msg.redelivered);
    assert_int_equal(eh_mq_ack(other, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    eh_mq_destroy(other);
    eh_mq_destroy(con);
    eh_mq_destroy(pub);
}

static void test_idle_keeps_connection_alive(void **state)
{
    (void)state;
    /* With a 1 s heartbeat the broker drops a silent client after about 2 s. */
    eh_mq_t *mq = connect_ok(1);
    purge_queues(mq);
    int64_t t0 = eh_time_mono_ms();
    assert_int_equal(eh_mq_idle(mq, 4000), EH_OK);
    assert_true(eh_mq_idle(mq, 1500) == EH_OK);
    assert_true(eh_time_mono_ms() - t0 >= 5500);
    assert_true(eh_mq_is_open(mq));
    char body[128];
    make_body(body, sizeof(body), "after idle");
    publish_job(mq, body);
    assert_int_equal(count_of(mq, EH_MQ_JOBS_QUEUE), 1);
    assert_int_equal(eh_mq_purge(mq, EH_MQ_JOBS_QUEUE, NULL), EH_OK);
    eh_mq_destroy(mq);
}

static void test_idle_keeps_deliveries(void **state)
{
    (void)state;
    eh_mq_t *pub = connect_ok(0);
    eh_mq_t *con = connect_ok(1);
    purge_queues(pub);
    assert_int_equal(eh_mq_consume(con, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    char body[128];
    make_body(body, sizeof(body), "during idle");
    publish_job(pub, body);
    /* The delivery arrives while idling; it must wait for eh_mq_next, not vanish. */
    assert_int_equal(eh_mq_idle(con, 1000), EH_OK);
    eh_mq_msg_t msg;
    assert_int_equal(eh_mq_next(con, &msg, 0), EH_OK);
    assert_string_equal(msg.body, body);
    assert_int_equal(eh_mq_ack(con, msg.delivery_tag), EH_OK);
    eh_mq_msg_free(&msg);
    eh_mq_destroy(con);
    eh_mq_destroy(pub);
}

static void test_dead_port_fails_within_wait(void **state)
{
    (void)state;
    int port;
    int fd = eh_test_loopback_socket(&port);
    char url[128];
    snprintf(url, sizeof(url), "amqp://guest:pw-dead-port-secret@127.0.0.1:%d/", port);

    eh_test_capture_t cap;
    eh_log_set_level(EH_LOG_DEBUG);
    eh_test_capture_start(&cap);
    int64_t t0 = eh_time_mono_ms();
    eh_mq_t *mq = eh_mq_connect(url, 0, 1500);
    int64_t took = eh_time_mono_ms() - t0;
    char *logged = eh_test_capture_stop(&cap);
    eh_log_set_level(EH_LOG_ERROR);
    close(fd);

    assert_null(mq);
    assert_true(took >= 1300); /* it kept retrying ... */
    assert_true(took < 2500);  /* ... but not past wait_ms */
    assert_non_null(strstr(logged, "no connection to the broker"));
    assert_null(strstr(logged, "pw-dead-port-secret"));
    free(logged);

    /* wait_ms 0: a single try. */
    fd = eh_test_loopback_socket(&port);
    snprintf(url, sizeof(url), "amqp://guest:guest@127.0.0.1:%d", port);
    eh_test_capture_start(&cap);
    t0 = eh_time_mono_ms();
    mq = eh_mq_connect(url, 0, 0);
    took = eh_time_mono_ms() - t0;
    logged = eh_test_capture_stop(&cap);
    close(fd);
    assert_non_null(strstr(logged, "no connection to the broker"));
    free(logged);
    assert_null(mq);
    assert_true(took < 500);
    eh_mq_destroy(NULL);
}

static void test_bad_credentials_are_not_logged(void **state)
{
    (void)state;
    struct amqp_connection_info info;
    char *copy = parse_broker_url(&info);
    char url[512];
    snprintf(url, sizeof(url), "amqp://%s:wrong-pw-not-to-be-logged@%s:%d", info.user, info.host, info.port);
    free(copy);

    eh_test_capture_t cap;
    eh_log_set_level(EH_LOG_DEBUG);
    eh_test_capture_start(&cap);
    eh_mq_t *mq = eh_mq_connect(url, 0, 0);
    char *logged = eh_test_capture_stop(&cap);
    eh_log_set_level(EH_LOG_ERROR);
    assert_null(mq);
    assert_non_null(strstr(logged, "ACCESS_REFUSED"));
    assert_null(strstr(logged, "wrong-pw-not-to-be-logged"));
    free(logged);

    eh_test_capture_start(&cap);
    assert_null(eh_mq_connect("amqp://guest:bad-url-secret@127.0.0.1:notaport/", 0, 0));
    assert_null(eh_mq_connect("http://not-amqp", 0, 0));
    logged = eh_test_capture_stop(&cap);
    assert_non_null(strstr(logged, "invalid AMQP URL"));
    assert_null(strstr(logged, "bad-url-secret"));
    free(logged);
}

static void test_broker_errors_close_the_handle(void **state)
{
    (void)state;
    char missing[64];
    eh_test_random_name(missing, sizeof(missing), "eh.itest.missing.");

    /* Publishing to a missing exchange: the broker closes the channel (404) while we wait for the confirm. */
    eh_test_capture_t cap;
    eh_test_capture_start(&cap);
    eh_mq_t *mq = connect_ok(0);
    assert_int_equal(eh_mq_publish_confirmed(mq, missing, "x", "{}", 2, CONFIRM_MS), EH_ERR);
    assert_false(eh_mq_is_open(mq));
    assert_int_equal(eh_mq_publish_confirmed(mq, "", EH_MQ_JOBS_QUEUE, "{}", 2, CONFIRM_MS), EH_AGAIN);
    assert_int_equal(eh_mq_idle(mq, 10), EH_AGAIN);
    eh_mq_msg_t msg;
    assert_int_equal(eh_mq_next(mq, &msg, 10), EH_AGAIN);
    eh_mq_destroy(mq);

    /* A passive declare of a missing queue. */
    mq = connect_ok(0);
    uint32_t n = 0;
    assert_int_equal(eh_mq_message_count(mq, missing, &n), EH_DECLINED);
    assert_false(eh_mq_is_open(mq));
    eh_mq_destroy(mq);

    /* A channel closed by the broker while idling (ack of an unknown delivery tag: 406). */
    mq = connect_ok(0);
    assert_int_equal(eh_mq_ack(mq, 999), EH_OK); /* asynchronous: the error comes back later */
    assert_int_equal(eh_mq_idle(mq, 2000), EH_AGAIN);
    assert_false(eh_mq_is_open(mq));
    eh_mq_destroy(mq);

    /* Each reason reached the log, with the broker's code and text. */
    char *logged = eh_test_capture_stop(&cap);
    assert_non_null(strstr(logged, "\"reply_code\":404,\"reply_text\":\"NOT_FOUND - no exchange"));
    assert_non_null(strstr(logged, "\"reply_code\":404,\"reply_text\":\"NOT_FOUND - no queue"));
    assert_non_null(
        strstr(logged, "\"reply_code\":406,\"reply_text\":\"PRECONDITION_FAILED - unknown delivery tag 999"));
    free(logged);
}

static void test_lost_connection_is_reported(void **state)
{
    (void)state;
    eh_test_capture_t cap;
    eh_test_capture_start(&cap);

    /* The peer closes the socket: a consumer waiting in eh_mq_next hears of it at once. */
    proxy_t p;
    proxy_start(&p);
    eh_mq_t *mq = connect_via(&p, 0);
    assert_int_equal(eh_mq_consume(mq, EH_MQ_JOBS_QUEUE, 1), EH_OK);
    atomic_store(&p.mode, PROXY_CLOSE);
    eh_mq_msg_t msg;
    int64_t t0 = eh_time_mono_ms();
    assert_int_equal(eh_mq_next(mq, &msg, WAIT_MS), EH_AGAIN);
    assert_true(eh_time_mono_ms() - t0 < 1000);
    assert_false(eh_mq_is_open(mq));
    assert_int_equal(eh_mq_publish_fast(mq, EH_MQ_PROGRESS_EXCHANGE, "job.x", "{}", 2), EH_AGAIN);
    eh_mq_destroy(mq);
    proxy_stop(&p);

    /* The peer goes silent: the missed heartbeats end eh_mq_idle after about two intervals. */
    proxy_start(&p);
    mq = connect_via(&p, 1);
    assert_int_equal(eh_mq_idle(mq, 1500), EH_OK);
    atomic_store(&p.mode, PROXY_FREEZE);
    t0 = eh_time_mono_ms();
    assert_int_equal(eh_mq_idle(mq, 10000), EH_AGAIN);
    int64_t took = eh_time_mono_ms() - t0;
    assert_true(took < 4000);
    assert_false(eh_mq_is_open(mq));
    eh_mq_destroy(mq);
    proxy_stop(&p);

    char *logged = eh_test_capture_stop(&cap);
    assert_non_null(strstr(logged, "heartbeat"));
    free(logged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_is_idempotent),
        cmocka_unit_test(test_publish_consume_ack),
        cmocka_unit_test(test_unacked_message_is_redelivered_after_destroy),
        cmocka_unit_test(test_reject_dead_letters),
        cmocka_unit_test(test_progress_exclusive_queue),
        cmocka_unit_test(test_confirmed_and_fast_share_a_handle),
        cmocka_unit_test(test_next_times_out),
        cmocka_unit_test(test_cancel_stops_deliveries),
        cmocka_unit_test(test_cancel_requeues_prefetched),
        cmocka_unit_test(test_idle_keeps_connection_alive),
        cmocka_unit_test(test_idle_keeps_deliveries),
        cmocka_unit_test(test_dead_port_fails_within_wait),
        cmocka_unit_test(test_bad_credentials_are_not_logged),
        cmocka_unit_test(test_broker_errors_close_the_handle),
        cmocka_unit_test(test_lost_connection_is_reported),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
