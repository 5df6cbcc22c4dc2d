/* err: struct lb_err and the names of return codes. */
#include <stdio.h>
#include <string.h>

#include "lifeboat/util.h"

int lb_err_set(struct lb_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    err->sqlstate[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int lb_err_prefix(struct lb_err *err, const char *fmt, ...)
{
    char what[sizeof(err->msg)];
    size_t wlen, olen, cap = sizeof(err->msg) - 1;
    va_list ap;

    if (err == NULL)
        return LB_EINVAL;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err->msg[cap] = '\0';
    olen = strlen(err->msg);
    if (olen > 0 && strlen(what) + 2 <= cap) {
        memcpy(what + strlen(what), ": ", 3);
    }
    wlen = strlen(what);
    if (wlen > cap)
        wlen = cap;
    if (olen > cap - wlen)
        olen = cap - wlen;
    memmove(err->msg + wlen, err->msg, olen);
    memcpy(err->msg, what, wlen);
    err->msg[wlen + olen] = '\0';
    return err->code;
}

void lb_err_clear(struct lb_err *err)
{
    if (err == NULL)
        return;
    err->code = LB_OK;
    err->sqlstate[0] = '\0';
    err->msg[0] = '\0';
}

const char *lb_rc_name(int code)
{
    switch (code) {
    case LB_OK: return "ok";
    case LB_EINVAL: return "invalid";
    case LB_EIO: return "io";
    case LB_EDB: return "db";
    case LB_ETIMEOUT: return "timeout";
    case LB_EINTR: return "interrupted";
    case LB_ESAFETY: return "safety";
    case LB_ENOMEM: return "nomem";
    case LB_EPROC: return "proc";
    case LB_EHALT: return "halt";
    case LB_ESTATE: return "state";
    case LB_ENOTFOUND: return "notfound";
    case LB_EABORT: return "aborted";
    default: return "unknown";
    }
}

int lb_rc_exit_code(int code)
{
    switch (code) {
    case LB_OK: return LB_EXIT_PASSED;
    case LB_EINVAL: return LB_EXIT_USAGE;
    case LB_ESAFETY: return LB_EXIT_SAFETY;
    case LB_EHALT:
    case LB_EABORT: return LB_EXIT_ABORTED;
    case LB_EINTR: return LB_EXIT_INTERRUPTED;
    default: return LB_EXIT_GAPS;
    }
}
