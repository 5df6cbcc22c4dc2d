/*
 * Who writes a run, and what happens when that writer dies. A run records
 * the pid, host name and start time of the process writing it; the next
 * lb_store_open on the same host finds runs still 'running' whose process is
 * gone (or whose pid now belongs to another process: the start time
 * differs) and closes them as 'interrupted', with the step that was running
 * and the rollbacks that were registered and never run. This is what makes
 * a kill -9 in the middle of a drill visible instead of a run stuck forever.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "store_int.h"

enum proc_stat_rc { PROC_OK = 0, PROC_GONE = -1, PROC_UNKNOWN = -2 };

/* Parse a whole decimal field. */
static int parse_ll(const char *text, size_t len, long long *out)
{
    char buf[32];
    int64_t v;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (lb_parse_int64(buf, &v) != 0)
        return -1;
    *out = (long long)v;
    return 0;
}

/*
 * State (field 3) and start time (field 22, clock ticks after boot) of a
 * process from /proc/<pid>/stat; pid 0 reads /proc/self/stat.
 */
static enum proc_stat_rc proc_stat(long long pid, char *state, long long *start_time)
{
    char path[64], buf[1024];
    const char *p, *field;
    size_t n;
    FILE *f;
    int i;

    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/stat");
    else
        snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT || errno == ESRCH ? PROC_GONE : PROC_UNKNOWN;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) is in parentheses and may hold spaces or
     * parentheses itself: the fields we want follow the last ')'. */
    p = strrchr(buf, ')');
    if (p == NULL)
        return PROC_UNKNOWN;
    p++;
    for (i = 3; i <= 22; i++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return PROC_UNKNOWN;
        field = p;
        while (*p != ' ' && *p != '\0' && *p != '\n')
            p++;
        if (i == 3)
            *state = field[0];
        if (i == 22 && parse_ll(field, (size_t)(p - field), start_time) != 0)
            return PROC_UNKNOWN;
    }
    return PROC_OK;
}

void lb_store_self_writer(long long *pid, char *host, size_t hostsz,
                          long long *start_time)
{
    char state = '?';
    *pid = (long long)getpid();
    if (hostsz > 0) {
        if (gethostname(host, hostsz) != 0)
            snprintf(host, hostsz, "unknown");
        host[hostsz - 1] = '\0';
    }
    if (proc_stat(0, &state, start_time) != PROC_OK)
        *start_time = -1;
}

int lb_store_writer_alive(const char *host, long long pid, long long start_time)
{
    char self[256], state = '?';
    long long self_pid = 0, self_start = -1, now_start = -1;

    lb_store_self_writer(&self_pid, self, sizeof self, &self_start);
    /* Another machine's processes are not ours to judge. */
    if (host == NULL || strcmp(host, self) != 0 || pid <= 0)
        return 1;
    if (pid > INT_MAX)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    switch (proc_stat(pid, &state, &now_start)) {
    case PROC_GONE:
        return 0;
    case PROC_OK:
        if (state == 'Z' || state == 'X')
            return 0;
        if (start_time >= 0 && now_start != start_time)
            return 0;
        return 1;
    default:
        /* No /proc: the pid exists, and that is all we can know. */
        return 1;
    }
}

/* Close one run whose writer is gone, in one transaction. */
static int mark_interrupted(struct lb_store *s, const char *id, long long pid,
                            const char *host, struct lb_err *err)
{
    char *why = NULL, *step_why = NULL, *rb_why = NULL;
    int changes = 0;
    int rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    why = lb_xasprintf("the lifeboat process (pid %lld on %s) ended while the run "
                       "was in flight; found by a later start",
                       pid, host != NULL ? host : "?");
    step_why = lb_xasprintf("interrupted: the lifeboat process (pid %lld) ended "
                            "during this step", pid);
    rb_why = lb_xasprintf("not run: the lifeboat process (pid %lld) ended before "
                          "the rollback ran; check the target by hand", pid);
    /* The status test keeps a second opener from closing it twice. */
    rc = lb_sq_exec(s, &changes, err, "mark run interrupted",
                    "UPDATE runs SET status = 'interrupted', exit_code = 130,"
                    " ended_at = COALESCE((SELECT MAX(COALESCE(ended_at, started_at))"
                    "   FROM steps WHERE run_id = ?1), started_at),"
                    " error = COALESCE(error, ?2)"
                    " WHERE id = ?1 AND status = 'running'",
                    "ss", id, why);
    if (rc != 0 || changes == 0)
        goto out;
    rc = lb_sq_exec(s, NULL, err, "mark step interrupted",
                    "UPDATE steps SET status = 'interrupted', error = COALESCE(error, ?2)"
                    " WHERE run_id = ?1 AND status = 'running'",
                    "ss", id, step_why);
    if (rc != 0)
        goto out;
    rc = lb_sq_exec(s, NULL, err, "mark rollbacks not run",
                    "UPDATE rollbacks SET status = CASE status WHEN 'running'"
                    " THEN 'failed' ELSE 'not_run' END, error = COALESCE(error, ?2)"
                    " WHERE run_id = ?1 AND status IN ('registered', 'running')",
                    "ss", id, rb_why);
    if (rc != 0)
        goto out;
    /* A manual step that was waiting waits for nobody now (version 2). */
    rc = lb_sq_exec(s, NULL, err, "close manual waits",
                    "UPDATE acks SET state = 'interrupted', ended_at = ?2"
                    " WHERE run_id = ?1 AND state = 'waiting'",
                    "sl", id, lb_wall_ms());
out:
    if (rc == 0)
        rc = lb_sq_commit(s, err);
    if (rc != 0)
        lb_sq_rollback(s);
    free(why);
    free(step_why);
    free(rb_why);
    return rc;
}

struct orphan {
    char *id, *host;
    long long pid;
};

int lb_store_recover_interrupted(struct lb_store *s, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct orphan *dead = NULL;
    size_t ndead = 0, i;
    int rc, r;

    rc = lb_sq_prepare(s,
                       "SELECT id, writer_host, writer_pid, writer_start_time"
                       " FROM runs WHERE status = 'running' ORDER BY rowid",
                       &st, err, "find interrupted runs");
    if (rc != 0)
        goto out;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(st, 1);
        long long pid = (long long)lb_sq_col_i64(st, 2);
        long long start = (long long)lb_sq_col_i64(st, 3);
        if (lb_store_writer_alive(host, pid, start))
            continue;
        dead = lb_xrealloc(dead, (ndead + 1) * sizeof *dead);
        dead[ndead].id = lb_sq_col_str(st, 0);
        dead[ndead].host = lb_xstrdup(host);
        dead[ndead].pid = pid;
        ndead++;
    }
    if (r != SQLITE_DONE) {
        rc = lb_sq_err(s, err, "find interrupted runs");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    for (i = 0; i < ndead && rc == 0; i++)
        rc = mark_interrupted(s, dead[i].id, dead[i].pid, dead[i].host, err);
out:
    sqlite3_finalize(st);
    for (i = 0; i < ndead; i++) {
        free(dead[i].id);
        free(dead[i].host);
    }
    free(dead);
    return rc;
}
