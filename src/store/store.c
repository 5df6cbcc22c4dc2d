/*
 * The results store: opening, the SQLite helpers and every write. Each write
 * is one BEGIN IMMEDIATE ... COMMIT with values bound by parameter, so a
 * crash loses at most the write in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* A writer waits this long for another's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 10000

/* ---- helpers --------------------------------------------------------- */

int lb_sq_err(struct lb_store *s, struct lb_err *err, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    int rc = LB_EDB;
    switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
        rc = code == SQLITE_CONSTRAINT_FOREIGNKEY ? LB_ENOTFOUND : LB_EINVAL;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        rc = LB_ETIMEOUT;
        break;
    case SQLITE_CANTOPEN:
        rc = LB_EIO;
        break;
    case SQLITE_NOMEM:
        rc = LB_ENOMEM;
        break;
    default:
        break;
    }
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return lb_err_set(err, rc, "store: %s: no such run", what);
    return lb_err_set(err, rc, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

int lb_sq_prepare(struct lb_store *s, const char *sql, sqlite3_stmt **out,
                  struct lb_err *err, const char *what)
{
    *out = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
        return lb_sq_err(s, err, what);
    return 0;
}

void lb_sq_bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types[i] != '\0'; i++) {
        int idx = i + 1;
        switch (types[i]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            if (v != NULL)
                sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, idx);
            break;
        }
        case 'i':
            sqlite3_bind_int(st, idx, va_arg(ap, int));
            break;
        case 'l':
            sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
            break;
        case 'o': {
            int64_t v = va_arg(ap, int64_t);
            if (v >= 0)
                sqlite3_bind_int64(st, idx, v);
            else
                sqlite3_bind_null(st, idx);
            break;
        }
        case 'd':
            sqlite3_bind_double(st, idx, va_arg(ap, double));
            break;
        default:
            /* A programming error in this module: bind NULL, keep going. */
            sqlite3_bind_null(st, idx);
            break;
        }
    }
}

int lb_sq_done(struct lb_store *s, sqlite3_stmt *st, int *changes,
               struct lb_err *err, const char *what)
{
    int r = sqlite3_step(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        return lb_sq_err(s, err, what);
    if (changes != NULL)
        *changes = sqlite3_changes(s->db);
    return 0;
}

int lb_sq_exec(struct lb_store *s, int *changes, struct lb_err *err,
               const char *what, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc = lb_sq_prepare(s, sql, &st, err, what);
    if (rc != 0)
        goto out;
    va_start(ap, types);
    lb_sq_bindv(st, types, ap);
    va_end(ap);
    rc = lb_sq_done(s, st, changes, err, what);
out:
    sqlite3_finalize(st);
    return rc;
}

int lb_sq_begin(struct lb_store *s, struct lb_err *err)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return lb_sq_err(s, err, "begin transaction");
    return 0;
}

int lb_sq_commit(struct lb_store *s, struct lb_err *err)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return lb_sq_err(s, err, "commit");
    return 0;
}

void lb_sq_rollback(struct lb_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

char *lb_sq_col_str(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? lb_xstrdup((const char *)t) : NULL;
}

int64_t lb_sq_col_i64(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return -1;
    return sqlite3_column_int64(st, col);
}

int lb_sq_col_int(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return -1;
    return sqlite3_column_int(st, col);
}

/*
 * One statement in its own transaction. When `missing` is not NULL, a
 * statement that changed no row is LB_ENOTFOUND with it as the reason.
 */
static int write1(struct lb_store *s, struct lb_err *err, const char *what,
                  const char *missing, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    int changes = 0;
    va_list ap;
    int rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_prepare(s, sql, &st, err, what);
    if (rc != 0)
        goto out;
    va_start(ap, types);
    lb_sq_bindv(st, types, ap);
    va_end(ap);
    rc = lb_sq_done(s, st, &changes, err, what);
    if (rc != 0)
        goto out;
    if (missing != NULL && changes == 0) {
        rc = lb_err_set(err, LB_ENOTFOUND, "store: %s: %s", what, missing);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = lb_sq_commit(s, err);
out:
    sqlite3_finalize(st);
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

/* 1 if value is one of the NULL-terminated list. */
static int one_of(const char *value, const char *const *allowed)
{
    for (size_t i = 0; value != NULL && allowed[i] != NULL; i++) {
        if (strcmp(value, allowed[i]) == 0)
            return 1;
    }
    return 0;
}

/* LB_EINVAL naming the allowed values unless value is one of them. */
static int check_word(const char *field, const char *value,
                      const char *const *allowed, struct lb_err *err)
{
    struct lb_buf b = {0};
    if (one_of(value, allowed))
        return 0;
    for (size_t i = 0; allowed[i] != NULL; i++)
        lb_buf_printf(&b, "%s%s", i > 0 ? ", " : "", allowed[i]);
    lb_err_set(err, LB_EINVAL, "store: %s '%s' is not one of: %s", field,
               value != NULL ? value : "(null)", b.data);
    lb_buf_free(&b);
    return LB_EINVAL;
}

/* LB_EINVAL for a missing required string. */
static int need(const char *value, const char *what, struct lb_err *err)
{
    if (value == NULL || value[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "store: %s is required", what);
    return 0;
}

/* ---- open and close -------------------------------------------------- */

/* A PRAGMA whose value is fixed by us (PRAGMAs take no parameters). */
static int pragma(struct lb_store *s, const char *sql, struct lb_err *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return lb_sq_err(s, err, sql);
    return 0;
}

int lb_store_open(const char *path, struct lb_store **out, struct lb_err *err)
{
    struct lb_store *s = NULL;
    int rc;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "store: no store path given");
    s = lb_xcalloc(1, sizeof *s);
    s->path = lb_xstrdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        rc = s->db != NULL ? lb_sq_err(s, err, path)
                           : lb_err_set(err, LB_ENOMEM, "store: %s: out of memory", path);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    rc = pragma(s, "PRAGMA journal_mode=WAL", err);
    if (rc == 0)
        rc = pragma(s, "PRAGMA synchronous=FULL", err);
    if (rc == 0)
        rc = pragma(s, "PRAGMA foreign_keys=ON", err);
    if (rc != 0) {
        lb_err_prefix(err, "open %s", path);
        goto out;
    }
    rc = lb_store_migrate(s, err);
    if (rc == 0)
        rc = lb_store_recover_interrupted(s, err);
out:
    if (rc != 0) {
        lb_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void lb_store_close(struct lb_store *s)
{
    if (s == NULL)
        return;
    if (s->db != NULL)
        sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

int lb_store_version(struct lb_store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (s == NULL || sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st,
                                        NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
out:
    sqlite3_finalize(st);
    return v;
}

/* ---- run ids --------------------------------------------------------- */

void lb_store_new_run_id(char *out, size_t outsz)
{
    unsigned char rnd[2];
    struct lb_err err = {0};
    time_t secs = (time_t)(lb_wall_ms() / 1000);
    struct tm tm;

    if (lb_random_bytes(rnd, sizeof rnd, &err) != 0) {
        /* No OS randomness: the clock and pid still separate two runs. */
        uint64_t x = (uint64_t)lb_mono_ms() * 2654435761u ^ (uint64_t)getpid();
        rnd[0] = (unsigned char)(x & 0xff);
        rnd[1] = (unsigned char)((x >> 8) & 0xff);
    }
    gmtime_r(&secs, &tm);
    snprintf(out, outsz, "%04d%02d%02d-%02d%02d%02d-%02x%02x", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)rnd[0], (unsigned)rnd[1]);
}

/* ---- writing a run --------------------------------------------------- */

static const char *const run_statuses[] = {
    "passed", "failed", "refused", "aborted", "rollback_failed",
    "interrupted", "error", "planned", NULL,
};
static const char *const step_statuses[] = {
    "passed", "failed", "timeout", "skipped", "interrupted", "refused", NULL,
};
static const char *const severities[] = {"critical", "major", "minor", NULL};
static const char *const rollback_statuses[] = {
    "registered", "running", "passed", "failed", "not_run", NULL,
};

int lb_store_run_begin(struct lb_store *s, const struct lb_run_info *info,
                       struct lb_err *err)
{
    char host[256];
    long long pid = 0, start_time = -1;
    int rc;

    if ((rc = need(info->id, "run id", err)) != 0 ||
        (rc = need(info->scenario_id, "scenario id", err)) != 0)
        return rc;
    lb_store_self_writer(&pid, host, sizeof host, &start_time);
    return write1(s, err, "begin run", NULL,
                  "INSERT INTO runs (id, scenario_id, scenario_title, scenario_file,"
                  " scenario_sha256, environment, kind, operator_name, host, version,"
                  " dry_run, started_at, rto_objective_ms, rpo_objective_ms, plan_json,"
                  " status, writer_pid, writer_host, writer_start_time)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'running',?,?,?)",
                  "ssssssssssilooslso", info->id, info->scenario_id,
                  info->scenario_title, info->scenario_file, info->scenario_sha256,
                  info->environment, info->kind != NULL ? info->kind : "drill",
                  info->operator_name, info->host, info->version,
                  info->dry_run ? 1 : 0, (int64_t)info->started_at,
                  (int64_t)info->rto_objective_ms, (int64_t)info->rpo_objective_ms,
                  info->plan_json, (int64_t)pid, host, (int64_t)start_time);
}

int lb_store_run_end(struct lb_store *s, const char *run_id,
                     const struct lb_run_result *res, struct lb_err *err)
{
    int rc = check_word("run status", res->status, run_statuses, err);
    if (rc != 0)
        return rc;
    return write1(s, err, "end run", "no such run",
                  "UPDATE runs SET status = ?, exit_code = ?, ended_at = ?,"
                  " rto_ms = ?, rpo_ms = ?, rpo_method = ?, error = ?"
                  " WHERE id = ?",
                  "siooosss", res->status, res->exit_code, (int64_t)res->ended_at,
                  (int64_t)res->rto_ms, (int64_t)res->rpo_ms, res->rpo_method,
                  res->error, run_id);
}

int lb_store_step_plan(struct lb_store *s, const char *run_id,
                       const struct lb_step_info *st, struct lb_err *err)
{
    int rc;
    if ((rc = need(st->name, "step name", err)) != 0 ||
        (rc = need(st->kind, "step kind", err)) != 0)
        return rc;
    return write1(s, err, "plan step", NULL,
                  "INSERT INTO steps (run_id, seq, name, kind, critical, timeout_ms,"
                  " declared_at, status) VALUES (?,?,?,?,?,?,?,'pending')",
                  "sissios", run_id, st->seq, st->name, st->kind,
                  st->critical ? 1 : 0, (int64_t)st->timeout_ms, st->declared_at);
}

int lb_store_step_start(struct lb_store *s, const char *run_id, int seq,
                        int64_t started_at, struct lb_err *err)
{
    return write1(s, err, "start step", "no such step",
                  "UPDATE steps SET status = 'running', started_at = ?"
                  " WHERE run_id = ? AND seq = ?",
                  "osi", (int64_t)started_at, run_id, seq);
}

int lb_store_step_end(struct lb_store *s, const char *run_id, int seq,
                      const char *status, int64_t ended_at, int64_t duration_ms,
                      const char *error, const char *output_tail,
                      struct lb_err *err)
{
    int rc = check_word("step status", status, step_statuses, err);
    if (rc != 0)
        return rc;
    return write1(s, err, "end step", "no such step",
                  "UPDATE steps SET status = ?, ended_at = ?, duration_ms = ?,"
                  " error = ?, output_tail = ? WHERE run_id = ? AND seq = ?",
                  "soosssi", status, (int64_t)ended_at, (int64_t)duration_ms, error,
                  output_tail, run_id, seq);
}

int lb_store_mark(struct lb_store *s, const char *run_id, const char *name,
                  int64_t at, const char *source, struct lb_err *err)
{
    int rc = need(name, "mark name", err);
    if (rc != 0)
        return rc;
    return write1(s, err, "mark", NULL,
                  "INSERT INTO marks (run_id, name, at, source) VALUES (?,?,?,?)",
                  "ssls", run_id, name, (int64_t)at, source);
}

int lb_store_check(struct lb_store *s, const char *run_id, int step_seq,
                   const char *name, int ok, const char *expected,
                   const char *observed, const char *table_name,
                   struct lb_err *err)
{
    int rc = need(name, "check name", err);
    if (rc != 0)
        return rc;
    return write1(s, err, "record check", NULL,
                  "INSERT INTO checks (run_id, step_seq, name, ok, expected, observed,"
                  " table_name) VALUES (?,?,?,?,?,?,?)",
                  "sosisss", run_id, (int64_t)step_seq, name, ok ? 1 : 0, expected,
                  observed, table_name);
}

int lb_store_metric(struct lb_store *s, const char *run_id, int step_seq,
                    const char *name, double value, const char *unit,
                    struct lb_err *err)
{
    int rc = need(name, "metric name", err);
    if (rc != 0)
        return rc;
    return write1(s, err, "record metric", NULL,
                  "INSERT INTO metrics (run_id, step_seq, name, value, unit)"
                  " VALUES (?,?,?,?,?)",
                  "sosds", run_id, (int64_t)step_seq, name, value, unit);
}

int lb_store_gap(struct lb_store *s, const char *run_id, int step_seq,
                 const char *severity, const char *category, const char *title,
                 const char *detail, struct lb_err *err)
{
    int rc;
    if ((rc = check_word("gap severity", severity, severities, err)) != 0 ||
        (rc = need(category, "gap category", err)) != 0 ||
        (rc = need(title, "gap title", err)) != 0)
        return rc;
    return write1(s, err, "record gap", NULL,
                  "INSERT INTO gaps (run_id, step_seq, severity, category, title,"
                  " detail) VALUES (?,?,?,?,?,?)",
                  "sossss", run_id, (int64_t)step_seq, severity, category, title,
                  detail);
}

int lb_store_table_stat(struct lb_store *s, const char *run_id, int step_seq,
                        const struct lb_table_stat *ts, struct lb_err *err)
{
    int rc;
    if ((rc = need(ts->phase, "table stat phase", err)) != 0 ||
        (rc = need(ts->table_name, "table stat table", err)) != 0)
        return rc;
    return write1(s, err, "record table stat", NULL,
                  "INSERT INTO table_stats (run_id, step_seq, phase, table_name, rows,"
                  " fingerprint, schema_fingerprint) VALUES (?,?,?,?,?,?,?)",
                  "sossoss", run_id, (int64_t)step_seq, ts->phase, ts->table_name,
                  (int64_t)ts->rows, ts->fingerprint, ts->schema_fingerprint);
}

int lb_store_rollback_register(struct lb_store *s, const char *run_id, int id,
                               const char *name, const char *declared_at,
                               struct lb_err *err)
{
    int rc = need(name, "rollback name", err);
    if (rc != 0)
        return rc;
    return write1(s, err, "register rollback", NULL,
                  "INSERT INTO rollbacks (run_id, id, name, declared_at, status)"
                  " VALUES (?,?,?,?,'registered')",
                  "siss", run_id, id, name, declared_at);
}

int lb_store_rollback_status(struct lb_store *s, const char *run_id, int id,
                             const char *status, const char *error,
                             struct lb_err *err)
{
    int rc = check_word("rollback status", status, rollback_statuses, err);
    if (rc != 0)
        return rc;
    return write1(s, err, "set rollback status", "no such rollback",
                  "UPDATE rollbacks SET status = ?, error = ?"
                  " WHERE run_id = ? AND id = ?",
                  "sssi", status, error, run_id, id);
}

/* ---- halt switch ----------------------------------------------------- */

int lb_store_halt_set(struct lb_store *s, int on, const char *reason,
                      struct lb_err *err)
{
    int64_t now = lb_wall_ms();
    int rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_exec(s, NULL, err, "set halt",
                    "INSERT INTO settings (key, value, updated_at) VALUES ('halt', ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    "sl", on ? "1" : "0", now);
    if (rc != 0)
        goto out;
    if (on && reason != NULL)
        rc = lb_sq_exec(s, NULL, err, "set halt reason",
                        "INSERT INTO settings (key, value, updated_at)"
                        " VALUES ('halt_reason', ?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                        " updated_at = excluded.updated_at",
                        "sl", reason, now);
    else
        rc = lb_sq_exec(s, NULL, err, "clear halt reason",
                        "DELETE FROM settings WHERE key = 'halt_reason'", "");
    if (rc != 0)
        goto out;
    rc = lb_sq_commit(s, err);
out:
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

int lb_store_halt_get(struct lb_store *s, int *on, char **reason,
                      struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, r;

    *on = 0;
    if (reason != NULL)
        *reason = NULL;
    rc = lb_sq_prepare(s,
                       "SELECT (SELECT value FROM settings WHERE key = 'halt'),"
                       " (SELECT value FROM settings WHERE key = 'halt_reason')",
                       &st, err, "read halt");
    if (rc != 0)
        goto out;
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        rc = lb_sq_err(s, err, "read halt");
        goto out;
    }
    {
        const unsigned char *v = sqlite3_column_text(st, 0);
        *on = v != NULL && strcmp((const char *)v, "1") == 0;
    }
    if (*on && reason != NULL)
        *reason = lb_sq_col_str(st, 1);
out:
    sqlite3_finalize(st);
    return rc;
}
