/*
 * Sealed schedules: the plans `lifeboat schedule` makes and the drills
 * `lifeboat due` claims. The claim is one BEGIN IMMEDIATE transaction, so
 * two `due` processes started at the same instant cannot both take a drill.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char *const finish_states[] = {"ran", "missed", "failed", NULL};

#define PLAN_COLUMNS                                                          \
    "id, label, commitment, canonical, status, created_by, revealed_by,"     \
    " created_at, period_end, superseded_at, revealed_at, drill_count"

static void read_plan(sqlite3_stmt *st, struct lb_sched_view *v)
{
    v->id = lb_sq_col_str(st, 0);
    v->label = lb_sq_col_str(st, 1);
    v->commitment = lb_sq_col_str(st, 2);
    v->canonical = lb_sq_col_str(st, 3);
    v->status = lb_sq_col_str(st, 4);
    v->created_by = lb_sq_col_str(st, 5);
    v->revealed_by = lb_sq_col_str(st, 6);
    v->created_at = lb_sq_col_i64(st, 7);
    v->period_end = lb_sq_col_i64(st, 8);
    v->superseded_at = lb_sq_col_i64(st, 9);
    v->revealed_at = lb_sq_col_i64(st, 10);
    v->count = lb_sq_col_int(st, 11);
}

static void drill_view_free(struct lb_sched_drill_view *d)
{
    free(d->scenario_id);
    free(d->scenario_file);
    free(d->scenario_sha256);
    free(d->state);
    free(d->claimed_host);
    free(d->run_id);
}

void lb_sched_view_free(struct lb_sched_view *v)
{
    if (v == NULL)
        return;
    free(v->id);
    free(v->label);
    free(v->commitment);
    free(v->canonical);
    free(v->status);
    free(v->created_by);
    free(v->revealed_by);
    for (size_t i = 0; i < v->ndrills; i++)
        drill_view_free(&v->drills[i]);
    free(v->drills);
    free(v);
}

void lb_sched_list_free(struct lb_sched_view **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lb_sched_view_free(v[i]);
    free(v);
}

void lb_sched_claim_free(struct lb_sched_claim *c)
{
    if (c == NULL)
        return;
    free(c->scenario_id);
    free(c->scenario_file);
    free(c->scenario_sha256);
    c->scenario_id = c->scenario_file = c->scenario_sha256 = NULL;
}

int lb_store_sched_add(struct lb_store *s, const struct lb_sched_plan_info *plan,
                       const struct lb_sched_drill_info *drills, size_t n, int replace,
                       struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    char *old = NULL;
    int rc, r;

    if (plan->id == NULL || plan->id[0] == '\0' || plan->label == NULL ||
        plan->commitment == NULL || plan->canonical == NULL)
        return lb_err_set(err, LB_EINVAL, "store: a plan needs an id, a label, a commitment "
                                          "and its text");
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_prepare(s, "SELECT id FROM schedule_plans WHERE label = ? AND status = 'active'"
                          " ORDER BY created_at DESC LIMIT 1", &st, err, "find plan");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, plan->label, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        old = lb_sq_col_str(st, 0);
    } else if (r != SQLITE_DONE) {
        rc = lb_sq_err(s, err, "find plan");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (old != NULL && !replace) {
        rc = lb_err_set(err, LB_EINVAL, "store: %s already has an active plan (%s): "
                        "--replace supersedes it, in the open", plan->label, old);
        goto out;
    }
    if (old != NULL) {
        rc = lb_sq_exec(s, NULL, err, "supersede plan",
                        "UPDATE schedule_plans SET status = 'superseded', superseded_at = ?"
                        " WHERE id = ?", "ls", (int64_t)plan->created_at, old);
        if (rc == 0)
            rc = lb_sq_exec(s, NULL, err, "cancel drills",
                            "UPDATE schedule_drills SET state = 'cancelled', finished_at = ?"
                            " WHERE plan_id = ? AND state = 'pending'",
                            "ls", (int64_t)plan->created_at, old);
        if (rc != 0)
            goto out;
    }
    rc = lb_sq_exec(s, NULL, err, "store plan",
                    "INSERT INTO schedule_plans (id, label, commitment, canonical,"
                    " drill_count, period_end, status, created_at, created_by)"
                    " VALUES (?,?,?,?,?,?,'active',?,?)",
                    "ssssills", plan->id, plan->label, plan->commitment, plan->canonical,
                    plan->count, (int64_t)plan->period_end, (int64_t)plan->created_at,
                    plan->created_by);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = lb_sq_exec(s, NULL, err, "store drill",
                        "INSERT INTO schedule_drills (plan_id, seq, due_at, scenario_id,"
                        " scenario_file, scenario_sha256, state)"
                        " VALUES (?,?,?,?,?,?,'pending')",
                        "silsss", plan->id, drills[i].seq, (int64_t)drills[i].due_at,
                        drills[i].scenario_id, drills[i].scenario_file,
                        drills[i].scenario_sha256);
    if (rc != 0)
        goto out;
    rc = lb_sq_commit(s, err);
out:
    sqlite3_finalize(st);
    free(old);
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

/* The id of the plan `which` names (see lb_store_sched_load). */
static int resolve_plan(struct lb_store *s, const char *which, char **out, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int latest = which == NULL || strcmp(which, "latest") == 0;
    int rc, r, n = 0;

    *out = NULL;
    if (latest) {
        rc = lb_sq_prepare(s, "SELECT id, 0 FROM schedule_plans WHERE status = 'active'"
                              " ORDER BY created_at DESC, rowid DESC LIMIT 1",
                           &st, err, "find plan");
    } else {
        /* An exact id first, then the ids it is a prefix of. */
        rc = lb_sq_prepare(s, "SELECT id, 0 FROM schedule_plans WHERE id = ?1"
                              " UNION ALL SELECT id, 1 FROM schedule_plans"
                              "  WHERE substr(id, 1, length(?1)) = ?1 AND id <> ?1"
                              " ORDER BY 2",
                           &st, err, "find plan");
        if (rc == 0)
            sqlite3_bind_text(st, 1, which, -1, SQLITE_TRANSIENT);
    }
    if (rc != 0)
        goto out;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0)
            *out = lb_sq_col_str(st, 0);
        if (sqlite3_column_int(st, 1) == 0)
            break;   /* the newest active plan, or an exact id */
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        rc = lb_sq_err(s, err, "find plan");
        goto out;
    }
    if (n > 1) {
        rc = lb_err_set(err, LB_EINVAL, "store: plan id '%s' is ambiguous: %d plans match",
                        which, n);
        goto out;
    }
    if (n == 1)
        goto out;
    if (!latest) {
        /* Not an id: a label, its newest plan (an active one first). */
        sqlite3_finalize(st);
        st = NULL;
        rc = lb_sq_prepare(s, "SELECT id FROM schedule_plans WHERE label = ?"
                              " ORDER BY status = 'active' DESC, created_at DESC, rowid DESC"
                              " LIMIT 1", &st, err, "find plan");
        if (rc != 0)
            goto out;
        sqlite3_bind_text(st, 1, which, -1, SQLITE_TRANSIENT);
        r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *out = lb_sq_col_str(st, 0);
            goto out;
        }
        if (r != SQLITE_DONE) {
            rc = lb_sq_err(s, err, "find plan");
            goto out;
        }
    }
    rc = latest ? lb_err_set(err, LB_ENOTFOUND, "store: no active schedule in %s", s->path)
                : lb_err_set(err, LB_ENOTFOUND, "store: no schedule matches '%s'", which);
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int lb_store_sched_load(struct lb_store *s, const char *which, struct lb_sched_view **out,
                        struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct lb_sched_view *v = NULL;
    char *id = NULL;
    int rc, r;

    *out = NULL;
    rc = resolve_plan(s, which, &id, err);
    if (rc != 0)
        return rc;
    v = lb_xcalloc(1, sizeof *v);
    rc = lb_sq_prepare(s, "SELECT " PLAN_COLUMNS " FROM schedule_plans WHERE id = ?", &st,
                       err, "load plan");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = lb_sq_err(s, err, "load plan");
        goto out;
    }
    read_plan(st, v);
    sqlite3_finalize(st);
    st = NULL;
    rc = lb_sq_prepare(s, "SELECT seq, due_at, scenario_id, scenario_file, scenario_sha256,"
                          " state, claimed_host, run_id, claimed_pid, claimed_at, finished_at,"
                          " exit_code FROM schedule_drills WHERE plan_id = ? ORDER BY seq",
                       &st, err, "load drills");
    if (rc != 0)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct lb_sched_drill_view *d;
        v->drills = lb_xrealloc(v->drills, (v->ndrills + 1) * sizeof *v->drills);
        d = &v->drills[v->ndrills++];
        d->seq = sqlite3_column_int(st, 0);
        d->due_at = lb_sq_col_i64(st, 1);
        d->scenario_id = lb_sq_col_str(st, 2);
        d->scenario_file = lb_sq_col_str(st, 3);
        d->scenario_sha256 = lb_sq_col_str(st, 4);
        d->state = lb_sq_col_str(st, 5);
        d->claimed_host = lb_sq_col_str(st, 6);
        d->run_id = lb_sq_col_str(st, 7);
        d->claimed_pid = (long long)lb_sq_col_i64(st, 8);
        d->claimed_at = lb_sq_col_i64(st, 9);
        d->finished_at = lb_sq_col_i64(st, 10);
        d->exit_code = lb_sq_col_int(st, 11);
    }
    if (r != SQLITE_DONE)
        rc = lb_sq_err(s, err, "load drills");
out:
    sqlite3_finalize(st);
    free(id);
    if (rc != 0) {
        lb_sched_view_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int lb_store_sched_list(struct lb_store *s, struct lb_sched_view ***out, size_t *n,
                        struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct lb_sched_view **v = NULL;
    size_t count = 0;
    int rc, r;

    *out = NULL;
    *n = 0;
    rc = lb_sq_prepare(s, "SELECT " PLAN_COLUMNS " FROM schedule_plans"
                          " ORDER BY created_at DESC, rowid DESC", &st, err, "list plans");
    if (rc != 0)
        return rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        v = lb_xrealloc(v, (count + 1) * sizeof *v);
        v[count] = lb_xcalloc(1, sizeof **v);
        read_plan(st, v[count]);
        count++;
    }
    if (r != SQLITE_DONE)
        rc = lb_sq_err(s, err, "list plans");
    sqlite3_finalize(st);
    if (rc != 0) {
        lb_sched_list_free(v, count);
        return rc;
    }
    *out = v;
    *n = count;
    return 0;
}

int lb_store_sched_revealed(struct lb_store *s, const char *plan_id, const char *by,
                            int64_t at, struct lb_err *err)
{
    int changes = 0;
    int rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    /* The first reveal is the one that matters: it ends the surprise. */
    rc = lb_sq_exec(s, &changes, err, "record reveal",
                    "UPDATE schedule_plans SET revealed_at = coalesce(revealed_at, ?),"
                    " revealed_by = coalesce(revealed_by, ?) WHERE id = ?",
                    "lss", (int64_t)at, by, plan_id);
    if (rc == 0 && changes == 0)
        rc = lb_err_set(err, LB_ENOTFOUND, "store: no plan %s", plan_id);
    if (rc == 0)
        rc = lb_sq_commit(s, err);
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

/* A claim that is still recorded as running, and whether its holder lives. */
struct held {
    char *plan_id;
    int seq;
    long long pid, start_time;
    char *host;
    int64_t claimed_at;
};

/* Close the claims of dead processes; report a live one in *busy. */
static int reap_claims(struct lb_store *s, int64_t now, struct lb_sched_claim *out,
                       struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    struct held *h = NULL;
    size_t n = 0;
    int rc, r;

    rc = lb_sq_prepare(s, "SELECT plan_id, seq, claimed_pid, claimed_host,"
                          " claimed_start_time, claimed_at FROM schedule_drills"
                          " WHERE state = 'claimed' ORDER BY claimed_at",
                       &st, err, "read claims");
    if (rc != 0)
        return rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        h = lb_xrealloc(h, (n + 1) * sizeof *h);
        h[n].plan_id = lb_sq_col_str(st, 0);
        h[n].seq = sqlite3_column_int(st, 1);
        h[n].pid = (long long)lb_sq_col_i64(st, 2);
        h[n].host = lb_sq_col_str(st, 3);
        h[n].start_time = (long long)lb_sq_col_i64(st, 4);
        h[n].claimed_at = lb_sq_col_i64(st, 5);
        n++;
    }
    if (r != SQLITE_DONE)
        rc = lb_sq_err(s, err, "read claims");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (lb_store_writer_alive(h[i].host, h[i].pid, h[i].start_time)) {
            if (out->kind != LB_SCHED_BUSY) {
                out->kind = LB_SCHED_BUSY;
                snprintf(out->plan_id, sizeof out->plan_id, "%s", h[i].plan_id);
                out->seq = h[i].seq;
                out->busy_pid = h[i].pid;
                snprintf(out->busy_host, sizeof out->busy_host, "%s",
                         h[i].host ? h[i].host : "?");
            }
            continue;
        }
        /* The run that process began, if it got that far: lb_store_open has
         * already closed it as interrupted. */
        rc = lb_sq_exec(s, NULL, err, "close dead claim",
                        "UPDATE schedule_drills SET state = 'interrupted', finished_at = ?,"
                        " run_id = (SELECT id FROM runs WHERE writer_pid = ? AND"
                        "  writer_host IS ? AND started_at >= ? ORDER BY started_at LIMIT 1)"
                        " WHERE plan_id = ? AND seq = ? AND state = 'claimed'",
                        "llslsi", (int64_t)now, (int64_t)h[i].pid, h[i].host,
                        (int64_t)h[i].claimed_at, h[i].plan_id, h[i].seq);
        if (rc == 0)
            out->reaped++;
    }
    for (size_t i = 0; i < n; i++) {
        free(h[i].plan_id);
        free(h[i].host);
    }
    free(h);
    return rc;
}

/* Inside the claim's transaction: take the earliest due pending drill. */
static int claim_next(struct lb_store *s, int64_t now, int64_t grace_ms,
                      struct lb_sched_claim *out, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    char host[256];
    long long pid = 0, start_time = -1;
    int rc, r, missed;

    lb_store_self_writer(&pid, host, sizeof host, &start_time);
    rc = lb_sq_prepare(s, "SELECT d.plan_id, d.seq, d.due_at, d.scenario_id, d.scenario_file,"
                          " d.scenario_sha256, p.label, p.drill_count"
                          " FROM schedule_drills d JOIN schedule_plans p ON p.id = d.plan_id"
                          " WHERE p.status = 'active' AND d.state = 'pending' AND d.due_at <= ?"
                          " ORDER BY d.due_at, d.plan_id, d.seq LIMIT 1",
                       &st, err, "find due drill");
    if (rc != 0)
        goto out;
    sqlite3_bind_int64(st, 1, now);
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        if (r != SQLITE_DONE)
            rc = lb_sq_err(s, err, "find due drill");
        goto out;
    }
    snprintf(out->plan_id, sizeof out->plan_id, "%s", (const char *)sqlite3_column_text(st, 0));
    out->seq = sqlite3_column_int(st, 1);
    out->due_at = sqlite3_column_int64(st, 2);
    out->scenario_id = lb_sq_col_str(st, 3);
    out->scenario_file = lb_sq_col_str(st, 4);
    out->scenario_sha256 = lb_sq_col_str(st, 5);
    snprintf(out->label, sizeof out->label, "%s", (const char *)sqlite3_column_text(st, 6));
    out->count = sqlite3_column_int(st, 7);
    missed = grace_ms >= 0 && now - out->due_at > grace_ms;
    rc = lb_sq_exec(s, NULL, err, "claim drill",
                    "UPDATE schedule_drills SET state = ?, claimed_at = ?, claimed_pid = ?,"
                    " claimed_host = ?, claimed_start_time = ?, finished_at = ?"
                    " WHERE plan_id = ? AND seq = ? AND state = 'pending'",
                    "sllsoosi", missed ? "missed" : "claimed", (int64_t)now, (int64_t)pid,
                    host, (int64_t)start_time, missed ? (int64_t)now : (int64_t)-1,
                    out->plan_id, out->seq);
    if (rc == 0)
        out->kind = missed ? LB_SCHED_MISSED : LB_SCHED_RUN;
out:
    sqlite3_finalize(st);
    return rc;
}

int lb_store_sched_claim(struct lb_store *s, int64_t now, int64_t grace_ms,
                         struct lb_sched_claim *out, struct lb_err *err)
{
    int rc;

    memset(out, 0, sizeof *out);
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = reap_claims(s, now, out, err);
    if (rc == 0 && out->kind != LB_SCHED_BUSY)
        rc = claim_next(s, now, grace_ms, out, err);
    if (rc == 0)
        rc = lb_sq_commit(s, err);
    if (rc != 0) {
        lb_sq_rollback(s);
        lb_sched_claim_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int lb_store_sched_finish(struct lb_store *s, const char *plan_id, int seq,
                          const char *state, const char *run_id, int exit_code,
                          int64_t finished_at, struct lb_err *err)
{
    int changes = 0, rc;
    const char *const *w;

    for (w = finish_states; *w && strcmp(*w, state ? state : "") != 0; w++)
        ;
    if (*w == NULL)
        return lb_err_set(err, LB_EINVAL, "store: drill state '%s' is not one of: ran, "
                                          "missed, failed", state ? state : "(null)");
    rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = lb_sq_exec(s, &changes, err, "finish drill",
                    "UPDATE schedule_drills SET state = ?, run_id = ?, exit_code = ?,"
                    " finished_at = ? WHERE plan_id = ? AND seq = ?"
                    " AND state IN ('claimed', 'missed')",
                    "ssolsi", state, run_id, (int64_t)exit_code, (int64_t)finished_at,
                    plan_id, seq);
    if (rc == 0 && changes == 0)
        rc = lb_err_set(err, LB_ENOTFOUND, "store: drill %d of plan %s is not claimed", seq,
                        plan_id);
    if (rc == 0)
        rc = lb_sq_commit(s, err);
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

int lb_store_sched_due_count(struct lb_store *s, int64_t now, int *n, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = lb_sq_prepare(s, "SELECT count(*) FROM schedule_drills d"
                              " JOIN schedule_plans p ON p.id = d.plan_id"
                              " WHERE p.status = 'active' AND d.state = 'pending'"
                              " AND d.due_at <= ?", &st, err, "count due drills");
    *n = 0;
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int(st, 0);
    else
        rc = lb_sq_err(s, err, "count due drills");
    sqlite3_finalize(st);
    return rc;
}
