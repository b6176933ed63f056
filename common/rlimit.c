#include "rlimit.h"

#include <errno.h>
#include <sys/resource.h>

#include "log.h"

int64_t eh_rlimit_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        eh_log_errno(EH_LOG_WARN, errno, "getrlimit(RLIMIT_NOFILE)");
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
        else
            eh_log_errno(EH_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE)");
    }
    int64_t cur = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
    eh_log_kv(EH_LOG_DEBUG, json_pack("{s:I}", "nofile", (json_int_t)cur), "descriptor limit");
    return cur;
}
