/*
 * eh-worker: the supervisor and, after fork, its worker and reaper
 * processes (worker/worker.h). Configuration comes from EH_* variables
 * (eh-worker --help lists them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rlimit.h"
#include "worker.h"

int main(int argc, char **argv)
{
    eh_log_init("supervisor");
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            eh_config_print_help(stdout);
            return 0;
        }
        eh_log_error("unknown argument (try --help)");
        return 2;
    }
    eh_config_t cfg;
    char err[512];
    if (eh_config_load(&cfg, err, sizeof(err)) != EH_OK) {
        eh_log_error("%s", err);
        return 2;
    }
    eh_log_set_level((int)cfg.log_level);
    eh_config_log(&cfg);
    (void)eh_rlimit_raise_nofile();
    /*
     * Ingestion is throughput work; eh-api's relay and status reads are
     * latency work. Where both share cores (one host, the bench), a busy
     * pool of workers otherwise adds tens of ms to every WebSocket event.
     * The workers inherit it; on cores of its own it changes nothing.
     */
    errno = 0;
    if (cfg.worker_nice > 0 && nice((int)cfg.worker_nice) == -1 && errno != 0)
        eh_log_errno(EH_LOG_WARN, errno, "nice");
    /* Returns in the supervisor when it stops, and in each child when that child ends. */
    int status = worker_supervisor_run(&cfg);
    eh_config_free(&cfg);
    return status;
}
