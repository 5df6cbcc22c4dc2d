/*
 * cluster: server control through what the environment declares, facts a
 * recovery procedure needs (identity of a stopped server, role, streaming,
 * lag, archiving), physical clones and data directory swaps.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifeboat/cluster.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "backup_int.h"

#define PG_CTL_CAP_S 3600
#define POLL_MS 200
#define CONNECT_SLICE_MS 2000

/* ---- server control ------------------------------------------------------ */

static int run_declared(const struct lb_env_target *t, char *const *argv, const char *what,
                        int64_t deadline_ms, struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_bk_exec x = {0};
    int rc;

    if (argv == NULL || argv[0] == NULL)
        return lb_err_set(err, LB_EINVAL, "no %s command declared for target %s", what,
                          t->name != NULL ? t->name : "?");
    x.argv = (const char *const *)argv;
    x.deadline_ms = deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc != 0)
        lb_err_prefix(err, "%s of target %s", what, t->name != NULL ? t->name : "?");
    return rc;
}

char *lb_cluster_fence_marker(const char *data_dir)
{
    return lb_xasprintf("%s.FENCED", data_dir);
}

int lb_cluster_running(const char *data_dir)
{
    char *pidfile = lb_path_join(data_dir, "postmaster.pid");
    char line[64], path[64], text[256], link[4096];
    char *real = NULL;
    const char *p;
    int64_t pid = 0;
    ssize_t n;
    int alive = 0;

    lb_file_read_small(pidfile, line, sizeof(line));
    line[strcspn(line, "\n")] = '\0';
    if (lb_parse_int64(line, &pid) != 0 || pid <= 0)
        goto out;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        goto out;
    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    lb_file_read_small(path, text, sizeof(text));
    p = strrchr(text, ')');
    if (p != NULL && p[1] == ' ' && p[2] == 'Z')
        goto out;   /* a zombie: dead */
    snprintf(path, sizeof(path), "/proc/%lld/comm", (long long)pid);
    lb_file_read_small(path, text, sizeof(text));
    if (text[0] != '\0' && !lb_str_starts(text, "postgres"))
        goto out;
    alive = 1;
    snprintf(path, sizeof(path), "/proc/%lld/cwd", (long long)pid);
    n = readlink(path, link, sizeof(link) - 1);
    real = realpath(data_dir, NULL);
    if (n > 0 && real != NULL) {
        link[n] = '\0';
        alive = strcmp(link, real) == 0;
    }
out:
    free(real);
    free(pidfile);
    return alive;
}

static int pg_ctl_stop(const char *data_dir, const char *mode, int64_t deadline_ms,
                       struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    char *pg_ctl = lb_pg_tool("pg_ctl");
    char secs[32];
    int rc;

    lb_bk_seconds_left(deadline_ms, PG_CTL_CAP_S, secs, sizeof(secs));
    lb_bk_argv_add(&a, pg_ctl);
    lb_bk_argv_add(&a, "-D");
    lb_bk_argv_add(&a, data_dir);
    lb_bk_argv_add(&a, "-m");
    lb_bk_argv_add(&a, mode != NULL ? mode : "fast");
    lb_bk_argv_add(&a, "-w");
    lb_bk_argv_add(&a, "-t");
    lb_bk_argv_add(&a, secs);
    lb_bk_argv_add(&a, "stop");
    x.argv = (const char *const *)a.v;
    x.run_as = lb_bk_run_as(NULL);
    x.deadline_ms = deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    lb_bk_argv_free(&a);
    free(pg_ctl);
    return rc;
}

int lb_cluster_stop(const struct lb_env_target *t, const char *mode, int64_t deadline_ms,
                    struct lb_tool_run *run, struct lb_err *err)
{
    int rc;

    if (mode != NULL && strcmp(mode, "fast") != 0 && strcmp(mode, "immediate") != 0 &&
        strcmp(mode, "smart") != 0)
        return lb_err_set(err, LB_EINVAL, "stop mode '%s' is not fast, immediate or smart",
                          mode);
    if (t->stop_argv != NULL)
        rc = run_declared(t, t->stop_argv, "stop", deadline_ms, run, err);
    else if (mode != NULL && t->data_dir != NULL)
        rc = pg_ctl_stop(t->data_dir, mode, deadline_ms, run, err);
    else
        return lb_err_set(err, LB_EINVAL, "no stop command declared for target %s",
                          t->name != NULL ? t->name : "?");
    if (rc == LB_EPROC && t->data_dir != NULL && !lb_cluster_running(t->data_dir)) {
        /* Already stopped: what was asked for is true. */
        lb_err_clear(err);
        rc = 0;
    }
    return rc;
}

int lb_cluster_start(const struct lb_env_target *t, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err)
{
    return run_declared(t, t->start_argv, "start", deadline_ms, run, err);
}

int lb_cluster_fence(const struct lb_env_target *t, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err)
{
    return run_declared(t, t->fence_argv, "fence", deadline_ms, run, err);
}

int lb_cluster_unfence(const struct lb_env_target *t, int64_t deadline_ms,
                       struct lb_tool_run *run, struct lb_err *err)
{
    return run_declared(t, t->unfence_argv, "unfence", deadline_ms, run, err);
}

int lb_cluster_is_fenced(const struct lb_env_target *t)
{
    struct stat st;
    char *marker;
    int fenced;

    if (t->data_dir == NULL)
        return -1;
    marker = lb_cluster_fence_marker(t->data_dir);
    fenced = lb_file_exists(marker) ||
             (stat(t->data_dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0700) == 0);
    free(marker);
    return fenced;
}

const char *lb_cluster_log_path(const struct lb_env_target *t)
{
    size_t i;

    for (i = 0; t->start_argv != NULL && t->start_argv[i] != NULL; i++) {
        const char *a = t->start_argv[i];

        if ((strcmp(a, "-l") == 0 || strcmp(a, "--log") == 0) && t->start_argv[i + 1] != NULL)
            return t->start_argv[i + 1];
        if (lb_str_starts(a, "--log="))
            return a + strlen("--log=");
    }
    return NULL;
}

int lb_cluster_start_dir(const char *data_dir, const char *log_path, int64_t deadline_ms,
                         struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    char *pg_ctl = lb_pg_tool("pg_ctl");
    char *log = log_path != NULL ? lb_xstrdup(log_path) : lb_xasprintf("%s.log", data_dir);
    char secs[32];
    int rc;

    lb_bk_seconds_left(deadline_ms, PG_CTL_CAP_S, secs, sizeof(secs));
    lb_bk_argv_add(&a, pg_ctl);
    lb_bk_argv_add(&a, "-D");
    lb_bk_argv_add(&a, data_dir);
    lb_bk_argv_add(&a, "-l");
    lb_bk_argv_add(&a, log);
    lb_bk_argv_add(&a, "-w");
    lb_bk_argv_add(&a, "-t");
    lb_bk_argv_add(&a, secs);
    lb_bk_argv_add(&a, "start");
    x.argv = (const char *const *)a.v;
    x.run_as = lb_bk_run_as(NULL);
    x.deadline_ms = deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc == LB_EPROC) {
        char *tail = lb_bk_file_tail(log, 3);
        if (tail[0] != '\0')
            lb_err_prefix(err, "starting %s (log: %s)", data_dir, tail);
        free(tail);
    }
    lb_bk_argv_free(&a);
    free(pg_ctl);
    free(log);
    return rc;
}

int lb_cluster_stop_dir(const char *data_dir, const char *mode, int64_t deadline_ms,
                        struct lb_tool_run *run, struct lb_err *err)
{
    int rc = pg_ctl_stop(data_dir, mode, deadline_ms, run, err);

    if (rc == LB_EPROC && !lb_cluster_running(data_dir)) {
        lb_err_clear(err);
        rc = 0;
    }
    return rc;
}

/* ---- scratch servers ------------------------------------------------------ */

int lb_cluster_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

char *lb_cluster_local_conninfo(const char *conninfo, int port)
{
    char text[16];
    char *a, *b, *c;

    if (conninfo == NULL || port < 1 || port > 65535)
        return NULL;
    snprintf(text, sizeof(text), "%d", port);
    a = lb_pg_conninfo_with(conninfo, "host", "127.0.0.1");
    b = a != NULL ? lb_pg_conninfo_with(a, "port", text) : NULL;
    c = b != NULL ? lb_pg_conninfo_with(b, "hostaddr", NULL) : NULL;
    free(a);
    free(b);
    return c;
}

int lb_cluster_start_scratch(const char *data_dir, const char *log_path, const char *conninfo,
                             int64_t deadline_ms, struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_cluster_wait_opts w = {0};
    char *log = log_path != NULL ? lb_xstrdup(log_path) : lb_xasprintf("%s.log", data_dir);
    int rc;

    rc = lb_cluster_start_dir(data_dir, log, deadline_ms, run, err);
    if (rc == 0) {
        w.conninfo = conninfo;
        w.want = LB_CLUSTER_PRIMARY;
        w.data_dir = data_dir;
        w.log_path = log;
        w.deadline_ms = deadline_ms;
        rc = lb_cluster_wait(&w, err);
    }
    free(log);
    return rc;
}

/* ---- facts -------------------------------------------------------------- */

/* Copy the value after "key:" on a line of pg_controldata output. */
static void control_field(const char *line, size_t len, const char *key, char *out,
                          size_t outsz)
{
    size_t klen = strlen(key);
    const char *v;
    size_t vlen;

    if (len <= klen || strncmp(line, key, klen) != 0 || line[klen] != ':')
        return;
    v = line + klen + 1;
    vlen = len - klen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r'))
        vlen--;
    snprintf(out, outsz, "%.*s", (int)vlen, v);
}

int lb_cluster_controldata_parse(const char *text, struct lb_cluster_control *out,
                                 struct lb_err *err)
{
    const char *p = text != NULL ? text : "";
    char tli[32] = "";
    int64_t v;

    memset(out, 0, sizeof(*out));
    out->timeline = -1;
    while (*p != '\0') {
        size_t len = strcspn(p, "\n");

        control_field(p, len, "Database system identifier", out->system_identifier,
                      sizeof(out->system_identifier));
        control_field(p, len, "Database cluster state", out->state, sizeof(out->state));
        control_field(p, len, "Latest checkpoint's TimeLineID", tli, sizeof(tli));
        control_field(p, len, "Latest checkpoint location", out->checkpoint_lsn,
                      sizeof(out->checkpoint_lsn));
        control_field(p, len, "Latest checkpoint's REDO WAL file", out->redo_wal_file,
                      sizeof(out->redo_wal_file));
        p += len;
        if (*p == '\n')
            p++;
    }
    if (tli[0] != '\0' && lb_parse_int64(tli, &v) == 0 && v > 0 && v <= INT32_MAX)
        out->timeline = (int)v;
    if (out->system_identifier[0] == '\0' || lb_parse_int64(out->system_identifier, &v) != 0)
        return lb_err_set(err, LB_EINVAL,
                          "not pg_controldata output: no \"Database system identifier\" line");
    return 0;
}

int lb_cluster_controldata(const char *data_dir, int64_t deadline_ms,
                           struct lb_cluster_control *out, struct lb_err *err)
{
    static const char *const env[] = {"LC_ALL=C", "LANG=C", NULL};
    char *tool = lb_pg_tool("pg_controldata");
    char *version = lb_path_join(data_dir, "PG_VERSION");
    const char *argv[] = {tool, "-D", data_dir, NULL};
    struct lb_bk_exec x = {0};
    char *output = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!lb_file_exists(version)) {
        rc = lb_err_set(err, LB_ENOTFOUND, "%s holds no PostgreSQL cluster", data_dir);
        goto out;
    }
    x.argv = argv;
    x.env_add = env;
    x.run_as = lb_bk_run_as(NULL);
    x.deadline_ms = deadline_ms;
    rc = lb_bk_exec_output(&x, NULL, &output, err);
    if (rc == 0)
        rc = lb_cluster_controldata_parse(output, out, err);
    if (rc != 0)
        lb_err_prefix(err, "reading the control file of %s", data_dir);
out:
    free(output);
    free(version);
    free(tool);
    return rc;
}

int lb_cluster_offline_identity(const char *data_dir, char sysid[32], int64_t deadline_ms,
                                struct lb_err *err)
{
    struct lb_cluster_control ctl;
    int rc = lb_cluster_controldata(data_dir, deadline_ms, &ctl, err);

    sysid[0] = '\0';
    if (rc == 0)
        snprintf(sysid, 32, "%s", ctl.system_identifier);
    return rc;
}

static void copy_val(const struct lb_pg_result *r, int row, int col, char *out, size_t outsz)
{
    const char *v = lb_pg_value(r, row, col);

    snprintf(out, outsz, "%s", v != NULL ? v : "");
}

static int64_t int_val(const struct lb_pg_result *r, int row, int col, int64_t missing)
{
    const char *v = lb_pg_value(r, row, col);
    int64_t n;

    if (v == NULL || lb_parse_int64(v, &n) != 0)
        return missing;
    return n;
}

int lb_cluster_state_read(struct lb_pg *c, int64_t deadline_ms, struct lb_cluster_state *out,
                          struct lb_err *err)
{
    static const char *const sql =
        "SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()),"
        " pg_catalog.pg_is_in_recovery(),"
        " CASE WHEN pg_catalog.pg_is_in_recovery()"
        "  THEN (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint())"
        "  ELSE ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()),"
        "         1, 8))::bit(32)::int END,"
        " CASE WHEN pg_catalog.pg_is_in_recovery() THEN ''"
        "  ELSE pg_catalog.pg_current_wal_lsn()::text END,"
        " coalesce(pg_catalog.pg_last_wal_receive_lsn()::text, ''),"
        " coalesce(pg_catalog.pg_last_wal_replay_lsn()::text, ''),"
        " CASE WHEN pg_catalog.pg_is_in_recovery() THEN"
        "  pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),"
        "                             pg_catalog.pg_last_wal_replay_lsn())::bigint END,"
        " CASE WHEN pg_catalog.pg_is_in_recovery() THEN"
        "  (extract(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp()) * 1000)"
        "  ::bigint END";
    static const char *const wr_sql =
        "SELECT status, coalesce(sender_host, ''), coalesce(sender_port, 0),"
        " coalesce(slot_name, '') FROM pg_catalog.pg_stat_wal_receiver";
    struct lb_pg_result r = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    out->timeline = -1;
    out->replay_lag_bytes = -1;
    out->replay_age_ms = -1;
    rc = lb_pg_query(c, sql, 0, NULL, deadline_ms, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows != 1 || r.ncols != 8) {
        rc = lb_err_set(err, LB_EDB, "server state: unexpected result");
        goto out;
    }
    copy_val(&r, 0, 0, out->system_identifier, sizeof(out->system_identifier));
    out->in_recovery = lb_pg_value(&r, 0, 1) != NULL && lb_pg_value(&r, 0, 1)[0] == 't';
    out->timeline = (int)int_val(&r, 0, 2, -1);
    copy_val(&r, 0, 3, out->current_lsn, sizeof(out->current_lsn));
    copy_val(&r, 0, 4, out->receive_lsn, sizeof(out->receive_lsn));
    copy_val(&r, 0, 5, out->replay_lsn, sizeof(out->replay_lsn));
    out->replay_lag_bytes = int_val(&r, 0, 6, -1);
    out->replay_age_ms = int_val(&r, 0, 7, -1);
    lb_pg_result_free(&r);
    if (!out->in_recovery)
        goto out;
    /* Columns of pg_stat_wal_receiver read NULL without the privilege. */
    if (lb_pg_query(c, wr_sql, 0, NULL, deadline_ms, &r, err) != 0) {
        if (err->code == LB_ETIMEOUT || err->code == LB_EINTR) {
            rc = err->code;
            goto out;
        }
        lb_err_clear(err);
        goto out;
    }
    if (r.nrows == 1) {
        const char *status = lb_pg_value(&r, 0, 0);

        out->streaming = status != NULL && strcmp(status, "streaming") == 0;
        copy_val(&r, 0, 1, out->upstream_host, sizeof(out->upstream_host));
        out->upstream_port = (int)int_val(&r, 0, 2, 0);
        copy_val(&r, 0, 3, out->slot_name, sizeof(out->slot_name));
    }
out:
    lb_pg_result_free(&r);
    return rc;
}

int lb_cluster_standbys(struct lb_pg *c, int64_t deadline_ms, struct lb_cluster_standby **out,
                        size_t *n, struct lb_err *err)
{
    static const char *const sql =
        "SELECT coalesce(application_name, ''), coalesce(client_addr::text, ''),"
        " coalesce(state, ''), coalesce(sync_state, ''), coalesce(replay_lsn::text, ''),"
        " pg_catalog.pg_wal_lsn_diff(CASE WHEN pg_catalog.pg_is_in_recovery()"
        "   THEN pg_catalog.pg_last_wal_receive_lsn() ELSE pg_catalog.pg_current_wal_lsn() END,"
        "   replay_lsn)::bigint,"
        " (extract(epoch FROM replay_lag) * 1000)::bigint"
        " FROM pg_catalog.pg_stat_replication ORDER BY application_name";
    struct lb_pg_result r = {0};
    struct lb_cluster_standby *s = NULL;
    int i, rc;

    *out = NULL;
    *n = 0;
    rc = lb_pg_query(c, sql, 0, NULL, deadline_ms, &r, err);
    if (rc != 0)
        goto out;
    s = lb_xcalloc((size_t)r.nrows + 1, sizeof(*s));
    for (i = 0; i < r.nrows; i++) {
        copy_val(&r, i, 0, s[i].application_name, sizeof(s[i].application_name));
        copy_val(&r, i, 1, s[i].client_addr, sizeof(s[i].client_addr));
        copy_val(&r, i, 2, s[i].state, sizeof(s[i].state));
        copy_val(&r, i, 3, s[i].sync_state, sizeof(s[i].sync_state));
        copy_val(&r, i, 4, s[i].replay_lsn, sizeof(s[i].replay_lsn));
        s[i].lag_bytes = int_val(&r, i, 5, -1);
        s[i].replay_lag_ms = int_val(&r, i, 6, -1);
    }
    *out = s;
    *n = (size_t)r.nrows;
out:
    lb_pg_result_free(&r);
    return rc;
}

static const char *want_name(enum lb_cluster_want w)
{
    switch (w) {
    case LB_CLUSTER_PRIMARY: return "a primary (out of recovery)";
    case LB_CLUSTER_STANDBY: return "a standby (in recovery)";
    case LB_CLUSTER_STREAMING: return "a streaming standby";
    default: return "accepting connections";
    }
}

int lb_cluster_wait(const struct lb_cluster_wait_opts *o, struct lb_err *err)
{
    char seen[1100] = "no connection yet";
    int not_running = 0;
    int rc = 0;

    for (;;) {
        struct lb_pg *c = NULL;
        struct lb_err e = {0};
        int64_t slice = lb_mono_ms() + CONNECT_SLICE_MS;

        if (lb_interrupted())
            return lb_err_set(err, LB_EINTR, "waiting for %s: interrupted", want_name(o->want));
        if (o->deadline_ms != LB_NO_DEADLINE && slice > o->deadline_ms)
            slice = o->deadline_ms;
        if (lb_pg_connect(o->conninfo, slice, &c, &e) == 0) {
            struct lb_cluster_state st;

            if (o->want == LB_CLUSTER_ACCEPTING) {
                lb_pg_close(c);
                return 0;
            }
            if (lb_cluster_state_read(c, slice, &st, &e) == 0) {
                int ok = (o->want == LB_CLUSTER_PRIMARY && !st.in_recovery) ||
                         (o->want == LB_CLUSTER_STANDBY && st.in_recovery) ||
                         (o->want == LB_CLUSTER_STREAMING && st.in_recovery && st.streaming);

                if (ok) {
                    lb_pg_close(c);
                    return 0;
                }
                if (st.in_recovery)
                    snprintf(seen, sizeof(seen), "still in recovery at %s%s",
                             st.replay_lsn[0] ? st.replay_lsn : "?",
                             st.streaming ? ", streaming" : ", not streaming");
                else
                    snprintf(seen, sizeof(seen), "a primary at %s on timeline %d",
                             st.current_lsn, st.timeline);
            } else {
                snprintf(seen, sizeof(seen), "%s", e.msg);
            }
        } else if (e.code != LB_ETIMEOUT || strcmp(seen, "no connection yet") == 0) {
            /* A connection cut short by the deadline says less than what
             * the previous attempt saw. */
            snprintf(seen, sizeof(seen), "%s", e.msg);
        }
        lb_pg_close(c);
        if (o->data_dir != NULL) {
            not_running = lb_cluster_running(o->data_dir) ? 0 : not_running + 1;
            if (not_running >= 2) {
                char *tail = lb_bk_file_tail(o->log_path, 3);

                rc = lb_err_set(err, LB_EPROC, "no server runs on %s any more (waiting for %s)%s%s",
                                o->data_dir, want_name(o->want), tail[0] ? ": " : "", tail);
                free(tail);
                return rc;
            }
        }
        if (lb_deadline_left(o->deadline_ms) == 0)
            return lb_err_set(err, LB_ETIMEOUT, "waiting for %s: deadline passed (%s)",
                              want_name(o->want), seen);
        lb_sleep_ms(POLL_MS);
    }
}

int lb_cluster_wait_replayed(struct lb_pg *c, const char *lsn, int64_t deadline_ms,
                             struct lb_err *err)
{
    const char *params[1] = {lsn};
    char *done = NULL;
    int rc;

    for (;;) {
        rc = lb_pg_scalar(c,
                          "SELECT coalesce(pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn,"
                          " false)::text",
                          1, params, deadline_ms, &done, err);
        if (rc != 0)
            return rc;
        if (done != NULL && strcmp(done, "true") == 0) {
            free(done);
            return 0;
        }
        free(done);
        done = NULL;
        if (lb_interrupted())
            return lb_err_set(err, LB_EINTR, "waiting for replay of %s: interrupted", lsn);
        if (lb_deadline_left(deadline_ms) == 0)
            return lb_err_set(err, LB_ETIMEOUT, "the standby has not replayed %s by the deadline",
                              lsn);
        lb_sleep_ms(POLL_MS);
    }
}

int lb_cluster_promote(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err)
{
    char secs[32];
    const char *params[1];
    char *v = NULL;
    int rc;

    rc = lb_pg_scalar(c, "SELECT pg_catalog.pg_is_in_recovery()::text", 0, NULL, deadline_ms,
                      &v, err);
    if (rc != 0)
        goto out;
    if (v == NULL || strcmp(v, "true") != 0) {
        rc = lb_err_set(err, LB_ESTATE, "not a standby: the server is not in recovery");
        goto out;
    }
    free(v);
    v = NULL;
    lb_bk_seconds_left(deadline_ms, 3600, secs, sizeof(secs));
    params[0] = secs;
    rc = lb_pg_scalar(c, "SELECT pg_catalog.pg_promote(true, $1::int)::text", 1, params,
                      deadline_ms, &v, err);
    if (rc != 0) {
        lb_err_prefix(err, "promote");
        goto out;
    }
    if (v == NULL || strcmp(v, "true") != 0)
        rc = lb_err_set(err, LB_ETIMEOUT, "promote: the server did not leave recovery within %s s",
                        secs);
out:
    free(v);
    return rc;
}

/* A WAL segment name (24 hex digits, maybe ".partial") of last_archived_wal
 * at or after `want`. */
static int archived_at_or_after(const char *last, const char *want)
{
    size_t i;

    if (last == NULL || strlen(last) < 24)
        return 0;
    for (i = 0; i < 24; i++) {
        char c = last[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return strncmp(last, want, 24) >= 0;
}

int lb_cluster_switch_wal_and_wait_archived(struct lb_pg *c, int64_t deadline_ms,
                                            char *walfile_out, size_t walfile_sz,
                                            struct lb_err *err)
{
    struct lb_pg_result r = {0};
    char *wal = NULL;
    int rc;

    if (walfile_out != NULL && walfile_sz > 0)
        walfile_out[0] = '\0';
    rc = lb_pg_scalar(c, "SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())", 0,
                      NULL, deadline_ms, &wal, err);
    if (rc != 0) {
        lb_err_prefix(err, "pg_switch_wal");
        goto out;
    }
    if (wal == NULL || strlen(wal) != 24) {
        rc = lb_err_set(err, LB_EDB, "pg_switch_wal: no WAL file name");
        goto out;
    }
    if (walfile_out != NULL)
        snprintf(walfile_out, walfile_sz, "%s", wal);
    for (;;) {
        const char *last, *failed, *failed_at;

        rc = lb_pg_query(c,
                         "SELECT last_archived_wal, last_failed_wal, last_failed_time::text"
                         " FROM pg_catalog.pg_stat_archiver",
                         0, NULL, deadline_ms, &r, err);
        if (rc != 0)
            goto out;
        last = r.nrows == 1 ? lb_pg_value(&r, 0, 0) : NULL;
        failed = r.nrows == 1 ? lb_pg_value(&r, 0, 1) : NULL;
        failed_at = r.nrows == 1 ? lb_pg_value(&r, 0, 2) : NULL;
        if (archived_at_or_after(last, wal))
            break;
        if (lb_interrupted()) {
            rc = lb_err_set(err, LB_EINTR, "waiting for %s to be archived: interrupted", wal);
            goto out;
        }
        if (lb_deadline_left(deadline_ms) == 0) {
            rc = lb_err_set(err, LB_ETIMEOUT,
                            "WAL file %s was not archived by the deadline (last archived: %s; "
                            "last failure: %s%s%s)",
                            wal, last != NULL ? last : "none", failed != NULL ? failed : "none",
                            failed_at != NULL ? " at " : "", failed_at != NULL ? failed_at : "");
            goto out;
        }
        lb_pg_result_free(&r);
        lb_sleep_ms(POLL_MS);
    }
out:
    lb_pg_result_free(&r);
    free(wal);
    return rc;
}

/* ---- physical copies ----------------------------------------------------- */

/* Settings that stop a copied data directory from inheriting a recovery
 * target (a clone of a server that was itself restored to a point in
 * time would otherwise stop replaying there). */
const char *const lb_bk_recovery_resets =
    "recovery_target = ''\n"
    "recovery_target_lsn = ''\n"
    "recovery_target_name = ''\n"
    "recovery_target_time = ''\n"
    "recovery_target_xid = ''\n";

static int ensure_slot(const char *conninfo, const char *slot, int64_t deadline_ms,
                       struct lb_err *err)
{
    struct lb_pg *c = NULL;
    const char *params[1] = {slot};
    char *exists = NULL;
    int rc;

    rc = lb_pg_connect(conninfo, deadline_ms, &c, err);
    if (rc != 0)
        goto out;
    rc = lb_pg_scalar(c,
                      "SELECT count(*)::text FROM pg_catalog.pg_replication_slots"
                      " WHERE slot_name = $1",
                      1, params, deadline_ms, &exists, err);
    if (rc == 0 && exists != NULL && strcmp(exists, "0") == 0)
        rc = lb_pg_query(c, "SELECT pg_catalog.pg_create_physical_replication_slot($1)", 1,
                         params, deadline_ms, NULL, err);
    if (rc != 0)
        lb_err_prefix(err, "replication slot %s", slot);
out:
    free(exists);
    lb_pg_close(c);
    return rc;
}

int lb_cluster_clone(const char *from_conninfo, const char *data_dir,
                     const struct lb_clone_opts *o, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_clone_opts none = {0};
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    struct lb_buf conf = {0};
    char *tool = lb_pg_tool("pg_basebackup");
    char *without = NULL, *envpw = NULL, *password = NULL, *auto_conf = NULL;
    const char *env[2] = {NULL, NULL};
    const char *user;
    int created = 0, touched = 0;
    int rc;

    if (o == NULL)
        o = &none;
    user = lb_bk_run_as(o->run_as);
    rc = lb_pg_conninfo_split_password(from_conninfo, &without, &password, err);
    if (rc != 0)
        goto out;
    if (password != NULL) {
        envpw = lb_xasprintf("PGPASSWORD=%s", password);
        env[0] = envpw;
    }
    /* Settings first: a bad one refuses before anything is copied. */
    lb_buf_adds(&conf, "\n# ---- lifeboat clone ----\n");
    lb_buf_adds(&conf, lb_bk_recovery_resets);
    if (o->standby && o->slot == NULL)
        /* A clone of a standby carries its slot name: not ours. */
        lb_buf_adds(&conf, "primary_slot_name = ''\n");
    if (o->port > 0)
        lb_buf_printf(&conf, "port = %d\n", o->port);
    if (o->cluster_name != NULL) {
        lb_buf_adds(&conf, "cluster_name = ");
        lb_buf_add_conf_string(&conf, o->cluster_name);
        lb_buf_addc(&conf, '\n');
    }
    rc = lb_bk_conf_settings(&conf, o->settings, err);
    if (rc != 0)
        goto out;
    if (o->slot != NULL) {
        rc = ensure_slot(from_conninfo, o->slot, deadline_ms, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_bk_fresh_dir(data_dir, user, &created, err);
    if (rc != 0)
        goto out;
    touched = 1;
    lb_bk_argv_add(&a, tool);
    lb_bk_argv_add(&a, "-D");
    lb_bk_argv_add(&a, data_dir);
    lb_bk_argv_add(&a, "-d");
    lb_bk_argv_add(&a, without);
    lb_bk_argv_add(&a, "-X");
    lb_bk_argv_add(&a, "stream");
    lb_bk_argv_add(&a, "-c");
    lb_bk_argv_add(&a, "fast");
    lb_bk_argv_add(&a, "--no-sync");
    if (o->standby)
        lb_bk_argv_add(&a, "-R");
    if (o->slot != NULL) {
        lb_bk_argv_add(&a, "-S");
        lb_bk_argv_add(&a, o->slot);
    }
    x.argv = (const char *const *)a.v;
    x.env_add = env;
    x.run_as = user;
    x.deadline_ms = deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    if (rc != 0)
        goto out;
    auto_conf = lb_path_join(data_dir, "postgresql.auto.conf");
    rc = lb_bk_append(auto_conf, conf.data, user, err);
out:
    if (rc != 0 && touched)
        lb_bk_discard(data_dir, created, user);   /* no half-written data directory */
    if (rc != 0)
        lb_err_prefix(err, "cloning into %s", data_dir);
    lb_buf_free(&conf);
    lb_bk_argv_free(&a);
    free(tool);
    free(without);
    free(password);
    free(envpw);
    free(auto_conf);
    return rc;
}

/* data_dir without trailing slashes. */
static char *trim_dir(const char *d)
{
    size_t n = strlen(d);

    while (n > 1 && d[n - 1] == '/')
        n--;
    return lb_xstrndup(d, n);
}

char *lb_cluster_sibling_dir(const char *data_dir, const char *tag)
{
    char stamp[40];
    char *base = trim_dir(data_dir);
    char *out;

    lb_bk_stamp(lb_wall_ms(), stamp, sizeof(stamp));
    out = lb_xasprintf("%s.%s-%s", base, tag, stamp);
    free(base);
    return out;
}

/* 1 when `dir` is "<data_dir>.<something>" in the same directory. */
static int is_sibling(const char *data_dir, const char *dir)
{
    char *a = lb_path_abs(data_dir);
    char *b = lb_path_abs(dir);
    char *pa = NULL, *pb = NULL;
    int ok = 0;

    if (a == NULL || b == NULL)
        goto out;
    pa = lb_path_dir(a);
    pb = lb_path_dir(b);
    ok = strcmp(pa, pb) == 0 && strcmp(a, b) != 0 && lb_str_starts(b, a) &&
         b[strlen(a)] == '.' && b[strlen(a) + 1] != '\0' && strchr(b + strlen(a), '/') == NULL;
out:
    free(a);
    free(b);
    free(pa);
    free(pb);
    return ok;
}

int lb_cluster_swap_data_dir(const struct lb_env_target *t, const char *new_dir,
                             char **old_dir_out, struct lb_err *err)
{
    char *data = NULL, *old = NULL, *version = NULL, *pa = NULL, *pb = NULL;
    char *abs_new = NULL;
    struct stat st;
    int had_data;
    int rc = 0;

    if (old_dir_out != NULL)
        *old_dir_out = NULL;
    if (t->data_dir == NULL)
        return lb_err_set(err, LB_EINVAL, "target %s declares no data_dir",
                          t->name != NULL ? t->name : "?");
    data = lb_path_abs(t->data_dir);
    abs_new = lb_path_abs(new_dir);
    if (data == NULL || abs_new == NULL) {
        rc = lb_err_set(err, LB_EIO, "cannot make %s absolute", new_dir);
        goto out;
    }
    pa = lb_path_dir(data);
    pb = lb_path_dir(abs_new);
    if (strcmp(pa, pb) != 0 || strcmp(data, abs_new) == 0) {
        rc = lb_err_set(err, LB_EINVAL, "%s is not beside %s: a swap is a rename in one directory",
                        new_dir, t->data_dir);
        goto out;
    }
    version = lb_path_join(abs_new, "PG_VERSION");
    if (!lb_file_exists(version)) {
        rc = lb_err_set(err, LB_EINVAL, "%s holds no PostgreSQL cluster", new_dir);
        goto out;
    }
    if (lb_cluster_running(data)) {
        rc = lb_err_set(err, LB_ESTATE, "the server of target %s runs on %s: stop it first",
                        t->name != NULL ? t->name : "?", t->data_dir);
        goto out;
    }
    if (lb_cluster_running(abs_new)) {
        rc = lb_err_set(err, LB_ESTATE, "a server runs on %s: stop it first", new_dir);
        goto out;
    }
    had_data = lstat(data, &st) == 0;
    if (had_data) {
        old = lb_cluster_sibling_dir(data, "old");
        if (rename(data, old) != 0) {
            rc = lb_err_set(err, LB_EIO, "rename %s to %s: %s", data, old, strerror(errno));
            goto out;
        }
    }
    if (rename(abs_new, data) != 0) {
        rc = lb_err_set(err, LB_EIO, "rename %s to %s: %s", abs_new, data, strerror(errno));
        if (had_data)
            (void)rename(old, data);
        goto out;
    }
    if (old_dir_out != NULL) {
        *old_dir_out = old;
        old = NULL;
    }
out:
    free(data);
    free(abs_new);
    free(old);
    free(version);
    free(pa);
    free(pb);
    return rc;
}

int lb_cluster_remove_dir(const char *data_dir, const char *dir, struct lb_err *err)
{
    int rc;

    if (dir == NULL || !is_sibling(data_dir, dir))
        return lb_err_set(err, LB_EINVAL,
                          "refusing to remove %s: only a sibling of %s named %s.<something> "
                          "may be removed", dir != NULL ? dir : "(null)", data_dir, data_dir);
    if (lb_cluster_running(dir))
        return lb_err_set(err, LB_ESTATE, "a server runs on %s: stop it first", dir);
    rc = lb_rmtree(dir, err);
    if (rc == 0) {
        /* lb_cluster_start_dir's default log. */
        char *log = lb_xasprintf("%s.log", dir);
        if (unlink(log) != 0 && errno != ENOENT)
            rc = lb_err_set(err, LB_EIO, "rm %s: %s", log, strerror(errno));
        free(log);
    }
    return rc;
}
