/*
 * The standard process_* metrics, from /proc (Linux), as the official
 * Prometheus clients name them.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* Seconds since the epoch at boot (/proc/stat btime); 0 when unknown. */
static double boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    double btime = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return btime;
}

/* Entries of an fd folder; own_dir: the folder is this process's, so opendir's descriptor is not counted. */
static int64_t count_fds(const char *dir, bool own_dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return own_dir && n > 0 ? n - 1 : n;
}

int eh_metrics_proc_read(pid_t pid, eh_proc_stats_t *out)
{
    char path[64];
    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/stat");
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return EH_ERR;
    char text[1024];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(text, ')');
    if (p == NULL)
        return EH_ERR;
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    /* Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
     * cstime priority nice threads itrealvalue starttime vsize rss */
    int got =
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss);
    if (got != 5)
        return EH_ERR;
    double tck = (double)sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    long page = sysconf(_SC_PAGESIZE);
    *out = (eh_proc_stats_t){
        .cpu_seconds = (double)(utime + stime) / tck,
        .start_time_s = boot_time_s() + (double)start / tck,
        .rss_bytes = (uint64_t)(rss > 0 ? rss : 0) * (uint64_t)(page > 0 ? page : 4096),
        .vsize_bytes = vsize,
        .max_fds = -1,
    };
    if (pid == 0) {
        out->open_fds = count_fds("/proc/self/fd", true);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
            out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
    } else {
        char fddir[64];
        snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)pid);
        out->open_fds = count_fds(fddir, false);
    }
    return EH_OK;
}

int eh_metrics_process_collect(eh_buf_t *out, void *ud)
{
    EH_UNUSED(ud);
    eh_proc_stats_t st;
    if (eh_metrics_proc_read(0, &st) != EH_OK)
        return EH_OK; /* nothing to say, which is not an error of the rendering */
    if (eh_metrics_write_sample(out, "process_cpu_seconds_total", "counter",
                                "Total user and system CPU time spent in seconds.", st.cpu_seconds) != EH_OK ||
        eh_metrics_write_sample(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                                (double)st.rss_bytes) != EH_OK ||
        eh_metrics_write_sample(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                                (double)st.vsize_bytes) != EH_OK ||
        eh_metrics_write_sample(out, "process_start_time_seconds", "gauge",
                                "Start time of the process since unix epoch in seconds.", st.start_time_s) != EH_OK)
        return EH_ERR;
    if (st.open_fds >= 0 && eh_metrics_write_sample(out, "process_open_fds", "gauge",
                                                    "Number of open file descriptors.", (double)st.open_fds) != EH_OK)
        return EH_ERR;
    if (st.max_fds >= 0 &&
        eh_metrics_write_sample(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                                (double)st.max_fds) != EH_OK)
        return EH_ERR;
    return EH_OK;
}
