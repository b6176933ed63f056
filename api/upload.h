/*
 * upload.h - the upload pipeline's stages and the state they share. Private
 * to api/upload*.c.
 *
 * A request goes through four stages, each with one owner:
 *
 *   spool    upload_spool.c    multipart parts -> sniff, count, spool file (or the
 *                              dry run's validator), the global spool budget
 *   store    upload_store.c    the S3 object: the PUT streamed while the body
 *                              arrives, or one PUT of the spool at the end
 *   record   upload_record.c   the idempotency reservation and the job row
 *   announce upload_announce.c the confirmed publish and the 202 body
 *
 * upload.c is the orchestrator: it takes libmicrohttpd's calls, runs the
 * stages in order (the last three off the request threads) and writes the
 * answer. A stage sets up->ans_* when it ends the request; the orchestrator
 * stops at the first stage that did.
 */
#ifndef EH_API_UPLOAD_H
#define EH_API_UPLOAD_H

#include <openssl/evp.h>
#include <stdatomic.h>

#include "api.h"
#include "multipart.h"
#include "splitter.h"
#include "validate.h"

#define UPLOAD_IDEM_KEY_MAX 255
#define UPLOAD_DRY_RUN_ERRORS 100
/* File bytes past the length told from the framing that a streamed upload keeps (a well-formed body has at most 2). */
#define UPLOAD_OVERFLOW_MAX 256

enum upload_stage {
    UPLOAD_RECEIVING,
    UPLOAD_STORING, /* offloaded: the connection is suspended */
    UPLOAD_STORED,  /* the answer is ready for the final call */
    UPLOAD_REFUSED, /* answered before the end of the body: the connection is to be closed */
};

/* The dry run: the worker's splitter and validator, fed the file part instead of the spool. */
typedef struct upload_dry_run {
    worker_splitter_t *splitter;
    worker_entry_t entry;
    uint64_t lines_valid, lines_invalid, lines_blank, lines_total;
    json_t *errors; /* the first UPLOAD_DRY_RUN_ERRORS {line_no, reason} */
} upload_dry_run_t;

typedef struct api_upload {
    api_ctx_t *ctx;
    api_request_t *rq;
    struct MHD_Connection *conn;
    int stage;
    bool dry_run;
    api_multipart_t mp; /* the body's parser, once mp_ready */
    bool mp_ready;

    /* ---- spool stage ---- */
    int fd;     /* spool; -1 until the file part starts (and for a dry run) */
    char *wbuf; /* spool write buffer */
    size_t wlen;
    uint64_t charged;    /* bytes of the global spool budget this upload holds */
    uint64_t body_bytes; /* raw request body so far */
    uint64_t file_bytes;
    uint64_t newlines;
    char last; /* last byte of the file */
    int file_parts;
    bool in_file; /* the part being delivered is the file */
    char file_name[API_FILE_NAME_MAX + 1];
    api_sniff_t sniff;
    upload_dry_run_t dry;
    EVP_MD_CTX *sha; /* SHA-256 of the file, with an Idempotency-Key only */
    char sha_hex[65];

    /* An answer decided before the end of the body. */
    int err_status;
    const char *err_code;
    char err_msg[192];
    int sock;                    /* the connection's socket, for an answer written before the end of the body */
    atomic_bool refusal_written; /* set by the refusal's thread */

    /* ---- store stage ---- */
    uint64_t declared; /* Content-Length; 0 when absent */
    char boundary[API_MULTIPART_BOUNDARY_MAX + 1];
    uint64_t predicted; /* the file's length told from the framing; 0: unknown */
    uint64_t spooled;   /* bytes of the file written to the spool file (only the first ones when streamed) */
    bool stream_tried;
    api_put_stream_t *stream;           /* the file past the spooled bytes goes here, not to the spool */
    uint64_t streamed;                  /* bytes handed to the stream */
    char overflow[UPLOAD_OVERFLOW_MAX]; /* file bytes past the stream's length */
    size_t overflow_len;
    bool streamed_put;           /* the object is the streamed PUT's (for the log) */
    char id[EH_UUID_STRLEN + 1]; /* the job's id, made when the PUT starts */
    char key[EH_OBJECT_KEY_MAX];

    /* ---- record stage ---- */
    char idem_key[UPLOAD_IDEM_KEY_MAX + 1]; /* empty: no Idempotency-Key */
    bool idem_reserved;                     /* our reservation row exists and must be settled */
    eh_job_t job;
    bool recorded;

    /* The answer of the final call. */
    int ans_status;
    json_t *ans_body;
    char ans_location[64];
} api_upload_t;

/* ---- upload.c: answers shared by the stages ---- */
void upload_set_error(api_upload_t *up, int status, const char *code, const char *msg);
void upload_answer(api_upload_t *up, int status, json_t *body);
void upload_answer_error(api_upload_t *up, int status, const char *code, const char *msg);

/* ---- upload_spool.c ---- */
/* Sets up what the spool stage needs (post processor callbacks, sniff, budget, dry run). EH_OK or EH_ERR. */
EH_MUST_CHECK int upload_spool_init(api_upload_t *up);
/* What the body's multipart parser calls back with (the file part goes to the spool stage). */
extern const api_multipart_callbacks_t upload_spool_parts;
/* The body has arrived whole: flushes the spool and settles the digest. EH_OK or answer set. */
EH_MUST_CHECK int upload_spool_finish(api_upload_t *up);
/* Closes the spool file (its blocks are freed) and gives the budget back. */
void upload_spool_release(api_upload_t *up);
/* The dry run's 200 body from the counts (the body has arrived whole and passed the checks). */
json_t *upload_spool_dry_run_body(api_upload_t *up);
/* Frees the spool stage's state. */
void upload_spool_free(api_upload_t *up);
/* Bytes spooled by all uploads of the process right now (for tests and logs). */
uint64_t upload_spool_budget_used(void);
/* Tries to take n more bytes of the budget; false when it would exceed EH_SPOOL_MAX_BYTES. */
bool upload_spool_charge(api_upload_t *up, uint64_t n);
/* Gives back the budget past what the spool holds (a streamed upload spools no more). */
void upload_spool_uncharge(api_upload_t *up);
/* Empties the spool file for a copy of the file. EH_OK, or EH_ERR with up->err_* set. */
EH_MUST_CHECK int upload_spool_restart(api_upload_t *up);
/* Appends n bytes to the spool file (charged to the budget). EH_OK, or EH_ERR with up->err_* set. */
EH_MUST_CHECK int upload_spool_put(api_upload_t *up, const char *p, size_t n);

/* ---- upload_store.c ---- */
/* Whether the file may be PUT while it arrives (long enough, its length told, sniffed as JSON lines). */
bool upload_store_may_stream(const api_upload_t *up);
/* Starts the streamed PUT once the spool holds everything received so far; the rest is pushed. */
void upload_store_start_stream(api_upload_t *up);
/* The next bytes of a streamed file (up->stream is set). EH_OK, or EH_ERR with the answer set. */
EH_MUST_CHECK int upload_store_push(api_upload_t *up, const char *data, size_t n);
/* At the end of an access handler call with data: holds the connection while the stream's ring is full. */
void upload_store_pace(api_upload_t *up);
/* Stores the spooled file under up->key (a streamed PUT committed, or one PUT of the spool). EH_OK or answer set. */
EH_MUST_CHECK int upload_store_run(api_upload_t *up);
/* Cancels a streamed PUT (deleting what it may have left); a committed one is only freed. */
void upload_store_drop(api_upload_t *up);
/* Deletes the stored object of a request that made no job. */
void upload_store_delete_object(api_ctx_t *ctx, const char *key);

/* ---- upload_record.c ---- */
/*
 * Reserves the Idempotency-Key (when the request has one) before anything is
 * stored. EH_OK to go on; otherwise the answer is set: the first answer
 * again (200), 409 idempotency_conflict / idempotency_in_progress, or 503.
 */
EH_MUST_CHECK int upload_record_reserve(api_upload_t *up);
/*
 * The job row, and the idempotency record of its answer, in one
 * transaction on db that first takes the tenant's quota slot
 * (api_quota_reserve). EH_OK with job filled; EH_DECLINED when the tenant
 * has EH_TENANT_MAX_ACTIVE_JOBS active jobs (nothing written); EH_AGAIN when
 * the database did not answer; EH_ERR.
 */
EH_MUST_CHECK int upload_record_insert(eh_db_t *db, api_upload_t *up, eh_job_t *job);
/* Runs the record stage (connection, insert, the doubt after a lost answer). EH_OK or answer set. */
EH_MUST_CHECK int upload_record_run(api_upload_t *up);
/* A request that made no job gives its reservation back, so that the key is not used up. */
void upload_record_release(api_upload_t *up);

/* ---- upload_announce.c ---- */
/* Publishes the job (or leaves it to the re-publisher) and sets the 202 answer. */
void upload_announce_run(api_upload_t *up, int64_t receive_ms, int64_t put_ms);
/* The body of an accepted upload. */
json_t *upload_announce_body(const eh_job_t *job);

#endif
