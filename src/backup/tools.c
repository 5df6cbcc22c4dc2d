/*
 * tools: pg_dump and pg_restore through proc, with the password in the
 * child's environment (never argv), archives written to a temporary name
 * and renamed when complete, and per-table restores through a filtered
 * table of contents (see toc.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifeboat/backup.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "backup_int.h"

#define PG_LIB_DIR "/usr/lib/postgresql"

void lb_tool_run_free(struct lb_tool_run *t)
{
    if (t == NULL)
        return;
    free(t->cmdline);
    free(t->output);
    memset(t, 0, sizeof(*t));
}

static int is_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *lb_pg_bindir(void)
{
    const char *env = getenv("LIFEBOAT_PG_BINDIR");
    DIR *d = NULL;
    struct dirent *e;
    long best = -1;

    if (env != NULL && env[0] != '\0')
        return lb_xstrdup(env);
    d = opendir(PG_LIB_DIR);
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        int64_t v;
        char *ctl;

        if (lb_parse_int64(e->d_name, &v) != 0 || v <= 0 || v <= best)
            continue;
        ctl = lb_xasprintf("%s/%s/bin/pg_ctl", PG_LIB_DIR, e->d_name);
        if (is_executable(ctl))
            best = (long)v;
        free(ctl);
    }
    closedir(d);
    if (best < 0)
        return NULL;
    return lb_xasprintf("%s/%ld/bin", PG_LIB_DIR, best);
}

char *lb_pg_tool(const char *name)
{
    char *dir = lb_pg_bindir();
    char *path;

    if (dir == NULL)
        return lb_xstrdup(name);
    path = lb_path_join(dir, name);
    free(dir);
    return path;
}

/* Run one tool to completion from our working directory (the paths given
 * may be relative) and record it in `run` (see lb_bk_exec). */
static int run_tool(const struct lb_bk_argv *a, const char *const *env_add, int64_t deadline_ms,
                    struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_bk_exec x = {0};

    x.argv = (const char *const *)a->v;
    x.env_add = env_add;
    x.deadline_ms = deadline_ms;
    x.keep_cwd = 1;
    return lb_bk_exec(&x, run, err);
}

/* Conninfo without the password for argv, and "PGPASSWORD=..." for the
 * environment when there is one. */
static int split_conninfo(const char *conninfo, char **without, char **envpw,
                          struct lb_err *err)
{
    char *pw = NULL;
    int rc;

    *envpw = NULL;
    rc = lb_pg_conninfo_split_password(conninfo, without, &pw, err);
    if (rc != 0)
        return rc;
    if (pw != NULL)
        *envpw = lb_xasprintf("PGPASSWORD=%s", pw);
    free(pw);
    return 0;
}

/* "pg_dump (PostgreSQL) 15.18 (...)" from `tool --version`, or NULL. */
static char *tool_version(const char *tool, int64_t deadline_ms)
{
    const char *argv[] = {tool, "--version", NULL};
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    struct lb_err err = {0};
    char *v = NULL;

    po.argv = argv;
    po.deadline_ms = deadline_ms;
    if (lb_proc_run(&po, &res, &err) == 0 && res.exited && res.status == 0)
        v = lb_str_last_line(res.output);
    lb_proc_result_free(&res);
    return v;
}

int lb_backup_pg_dump(const struct lb_dump_opts *o, struct lb_tool_run *run,
                      struct lb_provenance **prov, struct lb_err *err)
{
    struct lb_tool_run localrun = {0};
    struct lb_provenance *p = NULL;
    struct lb_pg *c = NULL;
    struct lb_bk_argv a = {0};
    char *tool = NULL, *tmp = NULL, *conn = NULL, *envpw = NULL, *snapshot = NULL;
    char *snaparg = NULL;
    const char *env_add[2] = {NULL, NULL};
    int in_tx = 0;
    int rc;

    if (run == NULL)
        run = &localrun;
    run->duration_ms = 0;
    if (prov != NULL)
        *prov = NULL;
    if (o == NULL || o->conninfo == NULL || o->path == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "pg_dump: a source conninfo and a path are needed");
        goto out;
    }
    rc = split_conninfo(o->conninfo, &conn, &envpw, err);
    if (rc != 0)
        goto out;
    env_add[0] = envpw;
    tool = lb_pg_tool("pg_dump");
    tmp = lb_xasprintf("%s.tmp", o->path);
    p = lb_xcalloc(1, sizeof(*p));
    p->kind = lb_xstrdup("pg_dump");
    p->tool = tool_version(tool, o->deadline_ms);

    rc = lb_pg_connect(o->conninfo, o->deadline_ms, &c, err);
    if (rc != 0)
        goto out;
    /*
     * Export a snapshot and hand it to pg_dump, so the row counts in the
     * provenance are exactly what the archive holds and taken_at is a lower
     * bound of the snapshot's time (an RPO computed from it is never
     * flattering). Servers that cannot export one get a plain dump.
     */
    rc = lb_pg_query(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL,
                     o->deadline_ms, NULL, err);
    if (rc != 0)
        goto out;
    in_tx = 1;
    rc = lb_pg_query(c, "SET LOCAL idle_in_transaction_session_timeout = 0", 0, NULL,
                     o->deadline_ms, NULL, err);
    if (rc != 0)
        goto out;
    p->taken_at = lb_wall_ms();
    if (lb_pg_scalar(c, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL, o->deadline_ms,
                     &snapshot, err) != 0) {
        lb_err_clear(err);
        rc = lb_pg_query(c, "ROLLBACK", 0, NULL, o->deadline_ms, NULL, err);
        if (rc != 0)
            goto out;
        in_tx = 0;
    }
    rc = lb_provenance_from_conn(c, o->deadline_ms, p, err);
    if (rc != 0)
        goto out;

    lb_bk_argv_add(&a, tool);
    lb_bk_argv_add(&a, "-Fc");
    lb_bk_argv_add(&a, "-f");
    lb_bk_argv_add(&a, tmp);
    if (snapshot != NULL) {
        snaparg = lb_xasprintf("--snapshot=%s", snapshot);
        lb_bk_argv_add(&a, snaparg);
    } else {
        p->taken_at = lb_wall_ms();
    }
    lb_bk_argv_add(&a, "-d");
    lb_bk_argv_add(&a, conn);
    rc = run_tool(&a, env_add, o->deadline_ms, run, err);
    if (rc != 0)
        goto out;
    if (rename(tmp, o->path) != 0) {
        rc = lb_err_set(err, LB_EIO, "%s: rename: %s", o->path, strerror(errno));
        goto out;
    }
    p->finished_at = lb_wall_ms();
    rc = lb_provenance_write(o->path, p, err);
    if (rc != 0)
        goto out;
    if (prov != NULL) {
        *prov = p;
        p = NULL;
    }
out:
    if (in_tx) {
        struct lb_err ignored = {0};
        lb_pg_query(c, "COMMIT", 0, NULL, o->deadline_ms, NULL, &ignored);
    }
    if (rc != 0 && tmp != NULL)
        unlink(tmp);
    lb_pg_close(c);
    lb_provenance_free(p);
    lb_bk_argv_free(&a);
    free(tool);
    free(tmp);
    free(conn);
    free(envpw);
    free(snapshot);
    free(snaparg);
    lb_tool_run_free(&localrun);
    return rc;
}

/* Constraint names that exist on the target (foreign keys only: they are
 * the only entries the filter leaves out when present). NULL-ended. */
static int existing_fks(struct lb_pg *c, int64_t deadline_ms, char ***out, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    char **names;
    int i, rc;

    *out = NULL;
    rc = lb_pg_query(c, "SELECT conname FROM pg_catalog.pg_constraint WHERE contype = 'f'", 0,
                     NULL, deadline_ms, &r, err);
    if (rc != 0)
        return rc;
    names = lb_xcalloc((size_t)r.nrows + 1, sizeof(char *));
    for (i = 0; i < r.nrows; i++)
        names[i] = lb_xstrdup(lb_pg_value(&r, i, 0));
    lb_pg_result_free(&r);
    *out = names;
    return 0;
}

static void strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* A fresh private directory for the restore's scratch files. */
static char *make_scratch_dir(struct lb_err *err)
{
    const char *base = getenv("TMPDIR");
    char *tmpl;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    tmpl = lb_xasprintf("%s/lifeboat-restore-XXXXXX", base);
    if (mkdtemp(tmpl) == NULL) {
        lb_err_set(err, LB_EIO, "cannot create a scratch directory in %s: %s", base,
                   strerror(errno));
        free(tmpl);
        return NULL;
    }
    return tmpl;
}

/* The pg_restore options both forms share. */
static void restore_common(struct lb_bk_argv *a, const struct lb_restore_opts *o, const char *conn)
{
    char jobs[32];

    lb_bk_argv_add(a, "-d");
    lb_bk_argv_add(a, conn);
    if (o->jobs > 1) {
        snprintf(jobs, sizeof(jobs), "%d", o->jobs);
        lb_bk_argv_add(a, "-j");
        lb_bk_argv_add(a, jobs);
    }
    if (o->clean) {
        lb_bk_argv_add(a, "--clean");
        lb_bk_argv_add(a, "--if-exists");
    }
    lb_bk_argv_add(a, "--no-owner");
}

/*
 * Build the filtered list for `o->tables` into `listpath`: the archive's
 * TOC and schema through pg_restore, the target's foreign keys, the filter.
 */
static int write_filtered_list(const struct lb_restore_opts *o, const char *tool,
                               const char *dir, const char *listpath,
                               struct lb_tool_run *run, struct lb_err *err)
{
    struct lb_bk_argv a = {0};
    struct lb_pg *own = NULL;
    struct lb_pg *c = o->conn;
    char *tocpath = lb_path_join(dir, "toc.list");
    char *schemapath = lb_path_join(dir, "schema.sql");
    char *toc = NULL, *schema = NULL, *list = NULL;
    char **existing = NULL;
    int rc;

    /* -f writes to a file, so a huge TOC is never truncated by capture. */
    lb_bk_argv_add(&a, tool);
    lb_bk_argv_add(&a, "-l");
    lb_bk_argv_add(&a, "-f");
    lb_bk_argv_add(&a, tocpath);
    lb_bk_argv_add(&a, o->archive);
    rc = run_tool(&a, NULL, o->deadline_ms, run, err);
    if (rc != 0)
        goto out;
    lb_bk_argv_free(&a);
    lb_bk_argv_add(&a, tool);
    lb_bk_argv_add(&a, "-s");
    lb_bk_argv_add(&a, "-f");
    lb_bk_argv_add(&a, schemapath);
    lb_bk_argv_add(&a, o->archive);
    rc = run_tool(&a, NULL, o->deadline_ms, run, err);
    if (rc != 0)
        goto out;
    rc = lb_file_read(tocpath, &toc, NULL, err);
    if (rc == 0)
        rc = lb_file_read(schemapath, &schema, NULL, err);
    if (rc != 0)
        goto out;
    /*
     * With --clean, pg_restore drops the listed foreign keys before the
     * tables they point at (the drop would fail otherwise) and re-creates
     * them: keep them all. Without it, keys still on the target stay out.
     */
    if (!o->clean) {
        if (c == NULL) {
            rc = lb_pg_connect(o->conninfo, o->deadline_ms, &own, err);
            if (rc != 0)
                goto out;
            c = own;
        }
        rc = existing_fks(c, o->deadline_ms, &existing, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_toc_filter(toc, schema, o->tables, (const char *const *)existing, &list, err);
    if (rc != 0)
        goto out;
    rc = lb_file_write(listpath, list, strlen(list), err);
out:
    if (tocpath != NULL)
        unlink(tocpath);
    if (schemapath != NULL)
        unlink(schemapath);
    lb_pg_close(own);
    strv_free(existing);
    lb_bk_argv_free(&a);
    free(tocpath);
    free(schemapath);
    free(toc);
    free(schema);
    free(list);
    return rc;
}

int lb_backup_pg_restore(const struct lb_restore_opts *o, struct lb_tool_run *run,
                         struct lb_err *err)
{
    struct lb_tool_run localrun = {0};
    struct lb_bk_argv a = {0};
    char *tool = NULL, *conn = NULL, *envpw = NULL, *dir = NULL, *listpath = NULL;
    const char *env_add[2] = {NULL, NULL};
    int rc;

    if (run == NULL)
        run = &localrun;
    if (o == NULL || o->conninfo == NULL || o->archive == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "pg_restore: a target conninfo and an archive are needed");
        goto out;
    }
    if (!lb_file_exists(o->archive)) {
        rc = lb_err_set(err, LB_ENOTFOUND, "%s: no such archive", o->archive);
        goto out;
    }
    rc = split_conninfo(o->conninfo, &conn, &envpw, err);
    if (rc != 0)
        goto out;
    env_add[0] = envpw;
    tool = lb_pg_tool("pg_restore");
    run->duration_ms = 0;

    lb_bk_argv_add(&a, tool);
    if (o->tables != NULL) {
        dir = make_scratch_dir(err);
        if (dir == NULL) {
            rc = err->code;
            goto out;
        }
        listpath = lb_path_join(dir, "restore.list");
        rc = write_filtered_list(o, tool, dir, listpath, run, err);
        if (rc != 0)
            goto out;
        lb_bk_argv_add(&a, "-L");
        lb_bk_argv_add(&a, listpath);
    }
    restore_common(&a, o, conn);
    lb_bk_argv_add(&a, o->archive);
    rc = run_tool(&a, env_add, o->deadline_ms, run, err);
out:
    if (listpath != NULL)
        unlink(listpath);
    if (dir != NULL)
        rmdir(dir);
    lb_bk_argv_free(&a);
    free(tool);
    free(conn);
    free(envpw);
    free(dir);
    free(listpath);
    lb_tool_run_free(&localrun);
    return rc;
}
