/*
 * audit: the run. One check step per backup layer: look at what is on disk
 * (assess.c decides what it means), then, with restore, restore the layer
 * into a throw-away copy (a pg_dump into a database on the scratch target,
 * a base backup or pgBackRest set into a cluster beside its source's data
 * directory), count what came back, compare it with the live source, and
 * drop or remove the copy whatever happened. Every finding is a check, and
 * a gap when it falls short.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lifeboat/audit.h"
#include "lifeboat/backup.h"
#include "lifeboat/cluster.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"

#define DEFAULT_LAYER_TIMEOUT_MS (60 * 60 * 1000)
#define CONNECT_TIMEOUT_MS (30 * 1000)
#define CLEANUP_TIMEOUT_MS (60 * 1000)
#define DEFAULT_RESTORE_JOBS 2
/* Every database the audit creates starts with this; it drops no other. */
#define SCRATCH_PREFIX "lifeboat_audit_"

struct audit {
    const struct lb_audit_opts *o;
    const struct lb_env *env;
    struct lb_run *run;
    int interrupted;     /* a signal arrived while the scratch database was dropped */
};

/* Store the findings: one check each, and its gap. */
static int record(struct audit *a, const struct lb_audit_findings *f, struct lb_err *err)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < f->n && rc == 0; i++) {
        const struct lb_audit_finding *x = &f->items[i];

        rc = lb_run_check(a->run, x->check, x->ok, x->expected, x->observed, x->table, err);
        if (rc == 0 && x->severity != LB_SEV_NONE)
            rc = lb_run_gap(a->run, lb_severity_name(x->severity), x->category, x->title,
                            x->detail, err);
    }
    return rc;
}

static int metric(struct audit *a, const char *layer, const char *what, double v,
                  const char *unit, struct lb_err *err)
{
    char name[300];

    snprintf(name, sizeof(name), "%s.%s", layer, what);
    return lb_run_metric(a->run, name, v, unit, err);
}

/* ---- what is on disk ------------------------------------------------------ */

struct on_disk {
    struct lb_audit_artifact art;
    char *path;
    struct lb_provenance *prov;
    char *prov_error;
    char *readable_error;
};

static void on_disk_free(struct on_disk *d)
{
    lb_provenance_free(d->prov);
    free(d->path);
    free(d->prov_error);
    free(d->readable_error);
    memset(d, 0, sizeof(*d));
}

/* `pg_restore -l` reads the archive's header and table of contents without
 * a server: a truncated or foreign file fails here. */
static int check_readable(const char *path, int64_t deadline, struct on_disk *d,
                          struct lb_err *err)
{
    char *tool = lb_pg_tool("pg_restore");
    const char *argv[] = {tool, "-l", "-f", "/dev/null", path, NULL};
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    int rc;

    po.argv = argv;
    po.deadline_ms = deadline;
    rc = lb_proc_run(&po, &res, err);
    if (rc == LB_EPROC) {
        d->readable_error = lb_xasprintf("cannot run %s: %s", tool, err->msg);
        lb_err_clear(err);
        rc = 0;
    } else if (rc == 0 && (!res.exited || res.status != 0)) {
        char *line = lb_str_last_line(res.output);

        d->readable_error = line[0] != '\0' ? lb_xstrdup(line)
                                            : lb_xasprintf("pg_restore -l exited with status %d",
                                                           res.status);
        free(line);
    }
    if (rc == 0)
        d->art.readable_checked = 1;
    lb_proc_result_free(&res);
    free(tool);
    return rc;
}

static int look(const struct lb_env_backup *b, int64_t deadline, struct on_disk *d,
                struct lb_err *err)
{
    struct stat st;
    struct lb_err pe = {0};
    int rc;

    memset(d, 0, sizeof(*d));
    d->art.size = -1;
    d->path = lb_backup_layer_artifact(b);
    d->art.path = d->path;
    if (d->path == NULL)
        return 0;
    if (stat(d->path, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return lb_err_set(err, LB_EIO, "%s: %s", d->path, strerror(errno));
        return 0;
    }
    d->art.exists = 1;
    if (S_ISREG(st.st_mode))
        d->art.size = (int64_t)st.st_size;
    d->art.mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    rc = lb_provenance_read(d->path, &d->prov, &pe);
    if (rc == LB_ENOTFOUND)
        d->prov = NULL;
    else if (rc != 0)
        d->prov_error = lb_xstrdup(pe.msg);
    d->art.prov = d->prov;
    d->art.prov_error = d->prov_error;
    if (strcmp(b->kind, "pg_dump") == 0 && d->art.size != 0) {
        rc = check_readable(d->path, deadline, d, err);
        if (rc != 0)
            return rc;
        d->art.readable_error = d->readable_error;
    }
    return 0;
}

/* ---- restore into a scratch database -------------------------------------- */

/* Row counts of the source as it is now, through a read-only session that
 * the guard has proven reaches the pinned target. */
static int read_live(struct audit *a, const struct lb_env_target *src, int64_t deadline,
                     struct lb_baseline **out, struct lb_err *err)
{
    struct lb_baseline_opts bo = {0};
    struct lb_pg *c = NULL;
    int64_t cdl = lb_mono_ms() + CONNECT_TIMEOUT_MS;
    int rc;

    rc = lb_pg_connect(src->conninfo, cdl < deadline ? cdl : deadline, &c, err);
    if (rc != 0) {
        lb_err_prefix(err, "target '%s'", src->name);
        goto out;
    }
    rc = lb_pg_query(c, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", 0, NULL,
                     deadline, NULL, err);
    if (rc == 0)
        rc = lb_guard_check(c, a->env, src, deadline, NULL, err);
    if (rc != 0)
        goto out;
    bo.fingerprint = 0;
    bo.deadline_ms = deadline;
    rc = lb_validate_baseline(c, &bo, out, err);
    if (rc != 0)
        lb_err_prefix(err, "target '%s': counting rows", src->name);
out:
    lb_pg_close(c);
    return rc;
}

/* The connection to the new database must reach the scratch cluster and
 * that database, nothing else. */
static int check_scratch_conn(struct lb_pg *c, const struct lb_env_target *st,
                              const char *dbname, int64_t deadline, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    int rc;

    rc = lb_pg_query(c, "SELECT (SELECT system_identifier::text FROM "
                        "pg_catalog.pg_control_system()), current_database()",
                     0, NULL, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows != 1 || lb_pg_value(&r, 0, 0) == NULL || lb_pg_value(&r, 0, 1) == NULL ||
        strcmp(lb_pg_value(&r, 0, 0), st->system_identifier) != 0 ||
        strcmp(lb_pg_value(&r, 0, 1), dbname) != 0)
        rc = lb_err_set(err, LB_ESAFETY,
                        "target '%s': the connection to scratch database %s reached "
                        "system_identifier %s, database %s", st->name, dbname,
                        r.nrows == 1 && lb_pg_value(&r, 0, 0) ? lb_pg_value(&r, 0, 0) : "?",
                        r.nrows == 1 && lb_pg_value(&r, 0, 1) ? lb_pg_value(&r, 0, 1) : "?");
out:
    lb_pg_result_free(&r);
    return rc;
}

/* DROP DATABASE of the scratch database, always: its own deadline, the
 * guard proven again first (it is a destructive statement), and a gap when
 * it is left behind. */
static int drop_scratch(struct audit *a, struct lb_pg **admin, const struct lb_env_target *st,
                        const char *dbname, struct lb_err *err)
{
    int64_t deadline = lb_mono_ms() + CLEANUP_TIMEOUT_MS;
    struct lb_err e = {0};
    char *q = NULL, *sql = NULL, *title = NULL;
    int rc;

    if (!lb_str_starts(dbname, SCRATCH_PREFIX))
        return lb_err_set(err, LB_ESAFETY, "refusing to drop database %s: not a scratch "
                                            "database of the audit", dbname);
    if (*admin == NULL || !lb_pg_ok(*admin)) {
        lb_pg_close(*admin);
        *admin = NULL;
        rc = lb_pg_connect(st->conninfo, deadline, admin, &e);
        if (rc != 0)
            goto out;
    }
    rc = lb_guard_check(*admin, a->env, st, deadline, NULL, &e);
    if (rc != 0)
        goto out;
    q = lb_pg_quote_ident(*admin, dbname, 0);
    if (q == NULL) {
        rc = lb_err_set(&e, LB_EDB, "cannot quote %s", dbname);
        goto out;
    }
    sql = lb_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", q);
    rc = lb_pg_query(*admin, sql, 0, NULL, deadline, NULL, &e);
    if (rc == 0) {
        char line[300];

        snprintf(line, sizeof(line), "dropped scratch database %s on target '%s'", dbname,
                 st->name);
        lb_run_log(a->run, line);
    }
out:
    if (rc != 0) {
        title = lb_xasprintf("scratch database %s was left on target '%s': drop it by hand "
                             "(DROP DATABASE %s)", dbname, st->name, dbname);
        rc = lb_run_gap(a->run, "major", "cleanup", title, e.msg, err);
    }
    free(title);
    free(q);
    free(sql);
    return rc;
}

/* The tool run on the step's record, as drills record theirs; with a
 * `what`, its duration and exit status as metrics "<layer>.<what>.*". */
static int record_tool(struct audit *a, const char *layer, const char *what,
                       const struct lb_tool_run *tr, struct lb_err *err)
{
    struct lb_buf b = {0};
    char name[200];
    int rc;

    if (tr->cmdline == NULL && tr->output == NULL)
        return 0;
    lb_buf_printf(&b, "$ %s\n", tr->cmdline != NULL ? tr->cmdline : (what ? what : "?"));
    if (tr->output != NULL && tr->output[0] != '\0')
        lb_buf_adds(&b, tr->output);
    if (tr->timed_out)
        lb_buf_adds(&b, "\n[killed at the step deadline]");
    else if (tr->interrupted)
        lb_buf_adds(&b, "\n[killed: interrupted]");
    else
        lb_buf_printf(&b, "\n[exit status %d, %lld ms]", tr->exit_status,
                      (long long)tr->duration_ms);
    lb_run_step_output(a->run, b.data);
    lb_buf_free(&b);
    if (what == NULL)
        return 0;
    snprintf(name, sizeof(name), "%s.duration", what);
    rc = metric(a, layer, name, (double)tr->duration_ms, "ms", err);
    snprintf(name, sizeof(name), "%s.exit_status", what);
    if (rc == 0)
        rc = metric(a, layer, name, tr->exit_status, NULL, err);
    return rc;
}

static int record_stats(struct audit *a, const char *phase, const struct lb_baseline *bl,
                        struct lb_err *err)
{
    size_t i;
    int rc = 0;

    for (i = 0; bl != NULL && i < bl->ntables && rc == 0; i++)
        rc = lb_run_table_stat(a->run, phase, bl->tables[i].name, bl->tables[i].rows, NULL,
                               bl->tables[i].schema_fp, err);
    return rc;
}

static int64_t total_rows(const struct lb_baseline *bl)
{
    int64_t n = 0;
    size_t i;

    for (i = 0; bl != NULL && i < bl->ntables; i++)
        if (bl->tables[i].rows > 0)
            n += bl->tables[i].rows;
    return n;
}

/* Count what a restore brought back (exact rows per table, NOT VALID
 * foreign keys) through `conn`, and compare it with the live source and the
 * provenance: the same for every kind of layer. */
static int count_and_compare(struct audit *a, const struct lb_env_backup *b,
                             const struct lb_provenance *prov, const struct lb_baseline *live,
                             struct lb_pg *conn, int64_t deadline, struct lb_err *err)
{
    struct lb_baseline_opts bo = {0};
    struct lb_baseline *restored = NULL;
    struct lb_audit_findings f = {0};
    char *nv = NULL;
    int64_t not_valid = -1;
    int rc;

    bo.fingerprint = 0;
    bo.deadline_ms = deadline;
    rc = lb_validate_baseline(conn, &bo, &restored, err);
    if (rc != 0) {
        lb_err_prefix(err, "counting the restored rows");
        goto out;
    }
    rc = lb_pg_scalar(conn, "SELECT count(*) FROM pg_catalog.pg_constraint "
                            "WHERE contype = 'f' AND NOT convalidated",
                      0, NULL, deadline, &nv, err);
    if (rc != 0)
        goto out;
    if (nv == NULL || lb_parse_int64(nv, &not_valid) != 0)
        not_valid = -1;
    rc = record_stats(a, "scratch restore", restored, err);
    if (rc == 0)
        rc = metric(a, b->name, "restored_rows", (double)total_rows(restored), "rows", err);
    if (rc == 0 && live != NULL)
        rc = metric(a, b->name, "source_rows", (double)total_rows(live), "rows", err);
    if (rc != 0)
        goto out;
    lb_audit_compare(b, live, restored, prov, not_valid, &f);
    rc = record(a, &f, err);
out:
    lb_audit_findings_free(&f);
    lb_baseline_free(restored);
    free(nv);
    return rc;
}

/* Restore, count, compare; the restore's own failure is a finding. */
static int restore_and_compare(struct audit *a, const struct lb_env_backup *b,
                               const struct lb_provenance *prov, const struct lb_baseline *live,
                               struct lb_pg *scratch, const char *scratch_ci, int64_t deadline,
                               struct lb_err *err)
{
    struct lb_restore_opts ro = {0};
    struct lb_tool_run tr = {0};
    char check[300];
    int rc;

    ro.conninfo = scratch_ci;
    ro.archive = b->path;
    ro.jobs = a->o->restore_jobs > 0 ? a->o->restore_jobs : DEFAULT_RESTORE_JOBS;
    ro.deadline_ms = deadline;
    ro.conn = scratch;
    rc = lb_backup_pg_restore(&ro, &tr, err);
    {
        struct lb_err re = {0};

        if (record_tool(a, b->name, "pg_restore", &tr, &re) != 0) {
            *err = re;
            rc = re.code;
            goto out;
        }
    }
    snprintf(check, sizeof(check), "%s: restorable", b->name);
    if (rc == LB_EPROC) {
        /* Count what came back anyway: the numbers say how bad it is. */
        char *why = lb_xstrdup(err->msg);
        char *title = lb_xasprintf("%s: restore failed: %s", b->name, why);

        lb_err_clear(err);
        rc = lb_run_check(a->run, check, 0, "pg_restore exits 0", why, NULL, err);
        if (rc == 0)
            rc = lb_run_gap(a->run, "critical", "backup", title,
                            "see the step's output for pg_restore's messages", err);
        free(title);
        free(why);
        if (rc != 0)
            goto out;
    } else if (rc != 0) {
        goto out;
    } else {
        rc = lb_run_check(a->run, check, 1, "pg_restore exits 0", "exit status 0", NULL, err);
        if (rc != 0)
            goto out;
    }
    rc = count_and_compare(a, b, prov, live, scratch, deadline, err);
out:
    lb_tool_run_free(&tr);
    return rc;
}

/* A pg_dump layer through a scratch database on env->scratch. */
static int restore_layer(struct audit *a, const struct lb_env_backup *b,
                         const struct lb_provenance *prov, int64_t deadline, struct lb_err *err)
{
    const struct lb_env_target *st = lb_env_target(a->env, a->env->scratch);
    const struct lb_env_target *src = b->source != NULL ? lb_env_target(a->env, b->source) : NULL;
    struct lb_pg *admin = NULL, *scratch = NULL;
    struct lb_baseline *live = NULL;
    char *q = NULL, *sql = NULL, *scratch_ci = NULL;
    char dbname[64], line[300];
    uint8_t raw[4];
    char hex[9];
    int64_t cdl = lb_mono_ms() + CONNECT_TIMEOUT_MS;
    int created = 0;
    int rc;

    if (src != NULL) {
        rc = read_live(a, src, deadline, &live, err);
        if (rc == 0)
            rc = record_stats(a, "source", live, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_pg_connect(st->conninfo, cdl < deadline ? cdl : deadline, &admin, err);
    if (rc != 0) {
        lb_err_prefix(err, "scratch target '%s'", st->name);
        goto out;
    }
    rc = lb_guard_check(admin, a->env, st, deadline, NULL, err);
    if (rc == 0)
        rc = lb_random_bytes(raw, sizeof(raw), err);
    if (rc != 0)
        goto out;
    lb_hex_encode(raw, sizeof(raw), hex);
    snprintf(dbname, sizeof(dbname), SCRATCH_PREFIX "%s", hex);
    q = lb_pg_quote_ident(admin, dbname, 0);
    if (q == NULL) {
        rc = lb_err_set(err, LB_EDB, "cannot quote %s", dbname);
        goto out;
    }
    sql = lb_xasprintf("CREATE DATABASE %s TEMPLATE template0", q);
    rc = lb_pg_query(admin, sql, 0, NULL, deadline, NULL, err);
    if (rc != 0) {
        /* Cancelled at the deadline or by a signal, the server may still
         * have created it: the drop (IF EXISTS) runs. A server error (the
         * name taken by another audit) leaves that database alone. */
        created = rc == LB_ETIMEOUT || rc == LB_EINTR;
        lb_err_prefix(err, "scratch target '%s': creating database %s", st->name, dbname);
        goto out;
    }
    created = 1;
    snprintf(line, sizeof(line), "created scratch database %s on target '%s'", dbname,
             st->name);
    lb_run_log(a->run, line);
    scratch_ci = lb_pg_conninfo_with(st->conninfo, "dbname", dbname);
    if (scratch_ci == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "scratch target '%s': its conninfo does not parse",
                        st->name);
        goto out;
    }
    rc = lb_pg_connect(scratch_ci, cdl < deadline ? cdl : deadline, &scratch, err);
    if (rc == 0)
        rc = check_scratch_conn(scratch, st, dbname, deadline, err);
    if (rc == 0)
        rc = restore_and_compare(a, b, prov, live, scratch, scratch_ci, deadline, err);
out:
    lb_pg_close(scratch);
    if (created) {
        struct lb_err de = {0};

        /* A signal must not leave the database behind: the first one is
         * handled here (the step still ends interrupted); a second forces. */
        if (lb_interrupted()) {
            a->interrupted = 1;
            lb_interrupt_acknowledge();
        }
        if (drop_scratch(a, &admin, st, dbname, &de) != 0 && rc == 0) {
            *err = de;
            rc = de.code;
        }
    }
    lb_pg_close(admin);
    lb_baseline_free(live);
    free(q);
    free(sql);
    free(scratch_ci);
    return rc;
}

/* ---- restore into a scratch cluster --------------------------------------- */

/* A basebackup or pgBackRest layer: what `--restore` restores into a
 * scratch cluster beside its source's data directory. */
static int physical(const struct lb_env_backup *b)
{
    return strcmp(b->kind, "basebackup") == 0 || strcmp(b->kind, "pgbackrest") == 0;
}

/* The scratch server a physical layer is restored into. */
struct scratch_cluster {
    const struct lb_env_target *src;
    char *dir;            /* its data directory: a sibling of src->data_dir */
    char *log;            /* its server log, inside dir */
    char *conninfo;       /* the source's, pointed at 127.0.0.1:port */
    char *cluster_name;   /* "<source cluster>-audit-<layer>" */
    char port[16];
};

static void scratch_cluster_free(struct scratch_cluster *sc)
{
    free(sc->dir);
    free(sc->log);
    free(sc->conninfo);
    free(sc->cluster_name);
    memset(sc, 0, sizeof(*sc));
}

/* Restore the layer into sc->dir as far as its consistent point, with the
 * settings that make it a server of its own that archives nothing. */
static int prepare_cluster(const struct lb_env_backup *b, const struct scratch_cluster *sc,
                           int64_t deadline, struct lb_tool_run *tr, struct lb_err *err)
{
    const char *settings[] = {"port", sc->port,
                              "listen_addresses", "127.0.0.1",
                              "unix_socket_directories", "",
                              "archive_mode", "off",
                              "cluster_name", sc->cluster_name,
                              NULL};

    if (strcmp(b->kind, "basebackup") == 0) {
        struct lb_pitr_opts o = {0};

        o.base_backup = b->path;
        o.wal_archive = b->wal_archive;
        o.target.kind = LB_RECOVERY_IMMEDIATE;
        o.data_dir = sc->dir;
        o.settings = settings;
        o.deadline_ms = deadline;
        return lb_backup_pitr_prepare(&o, tr, err);
    } else {
        struct lb_pgbackrest_restore_opts o = {0};
        char *config = lb_pgbackrest_layer_config(b);
        int rc;

        o.base.config = config;
        o.base.stanza = b->stanza;
        o.base.repo = b->repo;
        o.base.deadline_ms = deadline;
        o.target.kind = LB_RECOVERY_IMMEDIATE;
        o.data_dir = sc->dir;
        o.settings = settings;
        rc = lb_backup_pgbackrest_restore(&o, tr, err);
        free(config);
        return rc;
    }
}

/* The last n lines of a file, "" when it cannot be read. Caller frees. */
static char *file_tail(const char *path, int n)
{
    struct lb_err e = {0};
    char *text = NULL, *out;
    const char *p;
    size_t len = 0;

    if (lb_file_read(path, &text, &len, &e) != 0 || text == NULL)
        return lb_xstrdup("");
    p = text + len;
    while (p > text && (p[-1] == '\n' || p[-1] == '\r'))
        p--;
    while (p > text && n > 0) {
        p--;
        if (*p == '\n' && --n == 0)
            p++;
    }
    out = lb_xstrdup(p);
    free(text);
    return out;
}

/* The connection must reach the scratch server just started, nothing
 * else: the source's pinned system_identifier (a physical copy keeps it)
 * and the cluster_name only that server was given; and that server must
 * not archive. */
static int check_cluster_conn(struct audit *a, struct lb_pg *c, const struct scratch_cluster *sc,
                              int64_t deadline, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    const char *sysid, *name, *archive_mode;
    char *line = NULL;
    int rc;

    rc = lb_pg_query(c, "SELECT (SELECT system_identifier::text FROM "
                        "pg_catalog.pg_control_system()), current_setting('cluster_name'), "
                        "current_setting('archive_mode')",
                     0, NULL, deadline, &r, err);
    if (rc != 0)
        goto out;
    sysid = r.nrows == 1 ? lb_pg_value(&r, 0, 0) : NULL;
    name = r.nrows == 1 ? lb_pg_value(&r, 0, 1) : NULL;
    archive_mode = r.nrows == 1 ? lb_pg_value(&r, 0, 2) : NULL;
    if (sysid == NULL || name == NULL || sc->src->system_identifier == NULL ||
        strcmp(sysid, sc->src->system_identifier) != 0 || strcmp(name, sc->cluster_name) != 0) {
        rc = lb_err_set(err, LB_ESAFETY,
                        "the connection to the scratch cluster on 127.0.0.1:%s reached "
                        "system_identifier %s, cluster_name '%s', not %s '%s'", sc->port,
                        sysid != NULL ? sysid : "?", name != NULL ? name : "?",
                        sc->src->system_identifier != NULL ? sc->src->system_identifier : "?",
                        sc->cluster_name);
        goto out;
    }
    if (archive_mode == NULL || strcmp(archive_mode, "off") != 0) {
        rc = lb_err_set(err, LB_ESAFETY,
                        "the scratch cluster on 127.0.0.1:%s runs with archive_mode '%s': its "
                        "timeline could reach the WAL archive", sc->port,
                        archive_mode != NULL ? archive_mode : "?");
        goto out;
    }
    line = lb_xasprintf("connected to the scratch cluster: system_identifier %s (a copy of "
                        "target '%s'), cluster_name '%s', archive_mode off", sysid,
                        sc->src->name, name);
    lb_run_log(a->run, line);
out:
    lb_pg_result_free(&r);
    free(line);
    return rc;
}

/* Stop the scratch server and remove its directory, always: its own
 * deadline, and a gap naming the directory when something is left. */
static int teardown_cluster(struct audit *a, struct scratch_cluster *sc, struct lb_err *err)
{
    int64_t deadline = lb_mono_ms() + CLEANUP_TIMEOUT_MS;
    struct lb_err e = {0};
    char *line = NULL, *title = NULL;
    int tries, stopped = 0, rc = 0;

    for (tries = 0; tries < 2; tries++) {
        lb_err_clear(&e);
        rc = 0;
        if (lb_cluster_running(sc->dir)) {
            rc = lb_cluster_stop_dir(sc->dir, "immediate", deadline, NULL, &e);
            stopped |= rc == 0;
        }
        /* Refused while a server still runs on it. */
        if (lb_file_exists(sc->dir)) {
            struct lb_err re = {0};
            int rm = lb_cluster_remove_dir(sc->src->data_dir, sc->dir, &re);

            if (rc == 0 && rm != 0) {
                e = re;
                rc = rm;
            }
        }
        if (!lb_file_exists(sc->dir))
            rc = 0;
        if (rc != LB_EINTR || a->interrupted)
            break;
        /* The first signal came during the teardown: it still finishes (the
         * step ends interrupted); a second one stops it. */
        a->interrupted = 1;
        lb_interrupt_acknowledge();
    }
    if (rc == 0) {
        line = stopped ? lb_xasprintf("stopped the scratch cluster on 127.0.0.1:%s and "
                                      "removed %s", sc->port, sc->dir)
                       : lb_xasprintf("removed %s", sc->dir);
        lb_run_log(a->run, line);
    } else {
        title = lb_xasprintf("scratch cluster %s was left beside %s: stop it (pg_ctl -D %s "
                             "stop) and remove it by hand", sc->dir, sc->src->data_dir, sc->dir);
        rc = lb_run_gap(a->run, "major", "cleanup", title, e.msg, err);
    }
    free(line);
    free(title);
    return rc;
}

/* What a failure to restore or to start says of the layer: a finding, not
 * an error, unless it is the deadline, a signal or a guard. */
static int layer_failure(int rc)
{
    return rc != LB_ETIMEOUT && rc != LB_EINTR && rc != LB_ESAFETY && rc != LB_ENOMEM &&
           rc != LB_EHALT && rc != LB_EABORT;
}

/*
 * A basebackup or pgBackRest layer through a scratch cluster: the source
 * proven and counted first (read_live), then the layer restored into a new
 * data directory beside the source's, to the backup's consistent point
 * (recovery target immediate), started on a free port of 127.0.0.1 with
 * archiving off, counted and compared as a dump is, then stopped and
 * removed whatever happened.
 */
static int restore_cluster(struct audit *a, const struct lb_env_backup *b,
                           const struct lb_provenance *prov, int64_t deadline, struct lb_err *err)
{
    const struct lb_env_target *src = b->source != NULL ? lb_env_target(a->env, b->source) : NULL;
    struct scratch_cluster sc = {0};
    struct lb_baseline *live = NULL;
    struct lb_tool_run tr = {0};
    struct lb_pg *c = NULL;
    struct lb_err re = {0};
    char check[300];
    char *line = NULL;
    int64_t t0, cdl;
    int port, made = 0, rc;

    snprintf(check, sizeof(check), "%s: restorable", b->name);
    if (src == NULL || src->data_dir == NULL)
        return lb_err_set(err, LB_EINVAL, "%s: its source target declares no data_dir to put "
                          "a scratch cluster beside", b->name);
    rc = read_live(a, src, deadline, &live, err);
    if (rc == 0)
        rc = record_stats(a, "source", live, err);
    if (rc != 0)
        goto out;
    port = lb_cluster_free_port();
    if (port < 0) {
        rc = lb_err_set(err, LB_EIO, "no free port on 127.0.0.1 for a scratch cluster");
        goto out;
    }
    sc.src = src;
    snprintf(sc.port, sizeof(sc.port), "%d", port);
    sc.conninfo = lb_cluster_local_conninfo(src->conninfo, port);
    if (sc.conninfo == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "target '%s': its conninfo does not parse", src->name);
        goto out;
    }
    sc.cluster_name = lb_xasprintf("%s-audit-%s",
                                   src->cluster_name != NULL ? src->cluster_name : src->name,
                                   b->name);
    sc.dir = lb_cluster_sibling_dir(src->data_dir, "audit");
    sc.log = lb_path_join(sc.dir, "lifeboat-audit.log");
    line = lb_xasprintf("restoring %s (%s) into scratch cluster %s on 127.0.0.1:%s, to its "
                        "consistent point (recovery target immediate), archiving off",
                        b->name, b->kind, sc.dir, sc.port);
    lb_run_log(a->run, line);
    made = 1;
    t0 = lb_mono_ms();
    rc = prepare_cluster(b, &sc, deadline, &tr, err);
    if (record_tool(a, b->name, NULL, &tr, &re) != 0) {
        *err = re;
        rc = re.code;
        goto out;
    }
    if (rc == 0) {
        lb_tool_run_free(&tr);
        memset(&tr, 0, sizeof(tr));
        rc = lb_cluster_start_scratch(sc.dir, sc.log, sc.conninfo, deadline, &tr, err);
        if (record_tool(a, b->name, NULL, &tr, &re) != 0) {
            *err = re;
            rc = re.code;
            goto out;
        }
        if (rc != 0) {
            char *tail = file_tail(sc.log, 20);

            if (tail[0] != '\0') {
                char *text = lb_xasprintf("server log %s (last lines):\n%s", sc.log, tail);

                lb_run_step_output(a->run, text);
                free(text);
            }
            free(tail);
        }
    }
    if (rc != 0 && layer_failure(rc)) {
        char *why = lb_xstrdup(err->msg);
        char *title = lb_xasprintf("%s: restore failed: %s", b->name, why);

        lb_err_clear(err);
        rc = lb_run_check(a->run, check, 0, "recovered to its consistent point and accepting "
                          "connections", why, NULL, err);
        if (rc == 0)
            rc = lb_run_gap(a->run, "critical", "backup", title,
                            "see the step's output for the restore's and the server's messages",
                            err);
        free(title);
        free(why);
        goto out;
    }
    if (rc != 0)
        goto out;
    {
        int64_t ms = lb_mono_ms() - t0;
        char observed[200];

        snprintf(observed, sizeof(observed), "accepting connections on 127.0.0.1:%s after %.1fs",
                 sc.port, (double)ms / 1000.0);
        free(line);
        line = lb_xasprintf("scratch cluster %s recovered and %s", sc.dir, observed);
        lb_run_log(a->run, line);
        rc = metric(a, b->name, "restore", (double)ms, "ms", err);
        if (rc == 0)
            rc = lb_run_check(a->run, check, 1, "recovered to its consistent point and "
                              "accepting connections", observed, NULL, err);
        if (rc != 0)
            goto out;
    }
    cdl = lb_mono_ms() + CONNECT_TIMEOUT_MS;
    rc = lb_pg_connect(sc.conninfo, cdl < deadline ? cdl : deadline, &c, err);
    if (rc == 0)
        rc = lb_pg_query(c, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", 0, NULL,
                         deadline, NULL, err);
    if (rc == 0)
        rc = check_cluster_conn(a, c, &sc, deadline, err);
    if (rc != 0) {
        lb_err_prefix(err, "scratch cluster %s", sc.dir);
        goto out;
    }
    rc = count_and_compare(a, b, prov, live, c, deadline, err);
    if (rc == LB_EDB) {
        /* The server came up on it, but its tables cannot be read (a data
         * file missing from the backup): as bad as a restore that fails. */
        char *why = lb_xstrdup(err->msg);
        char *title = lb_xasprintf("%s: restored data cannot be read: %s", b->name, why);

        lb_err_clear(err);
        snprintf(check, sizeof(check), "%s: restored rows readable", b->name);
        rc = lb_run_check(a->run, check, 0, "every table counted", why, NULL, err);
        if (rc == 0)
            rc = lb_run_gap(a->run, "critical", "backup", title,
                            "the scratch cluster started, but counting its rows failed", err);
        free(title);
        free(why);
    }
out:
    lb_pg_close(c);
    if (made) {
        struct lb_err te = {0};

        /* As for a scratch database: the first signal is handled here (the
         * step still ends interrupted), so that nothing is left behind. */
        if (lb_interrupted()) {
            a->interrupted = 1;
            lb_interrupt_acknowledge();
        }
        if (teardown_cluster(a, &sc, &te) != 0 && rc == 0) {
            *err = te;
            rc = te.code;
        }
    }
    scratch_cluster_free(&sc);
    lb_tool_run_free(&tr);
    lb_baseline_free(live);
    free(line);
    return rc;
}

/* ---- one layer ------------------------------------------------------------ */

static int audit_layer(struct audit *a, const struct lb_env_backup *b, struct lb_err *err)
{
    int64_t deadline = lb_run_deadline(a->run);
    struct on_disk d;
    struct lb_audit_findings f = {0};
    int rc;

    rc = look(b, deadline, &d, err);
    if (rc != 0)
        goto out;
    if (d.art.size >= 0)
        rc = metric(a, b->name, "size", (double)d.art.size, "bytes", err);
    if (rc == 0 && d.art.exists) {
        int64_t at = d.prov != NULL && d.prov->taken_at > 0 ? d.prov->taken_at : d.art.mtime_ms;

        if (at > 0)
            rc = metric(a, b->name, "age", (double)(lb_wall_ms() - at) / 1000.0, "s", err);
    }
    if (rc != 0)
        goto out;
    lb_audit_assess(a->env, b, &d.art, lb_wall_ms(), &f);
    rc = record(a, &f, err);
    if (rc != 0 || !a->o->restore)
        goto out;

    if (strcmp(b->kind, "pg_dump") != 0 && !physical(b)) {
        char check[300];
        char *title = lb_xasprintf("%s: restore check for kind %s not implemented yet",
                                   b->name, b->kind);

        snprintf(check, sizeof(check), "%s: restorable", b->name);
        rc = lb_run_check(a->run, check, 0, "restored and compared", "not implemented yet",
                          NULL, err);
        if (rc == 0)
            rc = lb_run_gap(a->run, "minor", "backup", title,
                            "audit --restore restores pg_dump, basebackup and pgbackrest "
                            "layers; lifeboat cannot restore what a command layer holds",
                            err);
        free(title);
    } else if (physical(b) && (d.art.exists || b->path == NULL)) {
        /* A pgBackRest layer with no path: pgBackRest's default configuration. */
        rc = restore_cluster(a, b, d.prov, deadline, err);
    } else if (!d.art.exists || d.art.size == 0 ||
               (d.art.readable_checked && d.art.readable_error != NULL)) {
        char check[300];

        /* Its critical gap is already recorded. */
        snprintf(check, sizeof(check), "%s: restorable", b->name);
        rc = lb_run_check(a->run, check, 0, "restored and compared",
                          "nothing restorable on disk", NULL, err);
    } else {
        rc = restore_layer(a, b, d.prov, deadline, err);
    }
out:
    lb_audit_findings_free(&f);
    on_disk_free(&d);
    return rc;
}

/* ---- the run -------------------------------------------------------------- */

static int selected(const struct lb_audit_opts *o, const char *name)
{
    const char *const *l;

    if (o->layers == NULL)
        return 1;
    for (l = o->layers; *l != NULL; l++)
        if (strcmp(*l, name) == 0)
            return 1;
    return 0;
}

static char *plan_json(const struct lb_audit_opts *o)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *steps = cJSON_AddArrayToObject(root, "steps");
    size_t i;
    int seq = 0;
    char *out;

    cJSON_AddStringToObject(root, "kind", "audit");
    cJSON_AddStringToObject(root, "environment", o->env->name ? o->env->name : "");
    cJSON_AddBoolToObject(root, "restore", o->restore);
    if (o->restore && o->env->scratch != NULL)
        cJSON_AddStringToObject(root, "scratch", o->env->scratch);
    for (i = 0; i < o->env->nbackups; i++) {
        const struct lb_env_backup *b = &o->env->backups[i];
        cJSON *st;
        char name[300];

        if (!selected(o, b->name))
            continue;
        st = cJSON_CreateObject();
        snprintf(name, sizeof(name), "audit %s", b->name);
        cJSON_AddNumberToObject(st, "seq", ++seq);
        cJSON_AddStringToObject(st, "name", name);
        cJSON_AddStringToObject(st, "kind", "check");
        cJSON_AddStringToObject(st, "layer", b->name);
        cJSON_AddStringToObject(st, "layer_kind", b->kind);
        if (b->path != NULL)
            cJSON_AddStringToObject(st, "path", b->path);
        if (b->source != NULL)
            cJSON_AddStringToObject(st, "source", b->source);
        cJSON_AddItemToArray(steps, st);
    }
    out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static int check_opts(const struct lb_audit_opts *o, struct lb_err *err)
{
    const char *const *l;
    size_t i;
    int dumps = 0;

    if (o == NULL || o->env == NULL || o->store == NULL)
        return lb_err_set(err, LB_EINVAL, "audit: an environment and a store are needed");
    for (l = o->layers; l != NULL && *l != NULL; l++)
        if (lb_env_backup(o->env, *l) == NULL)
            return lb_err_set(err, LB_EINVAL, "%s: no backup layer '%s' is declared",
                              o->env->path ? o->env->path : "environment", *l);
    if (!o->restore)
        return 0;
    for (i = 0; i < o->env->nbackups; i++) {
        const struct lb_env_backup *b = &o->env->backups[i];
        const struct lb_env_target *src;

        if (!selected(o, b->name))
            continue;
        if (strcmp(b->kind, "pg_dump") == 0)
            dumps++;
        if (!physical(b))
            continue;
        src = b->source != NULL ? lb_env_target(o->env, b->source) : NULL;
        if (src == NULL || src->data_dir == NULL)
            return lb_err_set(err, LB_EINVAL,
                              "%s:%d: audit --restore of %s layer '%s' needs its source "
                              "target to declare a data_dir: the layer is restored into a "
                              "scratch cluster beside it (%s), and nowhere else; leave the "
                              "layer out with --layer",
                              o->env->path ? o->env->path : "environment", b->line, b->kind,
                              b->name,
                              src == NULL ? (b->source == NULL ? "the layer declares no source"
                                                               : "its source is not declared")
                                          : "target declares no data_dir");
        if (strcmp(b->kind, "basebackup") == 0 && b->wal_archive == NULL)
            return lb_err_set(err, LB_EINVAL,
                              "%s:%d: audit --restore of basebackup layer '%s' needs its "
                              "wal_archive (restore_command reads it during recovery)",
                              o->env->path ? o->env->path : "environment", b->line, b->name);
        if (strcmp(b->kind, "pgbackrest") == 0 && b->stanza == NULL)
            return lb_err_set(err, LB_EINVAL,
                              "%s:%d: audit --restore of pgbackrest layer '%s' needs its stanza",
                              o->env->path ? o->env->path : "environment", b->line, b->name);
    }
    if (dumps > 0 && (o->env->scratch == NULL || lb_env_target(o->env, o->env->scratch) == NULL))
        return lb_err_set(err, LB_EINVAL,
                          "%s: audit --restore needs a scratch target (scratch = \"<target>\" "
                          "in the environment): it restores each pg_dump layer into a "
                          "throw-away database there, and nowhere else",
                          o->env->path ? o->env->path : "environment");
    return 0;
}

/* Skip the steps from seq `from` on. */
static void skip_rest(struct lb_run *r, int from, int n, const char *why)
{
    struct lb_err ignored = {0};
    int seq;

    for (seq = from; seq <= n; seq++)
        lb_run_step_skip(r, seq, why, &ignored);
}

int lb_audit_run(const struct lb_audit_opts *o, struct lb_audit_result *res, struct lb_err *err)
{
    struct lb_run_opts ro = {0};
    struct audit a = {0};
    const struct lb_env_backup **layers = NULL;
    enum lb_outcome outcome = LB_OUTCOME_COMPLETED;
    char *pj = NULL, *title = NULL;
    struct lb_err fatal = {0};
    int64_t timeout;
    int nlayers = 0, seq, rc;
    size_t i;

    memset(res, 0, sizeof(*res));
    rc = check_opts(o, err);
    if (rc != 0)
        return rc;
    a.o = o;
    a.env = o->env;
    timeout = o->layer_timeout_ms > 0 ? o->layer_timeout_ms : DEFAULT_LAYER_TIMEOUT_MS;
    title = lb_xasprintf("Backup audit of %s%s", o->env->name ? o->env->name : "the environment",
                         o->restore ? " (with restore)" : "");
    pj = plan_json(o);
    ro.store = o->store;
    ro.env = o->env;
    ro.secrets = o->env->secrets;
    ro.scenario_id = "audit";
    ro.scenario_title = title;
    ro.scenario_file = o->env->path;
    ro.kind = "audit";
    ro.rto_objective_ms = -1;
    ro.rpo_objective_ms = -1;
    ro.plan_json = pj;
    ro.on_event = o->on_event;
    ro.event_ud = o->event_ud;
    rc = lb_run_new(&ro, &a.run, err);
    if (rc != 0)
        goto out;
    snprintf(res->run_id, sizeof(res->run_id), "%s", lb_run_id(a.run));

    layers = lb_xcalloc(o->env->nbackups + 1, sizeof(*layers));
    for (i = 0; i < o->env->nbackups; i++) {
        const struct lb_env_backup *b = &o->env->backups[i];
        char name[300], at[600];

        if (!selected(o, b->name))
            continue;
        snprintf(name, sizeof(name), "audit %s", b->name);
        snprintf(at, sizeof(at), "%s:%d", o->env->path ? o->env->path : "environment", b->line);
        rc = lb_run_plan_step(a.run, name, "check", 1, timeout, at, err);
        if (rc < 0)
            goto out;
        layers[nlayers++] = b;
    }
    rc = 0;
    if (nlayers == 0) {
        char *t = lb_xasprintf("environment '%s' declares no backup layers: nothing could be "
                               "restored", o->env->name ? o->env->name : "?");
        rc = lb_run_gap(a.run, "critical", "backup", t, NULL, err);
        free(t);
        if (rc != 0)
            goto out;
    }

    for (seq = 1; seq <= nlayers; seq++) {
        const struct lb_env_backup *b = layers[seq - 1];
        struct lb_err le = {0};
        enum lb_step_status status = LB_STEP_PASSED;

        rc = lb_run_step_begin(a.run, seq, &le);
        if (rc == LB_EHALT || rc == LB_EINTR) {
            outcome = rc == LB_EHALT ? LB_OUTCOME_ABORTED : LB_OUTCOME_INTERRUPTED;
            skip_rest(a.run, seq, nlayers, rc == LB_EHALT ? "halted" : "interrupted");
            rc = 0;
            break;
        }
        if (rc != 0) {
            fatal = le;
            break;
        }
        rc = audit_layer(&a, b, &le);
        if (rc == 0 && a.interrupted)
            rc = LB_EINTR;
        switch (rc) {
        case 0: status = LB_STEP_PASSED; break;
        case LB_ESAFETY: status = LB_STEP_REFUSED; break;
        case LB_ETIMEOUT: status = LB_STEP_TIMEOUT; break;
        case LB_EINTR: status = LB_STEP_INTERRUPTED; break;
        default: status = LB_STEP_FAILED; break;
        }
        if (status == LB_STEP_REFUSED) {
            struct lb_err ge = {0};

            lb_run_gap(a.run, "critical", "safety", le.msg,
                       "the safety guard refused before the audit's restore; the audit "
                       "stopped", &ge);
        }
        rc = lb_run_step_end(a.run, status, rc != 0 ? le.msg : NULL, err);
        if (rc != 0)
            goto out;
        if (status == LB_STEP_REFUSED || status == LB_STEP_INTERRUPTED) {
            outcome = status == LB_STEP_REFUSED ? LB_OUTCOME_REFUSED : LB_OUTCOME_INTERRUPTED;
            skip_rest(a.run, seq + 1, nlayers,
                      status == LB_STEP_REFUSED ? "the audit stopped: a safety guard refused"
                                                : "interrupted");
            break;
        }
        res->layers++;
    }
    if (fatal.code != 0)
        outcome = LB_OUTCOME_FAILED;
    rc = lb_run_finish(a.run, outcome, fatal.code != 0 ? fatal.msg : NULL, &res->summary, err);
    if (rc == 0 && fatal.code != 0) {
        *err = fatal;
        rc = fatal.code;
    }
out:
    lb_run_free(a.run);
    free(layers);
    free(pj);
    free(title);
    return rc;
}
