/*
 * Reading runs back: one run whole (for reports and `show`), or run headers
 * (for `runs` and `trend`). Everything is copied out of SQLite; the views
 * own their strings.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* How many candidates an ambiguous prefix names before "...". */
#define AMBIGUOUS_SHOWN 5

#define RUN_COLUMNS                                                            \
    "id, scenario_id, scenario_title, scenario_file, scenario_sha256,"        \
    " environment, kind, operator_name, host, version, status, rpo_method,"  \
    " error, dry_run, exit_code, started_at, ended_at, rto_ms, rpo_ms,"      \
    " rto_objective_ms, rpo_objective_ms"

/* Fill a run header from a row of RUN_COLUMNS. */
static void read_header(sqlite3_stmt *st, struct lb_run_view *v)
{
    v->id = lb_sq_col_str(st, 0);
    v->scenario_id = lb_sq_col_str(st, 1);
    v->scenario_title = lb_sq_col_str(st, 2);
    v->scenario_file = lb_sq_col_str(st, 3);
    v->scenario_sha256 = lb_sq_col_str(st, 4);
    v->environment = lb_sq_col_str(st, 5);
    v->kind = lb_sq_col_str(st, 6);
    v->operator_name = lb_sq_col_str(st, 7);
    v->host = lb_sq_col_str(st, 8);
    v->version = lb_sq_col_str(st, 9);
    v->status = lb_sq_col_str(st, 10);
    v->rpo_method = lb_sq_col_str(st, 11);
    v->error = lb_sq_col_str(st, 12);
    v->dry_run = lb_sq_col_int(st, 13) > 0;
    v->exit_code = lb_sq_col_int(st, 14);
    v->started_at = lb_sq_col_i64(st, 15);
    v->ended_at = lb_sq_col_i64(st, 16);
    v->rto_ms = lb_sq_col_i64(st, 17);
    v->rpo_ms = lb_sq_col_i64(st, 18);
    v->rto_objective_ms = lb_sq_col_i64(st, 19);
    v->rpo_objective_ms = lb_sq_col_i64(st, 20);
}

/* Turn "latest", a full id or a unique prefix into the run's full id. */
int lb_sq_resolve_run(struct lb_store *s, const char *id, char **out,
                      struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct lb_buf names = {0};
    size_t n = 0;
    int rc, r;

    *out = NULL;
    if (id == NULL || id[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "store: no run id given");
    if (strcmp(id, "latest") == 0) {
        rc = lb_sq_prepare(s, "SELECT id FROM runs ORDER BY started_at DESC,"
                              " rowid DESC LIMIT 1", &st, err, "find latest run");
    } else {
        /* An exact id wins over being a prefix of longer ids; substr, not
         * LIKE, so '_' and '%' in the argument match only themselves. */
        rc = lb_sq_prepare(s, "SELECT id FROM runs WHERE id = ?1 OR"
                              " substr(id, 1, length(?1)) = ?1"
                              " ORDER BY id = ?1 DESC, id",
                           &st, err, "find run");
        if (rc == 0)
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    }
    if (rc != 0)
        goto out;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *found = (const char *)sqlite3_column_text(st, 0);
        if (n == 0 && strcmp(found, id) == 0) {
            *out = lb_xstrdup(found);
            n = 1;
            break;
        }
        if (n == 0)
            *out = lb_xstrdup(found);
        if (n < AMBIGUOUS_SHOWN)
            lb_buf_printf(&names, "%s%s", n > 0 ? ", " : "", found);
        else if (n == AMBIGUOUS_SHOWN)
            lb_buf_adds(&names, ", ...");
        n++;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        rc = lb_sq_err(s, err, "find run");
        goto out;
    }
    if (n == 0)
        rc = strcmp(id, "latest") == 0
                 ? lb_err_set(err, LB_ENOTFOUND, "store: no runs in %s yet", s->path)
                 : lb_err_set(err, LB_ENOTFOUND, "store: no run matches '%s'", id);
    else if (n > 1)
        rc = lb_err_set(err, LB_EINVAL,
                        "store: run id '%s' is ambiguous: %zu runs match (%s)", id,
                        n, names.data);
out:
    sqlite3_finalize(st);
    lb_buf_free(&names);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/*
 * Query the children of one run: sql takes the run id as ?1; each row is
 * handed to fill() for the next element of a growing array.
 */
typedef void (*fill_fn)(sqlite3_stmt *st, void *elem);

static int load_children(struct lb_store *s, const char *run_id, const char *sql,
                         size_t elem_size, fill_fn fill, void **items, size_t *n,
                         const char *what, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    unsigned char *arr = NULL;
    size_t count = 0;
    int rc, r;

    rc = lb_sq_prepare(s, sql, &st, err, what);
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        arr = lb_xrealloc(arr, (count + 1) * elem_size);
        memset(arr + count * elem_size, 0, elem_size);
        fill(st, arr + count * elem_size);
        count++;
    }
    if (r != SQLITE_DONE)
        rc = lb_sq_err(s, err, what);
out:
    sqlite3_finalize(st);
    /* Even on error the array is handed over, so the view frees it. */
    *items = arr;
    *n = count;
    return rc;
}

static void fill_step(sqlite3_stmt *st, void *elem)
{
    struct lb_step_view *x = elem;
    x->seq = lb_sq_col_int(st, 0);
    x->name = lb_sq_col_str(st, 1);
    x->kind = lb_sq_col_str(st, 2);
    x->status = lb_sq_col_str(st, 3);
    x->error = lb_sq_col_str(st, 4);
    x->output_tail = lb_sq_col_str(st, 5);
    x->declared_at = lb_sq_col_str(st, 6);
    x->critical = lb_sq_col_int(st, 7) > 0;
    x->timeout_ms = lb_sq_col_i64(st, 8);
    x->started_at = lb_sq_col_i64(st, 9);
    x->ended_at = lb_sq_col_i64(st, 10);
    x->duration_ms = lb_sq_col_i64(st, 11);
}

static void fill_mark(sqlite3_stmt *st, void *elem)
{
    struct lb_mark_view *x = elem;
    x->name = lb_sq_col_str(st, 0);
    x->source = lb_sq_col_str(st, 1);
    x->at = lb_sq_col_i64(st, 2);
}

static void fill_check(sqlite3_stmt *st, void *elem)
{
    struct lb_check_view *x = elem;
    x->step_seq = lb_sq_col_int(st, 0);
    x->ok = lb_sq_col_int(st, 1) > 0;
    x->name = lb_sq_col_str(st, 2);
    x->expected = lb_sq_col_str(st, 3);
    x->observed = lb_sq_col_str(st, 4);
    x->table_name = lb_sq_col_str(st, 5);
}

static void fill_metric(sqlite3_stmt *st, void *elem)
{
    struct lb_metric_view *x = elem;
    x->step_seq = lb_sq_col_int(st, 0);
    x->name = lb_sq_col_str(st, 1);
    x->unit = lb_sq_col_str(st, 2);
    x->value = sqlite3_column_double(st, 3);
}

static void fill_gap(sqlite3_stmt *st, void *elem)
{
    struct lb_gap_view *x = elem;
    x->step_seq = lb_sq_col_int(st, 0);
    x->severity = lb_sq_col_str(st, 1);
    x->category = lb_sq_col_str(st, 2);
    x->title = lb_sq_col_str(st, 3);
    x->detail = lb_sq_col_str(st, 4);
}

static void fill_stat(sqlite3_stmt *st, void *elem)
{
    struct lb_table_stat_view *x = elem;
    x->step_seq = lb_sq_col_int(st, 0);
    x->phase = lb_sq_col_str(st, 1);
    x->table_name = lb_sq_col_str(st, 2);
    x->fingerprint = lb_sq_col_str(st, 3);
    x->schema_fingerprint = lb_sq_col_str(st, 4);
    x->rows = lb_sq_col_i64(st, 5);
}

static void fill_rollback(sqlite3_stmt *st, void *elem)
{
    struct lb_rollback_view *x = elem;
    x->id = lb_sq_col_int(st, 0);
    x->name = lb_sq_col_str(st, 1);
    x->status = lb_sq_col_str(st, 2);
    x->error = lb_sq_col_str(st, 3);
    x->declared_at = lb_sq_col_str(st, 4);
}

/* Load the header and every child of run `id` (a full id) into v. */
static int load_whole(struct lb_store *s, const char *id, struct lb_run_view *v,
                      struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    void *p = NULL;
    int rc, r;

    rc = lb_sq_prepare(s, "SELECT " RUN_COLUMNS ", plan_json FROM runs WHERE id = ?1",
                       &st, err, "load run");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rc = lb_err_set(err, LB_ENOTFOUND, "store: no run matches '%s'", id);
        goto out;
    }
    if (r != SQLITE_ROW) {
        rc = lb_sq_err(s, err, "load run");
        goto out;
    }
    read_header(st, v);
    v->plan_json = lb_sq_col_str(st, 21);

    rc = load_children(s, id,
                       "SELECT seq, name, kind, status, error, output_tail, declared_at,"
                       " critical, timeout_ms, started_at, ended_at, duration_ms"
                       " FROM steps WHERE run_id = ?1 ORDER BY seq",
                       sizeof *v->steps, fill_step, &p, &v->nsteps, "load steps", err);
    v->steps = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT name, source, at FROM marks WHERE run_id = ?1"
                       " ORDER BY at, id",
                       sizeof *v->marks, fill_mark, &p, &v->nmarks, "load marks", err);
    v->marks = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT step_seq, ok, name, expected, observed, table_name"
                       " FROM checks WHERE run_id = ?1 ORDER BY id",
                       sizeof *v->checks, fill_check, &p, &v->nchecks, "load checks",
                       err);
    v->checks = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT step_seq, name, unit, value FROM metrics"
                       " WHERE run_id = ?1 ORDER BY id",
                       sizeof *v->metrics, fill_metric, &p, &v->nmetrics,
                       "load metrics", err);
    v->metrics = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT step_seq, severity, category, title, detail FROM gaps"
                       " WHERE run_id = ?1 ORDER BY id",
                       sizeof *v->gaps, fill_gap, &p, &v->ngaps, "load gaps", err);
    v->gaps = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT step_seq, phase, table_name, fingerprint,"
                       " schema_fingerprint, rows FROM table_stats WHERE run_id = ?1"
                       " ORDER BY step_seq, table_name, id",
                       sizeof *v->stats, fill_stat, &p, &v->nstats, "load table stats",
                       err);
    v->stats = p;
    if (rc != 0)
        goto out;
    rc = load_children(s, id,
                       "SELECT id, name, status, error, declared_at FROM rollbacks"
                       " WHERE run_id = ?1 ORDER BY id",
                       sizeof *v->rollbacks, fill_rollback, &p, &v->nrollbacks,
                       "load rollbacks", err);
    v->rollbacks = p;
out:
    sqlite3_finalize(st);
    return rc;
}

int lb_store_load_run(struct lb_store *s, const char *id,
                      struct lb_run_view **out, struct lb_err *err)
{
    struct lb_run_view *v = NULL;
    char *full = NULL;
    int rc;

    *out = NULL;
    rc = lb_sq_resolve_run(s, id, &full, err);
    if (rc != 0)
        goto out;
    v = lb_xcalloc(1, sizeof *v);
    /* One read transaction, so the run and its children are one snapshot
     * even while a drill is writing. */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = lb_sq_err(s, err, "begin read");
        goto out;
    }
    rc = load_whole(s, full, v, err);
    lb_sq_rollback(s);
out:
    free(full);
    if (rc != 0) {
        lb_run_view_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void lb_run_view_free(struct lb_run_view *v)
{
    size_t i;
    if (v == NULL)
        return;
    free(v->id);
    free(v->scenario_id);
    free(v->scenario_title);
    free(v->scenario_file);
    free(v->scenario_sha256);
    free(v->environment);
    free(v->kind);
    free(v->operator_name);
    free(v->host);
    free(v->version);
    free(v->status);
    free(v->rpo_method);
    free(v->error);
    free(v->plan_json);
    for (i = 0; i < v->nsteps; i++) {
        free(v->steps[i].name);
        free(v->steps[i].kind);
        free(v->steps[i].status);
        free(v->steps[i].error);
        free(v->steps[i].output_tail);
        free(v->steps[i].declared_at);
    }
    free(v->steps);
    for (i = 0; i < v->nmarks; i++) {
        free(v->marks[i].name);
        free(v->marks[i].source);
    }
    free(v->marks);
    for (i = 0; i < v->nchecks; i++) {
        free(v->checks[i].name);
        free(v->checks[i].expected);
        free(v->checks[i].observed);
        free(v->checks[i].table_name);
    }
    free(v->checks);
    for (i = 0; i < v->nmetrics; i++) {
        free(v->metrics[i].name);
        free(v->metrics[i].unit);
    }
    free(v->metrics);
    for (i = 0; i < v->ngaps; i++) {
        free(v->gaps[i].severity);
        free(v->gaps[i].category);
        free(v->gaps[i].title);
        free(v->gaps[i].detail);
    }
    free(v->gaps);
    for (i = 0; i < v->nstats; i++) {
        free(v->stats[i].phase);
        free(v->stats[i].table_name);
        free(v->stats[i].fingerprint);
        free(v->stats[i].schema_fingerprint);
    }
    free(v->stats);
    for (i = 0; i < v->nrollbacks; i++) {
        free(v->rollbacks[i].name);
        free(v->rollbacks[i].status);
        free(v->rollbacks[i].error);
        free(v->rollbacks[i].declared_at);
    }
    free(v->rollbacks);
    free(v);
}

int lb_store_list_runs(struct lb_store *s, const char *scenario_id, int limit,
                       struct lb_run_view ***out, size_t *n, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct lb_run_view **list = NULL;
    size_t count = 0;
    int rc, r;

    *out = NULL;
    *n = 0;
    rc = lb_sq_prepare(s, "SELECT " RUN_COLUMNS " FROM runs"
                          " WHERE ?1 IS NULL OR scenario_id = ?1"
                          " ORDER BY started_at DESC, rowid DESC LIMIT ?2",
                       &st, err, "list runs");
    if (rc != 0)
        goto out;
    if (scenario_id != NULL)
        sqlite3_bind_text(st, 1, scenario_id, -1, SQLITE_TRANSIENT);
    /* LIMIT -1 is "no limit" in SQLite. */
    sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        list = lb_xrealloc(list, (count + 1) * sizeof *list);
        list[count] = lb_xcalloc(1, sizeof **list);
        read_header(st, list[count]);
        count++;
    }
    if (r != SQLITE_DONE)
        rc = lb_sq_err(s, err, "list runs");
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        lb_run_list_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return 0;
}

void lb_run_list_free(struct lb_run_view **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lb_run_view_free(v[i]);
    free(v);
}
