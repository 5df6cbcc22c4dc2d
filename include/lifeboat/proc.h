/*
 * proc: run a child process from an argv (never a shell) with posix_spawn,
 * in its own process group, with a deadline, bounded output capture and
 * interrupt handling. Used by backup, sandbox and the exec{} binding.
 *
 * The child gets stdin from /dev/null and stdout+stderr merged into one
 * pipe. Output is kept as the first `head_limit` bytes and the last
 * `tail_limit` bytes; the middle is counted but dropped, so a chatty tool
 * cannot exhaust memory. At the deadline, or on an interrupt, the whole
 * process group gets SIGTERM, then SIGKILL after a grace period.
 */
#ifndef LIFEBOAT_PROC_H
#define LIFEBOAT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lifeboat/util.h"

struct lb_proc_opts {
    const char *const *argv;    /* argv[0] is looked up in PATH; NULL-ended */
    const char *const *env_add; /* "NAME=value" entries added to the environment; NULL-ended or NULL */
    const char *cwd;            /* NULL: inherit */
    int64_t deadline_ms;        /* monotonic; LB_NO_DEADLINE for none */
    size_t head_limit;          /* 0: default 4 KiB */
    size_t tail_limit;          /* 0: default 16 KiB */
    const char *run_as;         /* OS user to run as (via runuser); NULL: self */
    const char *stdout_path;    /* if set, stdout goes to this file (truncated) and only stderr is captured */
    int grace_ms;               /* SIGTERM → SIGKILL grace; 0: 2000 */
};

struct lb_proc_result {
    int exited;          /* 1 if the process exited normally */
    int status;          /* exit status if exited, else -1 */
    int signal;          /* terminating signal, else 0 */
    int timed_out;       /* killed at the deadline */
    int interrupted;     /* killed because of SIGINT/SIGTERM */
    int64_t duration_ms; /* monotonic */
    size_t output_bytes; /* total bytes the child wrote */
    char *output;        /* head + "\n[... N bytes ...]\n" + tail; caller frees via lb_proc_result_free */
};

/*
 * Run to completion. Returns 0 if the process was started and reaped (check
 * res->status), LB_ETIMEOUT/LB_EINTR if it was killed (res filled too),
 * LB_EPROC if it could not be started.
 */
int lb_proc_run(const struct lb_proc_opts *opts, struct lb_proc_result *res,
                struct lb_err *err);
void lb_proc_result_free(struct lb_proc_result *res);

/* Non-zero when the calling process is root (server tools must then run as
 * the postgres OS user). */
int lb_proc_is_root(void);
/* Render argv as one line for display/storage (space separated, quoted where
 * needed). Caller frees. Not redacted: pass the result through lb_redact_text. */
char *lb_proc_argv_string(const char *const *argv);
/* Find an executable in PATH (or return a copy if it contains '/'). NULL if
 * not found. Caller frees. */
char *lb_proc_which(const char *name);

#endif
