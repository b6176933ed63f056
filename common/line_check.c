#include "line_check.h"

#include <stdio.h>

int eh_line_check(const worker_line_t *line, size_t max_line_bytes, worker_entry_t *e, char *reason, size_t reason_len)
{
    if (line->too_long) {
        snprintf(reason, reason_len, "line longer than %zu bytes", max_line_bytes);
        return EH_DECLINED;
    }
    int rc = worker_validate_line(line->text.p, line->text.len, e, reason, reason_len);
    if (rc == EH_OK)
        e->line_no = line->line_no;
    return rc;
}
