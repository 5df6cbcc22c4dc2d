/*
 * Acknowledgements of manual steps: manual() opens a wait for (run, step)
 * and polls it; `lifeboat ack` closes it from another shell. Both sides go
 * through BEGIN IMMEDIATE and a conditional UPDATE (state = 'waiting'), so
 * an ack and a timeout racing each other cannot both win.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char *const end_states[] = {"acknowledged", "timeout", "interrupted", "halted",
                                         NULL};

#define ACK_COLUMNS                                                              \
    "a.id, a.run_id, a.step_seq, s.name, a.prompt, a.state, a.acked_by,"        \
    " a.acked_via, a.acked_host, a.started_at, a.deadline_at, a.ended_at"
#define ACK_FROM                                                                 \
    " FROM acks a LEFT JOIN steps s ON s.run_id = a.run_id AND s.seq = a.step_seq"

void lb_ack_view_clear(struct lb_ack_view *v)
{
    if (v == NULL)
        return;
    free(v->run_id);
    free(v->step_name);
    free(v->prompt);
    free(v->state);
    free(v->acked_by);
    free(v->acked_via);
    free(v->acked_host);
    memset(v, 0, sizeof *v);
}

static void read_ack(sqlite3_stmt *st, struct lb_ack_view *v)
{
    v->id = sqlite3_column_int64(st, 0);
    v->run_id = lb_sq_col_str(st, 1);
    v->step_seq = sqlite3_column_int(st, 2);
    v->step_name = lb_sq_col_str(st, 3);
    v->prompt = lb_sq_col_str(st, 4);
    v->state = lb_sq_col_str(st, 5);
    v->acked_by = lb_sq_col_str(st, 6);
    v->acked_via = lb_sq_col_str(st, 7);
    v->acked_host = lb_sq_col_str(st, 8);
    v->started_at = lb_sq_col_i64(st, 9);
    v->deadline_at = lb_sq_col_i64(st, 10);
    v->ended_at = lb_sq_col_i64(st, 11);
}

int lb_store_ack_wait_begin(struct lb_store *s, const char *run_id, int step_seq,
                            const char *prompt, int64_t started_at, int64_t deadline_at,
                            int64_t *id, struct lb_err *err)
{
    int rc;

    *id = -1;
    if (prompt == NULL || prompt[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "store: a manual step needs a prompt");
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_exec(s, NULL, err, "open manual wait",
                    "INSERT INTO acks (run_id, step_seq, prompt, state, started_at,"
                    " deadline_at) VALUES (?,?,?,'waiting',?,?)",
                    "sislo", run_id, step_seq, prompt, (int64_t)started_at,
                    (int64_t)deadline_at);
    if (rc == LB_EINVAL)
        lb_err_set(err, LB_EINVAL, "store: run %s already waits for an acknowledgement",
                   run_id);
    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(s->db);
        rc = lb_sq_commit(s, err);
    }
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

int lb_store_ack_wait_get(struct lb_store *s, int64_t id, struct lb_ack_view *out,
                          struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, r;

    lb_ack_view_clear(out);
    rc = lb_sq_prepare(s, "SELECT " ACK_COLUMNS ACK_FROM " WHERE a.id = ?", &st, err,
                       "read manual wait");
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_ack(st, out);
    else if (r == SQLITE_DONE)
        rc = lb_err_set(err, LB_ENOTFOUND, "store: no manual wait %lld", (long long)id);
    else
        rc = lb_sq_err(s, err, "read manual wait");
    sqlite3_finalize(st);
    return rc;
}

int lb_store_ack_wait_end(struct lb_store *s, int64_t id, const char *state,
                          const char *by, const char *via, const char *host, int64_t at,
                          int *changed, struct lb_err *err)
{
    const char *const *w;
    int rc;

    *changed = 0;
    for (w = end_states; *w && strcmp(*w, state ? state : "") != 0; w++)
        ;
    if (*w == NULL)
        return lb_err_set(err, LB_EINVAL, "store: manual wait state '%s' is not one of: "
                          "acknowledged, timeout, interrupted, halted",
                          state ? state : "(null)");
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_exec(s, changed, err, "close manual wait",
                    "UPDATE acks SET state = ?, ended_at = ?, acked_by = ?, acked_via = ?,"
                    " acked_host = ? WHERE id = ? AND state = 'waiting'",
                    "slsssl", state, (int64_t)at, by, via, host, (int64_t)id);
    if (rc == 0)
        rc = lb_sq_commit(s, err);
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

/* The step seq `step` names in a run: a number, or a step's name. */
static int step_seq_of(struct lb_store *s, const char *run_id, const char *step, int *seq,
                       struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t v;
    int rc, r;

    if (lb_parse_int64(step, &v) == 0) {
        if (v < 0 || v > 1000000)
            return lb_err_set(err, LB_EINVAL, "bad step number %s", step);
        *seq = (int)v;
        return 0;
    }
    rc = lb_sq_prepare(s, "SELECT seq FROM steps WHERE run_id = ? AND name = ?", &st, err,
                       "find step");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, step, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *seq = sqlite3_column_int(st, 0);
    else if (r == SQLITE_DONE)
        rc = lb_err_set(err, LB_ENOTFOUND, "run %s has no step named '%s'", run_id, step);
    else
        rc = lb_sq_err(s, err, "find step");
    sqlite3_finalize(st);
    return rc;
}

int lb_store_ack(struct lb_store *s, const char *run, const char *step, const char *by,
                 const char *via, const char *host, int64_t at, struct lb_ack_view *out,
                 struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    char *run_id = NULL, *status = NULL;
    int seq = -1, rc, r, changes = 0;

    lb_ack_view_clear(out);
    rc = lb_sq_resolve_run(s, run, &run_id, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        goto out;
    rc = lb_sq_prepare(s, "SELECT status FROM runs WHERE id = ?", &st, err, "read run");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = lb_sq_err(s, err, "read run");
        goto out;
    }
    status = lb_sq_col_str(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (status == NULL || strcmp(status, "running") != 0) {
        rc = lb_err_set(err, LB_ESTATE, "run %s is not running (%s): nothing waits for an "
                        "acknowledgement", run_id, status ? status : "no status");
        goto out;
    }
    if (step != NULL) {
        rc = step_seq_of(s, run_id, step, &seq, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_sq_prepare(s, "SELECT " ACK_COLUMNS ACK_FROM
                          " WHERE a.run_id = ? AND a.state = 'waiting'",
                       &st, err, "find manual wait");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_ack(st, out);
    } else if (r != SQLITE_DONE) {
        rc = lb_sq_err(s, err, "find manual wait");
        goto out;
    }
    if (out->id == 0) {
        rc = seq >= 0 ? lb_err_set(err, LB_ENOTFOUND, "nothing waits for an acknowledgement "
                                   "in run %s at step %s", run_id, step)
                      : lb_err_set(err, LB_ENOTFOUND, "nothing waits for an acknowledgement "
                                   "in run %s", run_id);
        goto out;
    }
    if (seq >= 0 && out->step_seq != seq) {
        rc = lb_err_set(err, LB_ENOTFOUND, "nothing waits for an acknowledgement in run %s "
                        "at step %s (step %d '%s' does: \"%s\")", run_id, step,
                        out->step_seq, out->step_name ? out->step_name : "-", out->prompt);
        goto out;
    }
    if (out->deadline_at >= 0 && at > out->deadline_at) {
        rc = lb_err_set(err, LB_ESTATE, "too late: the wait of run %s step %d passed its "
                        "deadline; it is recorded as a timeout", run_id, out->step_seq);
        goto out;
    }
    rc = lb_sq_exec(s, &changes, err, "acknowledge",
                    "UPDATE acks SET state = 'acknowledged', ended_at = ?, acked_by = ?,"
                    " acked_via = ?, acked_host = ? WHERE id = ? AND state = 'waiting'",
                    "lsssl", (int64_t)at, by, via, host, (int64_t)out->id);
    if (rc != 0)
        goto out;
    rc = lb_sq_commit(s, err);
    if (rc == 0) {
        free(out->state);
        out->state = lb_xstrdup("acknowledged");
        free(out->acked_by);
        out->acked_by = lb_xstrdup(by);
        free(out->acked_via);
        out->acked_via = lb_xstrdup(via);
        out->ended_at = at;
    }
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        lb_sq_rollback(s);
        lb_ack_view_clear(out);
    }
    free(run_id);
    free(status);
    return rc;
}
