/*
 * The runner: one scenario, end to end. Declare, validate, store, prove the
 * targets, ask, execute with deadlines, roll back LIFO whatever happened,
 * finish. Exit codes come from here (through the run summary).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/notify.h"
#include "lifeboat/runner.h"
#include "lifeboat/script.h"
#include "lifeboat/store.h"

#define DEFAULT_STEP_TIMEOUT_MS (30 * 60 * 1000)
#define ROLLBACK_TIMEOUT_MS (10 * 60 * 1000)

static char *plan_json(const struct lb_script *s, const struct lb_env *env, int64_t rto,
                       int64_t rpo)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *steps = cJSON_AddArrayToObject(root, "steps");
    cJSON *rbs = cJSON_AddArrayToObject(root, "rollbacks");
    cJSON *targets = cJSON_AddArrayToObject(root, "targets");
    cJSON *backups = cJSON_AddArrayToObject(root, "backups");
    char *out;

    cJSON_AddStringToObject(root, "scenario", s->id ? s->id : "");
    cJSON_AddStringToObject(root, "title", s->title ? s->title : "");
    cJSON_AddStringToObject(root, "sha256", s->sha256 ? s->sha256 : "");
    cJSON_AddNumberToObject(root, "rto_objective_ms", (double)rto);
    cJSON_AddNumberToObject(root, "rpo_objective_ms", (double)rpo);
    for (size_t i = 0; i < s->nsteps; i++) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "seq", (double)(i + 1));
        cJSON_AddStringToObject(st, "name", s->steps[i].name);
        cJSON_AddStringToObject(st, "kind", s->steps[i].kind);
        cJSON_AddBoolToObject(st, "critical", s->steps[i].critical);
        cJSON_AddNumberToObject(st, "timeout_ms", (double)s->steps[i].timeout_ms);
        cJSON_AddNumberToObject(st, "retry_attempts", s->steps[i].retry_attempts);
        cJSON_AddStringToObject(st, "declared_at", s->steps[i].declared_at);
        cJSON_AddItemToArray(steps, st);
    }
    for (size_t i = 0; i < s->nrollbacks; i++) {
        cJSON *rb = cJSON_CreateObject();
        cJSON_AddStringToObject(rb, "name", s->rollbacks[i].name);
        cJSON_AddStringToObject(rb, "declared_at", s->rollbacks[i].declared_at);
        cJSON_AddItemToArray(rbs, rb);
    }
    /* Identities, never the conninfo or the guard token. */
    for (size_t i = 0; i < s->ntargets_used; i++) {
        const struct lb_env_target *t = lb_env_target(env, s->targets_used[i]);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->targets_used[i]);
        if (t) {
            char *host = lb_pg_conninfo_get(t->conninfo, "host");
            char *port = lb_pg_conninfo_get(t->conninfo, "port");
            char *db = lb_pg_conninfo_get(t->conninfo, "dbname");
            if (strcmp(t->name, s->targets_used[i]) != 0)
                cJSON_AddStringToObject(o, "target", t->name);
            cJSON_AddStringToObject(o, "role", t->role ? t->role : "");
            if (t->region)
                cJSON_AddStringToObject(o, "region", t->region);
            if (t->system_identifier)
                cJSON_AddStringToObject(o, "system_identifier", t->system_identifier);
            if (t->cluster_name)
                cJSON_AddStringToObject(o, "cluster_name", t->cluster_name);
            if (host)
                cJSON_AddStringToObject(o, "host", host);
            if (port)
                cJSON_AddStringToObject(o, "port", port);
            if (db)
                cJSON_AddStringToObject(o, "database", db);
            free(host);
            free(port);
            free(db);
        }
        cJSON_AddItemToArray(targets, o);
    }
    for (size_t i = 0; i < s->nbackups_used; i++)
        cJSON_AddItemToArray(backups, cJSON_CreateString(s->backups_used[i]));
    out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static void plan_text(const struct lb_script *s, const struct lb_env *env, int64_t rto,
                      int64_t rpo, struct lb_buf *b)
{
    char d[32];
    lb_buf_printf(b, "Scenario %s: %s\n", s->id ? s->id : "?", s->title ? s->title : "");
    if (rto >= 0) {
        lb_duration_format(rto, d, sizeof(d));
        lb_buf_printf(b, "Objectives: RTO %s", d);
    } else {
        lb_buf_adds(b, "Objectives: RTO none");
    }
    if (rpo >= 0) {
        lb_duration_format(rpo, d, sizeof(d));
        lb_buf_printf(b, ", RPO %s\n", d);
    } else {
        lb_buf_adds(b, ", RPO none\n");
    }
    lb_buf_adds(b, "Steps:\n");
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct lb_script_step *st = &s->steps[i];
        lb_duration_format(st->timeout_ms > 0 ? st->timeout_ms : DEFAULT_STEP_TIMEOUT_MS, d,
                           sizeof(d));
        lb_buf_printf(b, "  %2zu. %-8s %s (timeout %s%s)\n", i + 1, st->kind, st->name, d,
                      st->critical ? ", critical" : "");
    }
    if (s->nrollbacks) {
        lb_buf_adds(b, "Rollbacks (run last-declared first, always):\n");
        for (size_t i = s->nrollbacks; i > 0; i--)
            lb_buf_printf(b, "  - %s\n", s->rollbacks[i - 1].name);
    }
    if (s->ntargets_used) {
        lb_buf_adds(b, "Targets:\n");
        for (size_t i = 0; i < s->ntargets_used; i++) {
            const struct lb_env_target *t = lb_env_target(env, s->targets_used[i]);
            char *redacted = t ? lb_redact_text(env->secrets, t->conninfo) : NULL;
            lb_buf_printf(b, "  %-10s %s%s role %s, pinned system_identifier %s\n",
                          s->targets_used[i], redacted ? redacted : "?", t ? "," : "",
                          t && t->role ? t->role : "?",
                          t && t->system_identifier ? t->system_identifier : "none");
            free(redacted);
        }
    }
    if (s->nbackups_used) {
        lb_buf_adds(b, "Backups:\n");
        for (size_t i = 0; i < s->nbackups_used; i++) {
            const struct lb_env_backup *bk = lb_env_backup(env, s->backups_used[i]);
            lb_buf_printf(b, "  %-14s %s %s\n", s->backups_used[i], bk ? bk->kind : "?",
                          bk && bk->path ? bk->path : "");
        }
    }
}

int lb_runner_check(const char *scenario_path, struct lb_env *env, char **errors,
                    char **plan_out, struct lb_err *err)
{
    struct lb_script_opts so = {.path = scenario_path, .env = env};
    struct lb_script *s = NULL;
    struct lb_buf b = {0};
    int rc = lb_script_load(&so, &s, err);

    *errors = NULL;
    if (plan_out)
        *plan_out = NULL;
    if (s && s->errors.len)
        *errors = lb_xstrdup(s->errors.data);
    if (rc == 0 && plan_out) {
        plan_text(s, env, s->rto_ms >= 0 ? s->rto_ms : env ? env->rto_ms : -1,
                  s->rpo_ms >= 0 ? s->rpo_ms : env ? env->rpo_ms : -1, &b);
        *plan_out = lb_buf_steal(&b);
    }
    lb_script_free(s);
    return rc;
}

/* The step's status and, when it did not pass, the outcome it forces. */
static enum lb_step_status status_for(int rc)
{
    switch (rc) {
    case 0: return LB_STEP_PASSED;
    case LB_ETIMEOUT: return LB_STEP_TIMEOUT;
    case LB_EINTR: return LB_STEP_INTERRUPTED;
    case LB_ESAFETY: return LB_STEP_REFUSED;
    default: return LB_STEP_FAILED;
    }
}

static int retryable(int rc)
{
    return rc != LB_ETIMEOUT && rc != LB_EINTR && rc != LB_ESAFETY && rc != LB_EABORT &&
           rc != LB_EHALT && rc != LB_ENOMEM;
}

/* Sleep between attempts without ignoring the deadline or Ctrl-C. */
static void retry_pause(int64_t ms, int64_t deadline)
{
    int64_t until = lb_mono_ms() + ms;
    if (deadline < until)
        until = deadline;
    while (lb_mono_ms() < until && !lb_interrupted())
        lb_sleep_ms(50);
}

/* Run one step (with its retries). Returns the rc of the last attempt. */
static int run_step(struct lb_script *s, struct lb_run *run, size_t i, struct lb_err *err)
{
    const struct lb_script_step *st = &s->steps[i];
    int rc = 0;

    for (int attempt = 1; attempt <= st->retry_attempts; attempt++) {
        char *tb = NULL;
        s->deadline_ms = lb_run_deadline(run);
        rc = lb_script_call(s, st->fnref, &tb, err);
        free(tb);
        if (rc == 0 || !retryable(rc) || attempt == st->retry_attempts)
            break;
        char line[1200];
        snprintf(line, sizeof(line), "attempt %d of %d failed: %s", attempt,
                 st->retry_attempts, err->msg);
        lb_run_log(run, line);
        retry_pause(st->retry_delay_ms, lb_run_deadline(run));
        if (lb_interrupted()) {
            rc = lb_err_set(err, LB_EINTR, "interrupted between attempts");
            break;
        }
    }
    return rc;
}

/* Every registered rollback, last first, whatever happened. */
static void run_rollbacks(struct lb_script *s, struct lb_run *run)
{
    s->in_rollback = 1;
    for (size_t i = s->nrollbacks; i > 0; i--) {
        struct lb_script_rollback *rb = &s->rollbacks[i - 1];
        struct lb_err e = {0}, ignore = {0};
        int64_t start = lb_mono_ms();
        char *tb = NULL;
        int rc;

        if (rb->id <= 0)
            continue;
        lb_run_rollback_begin(run, rb->id, rb->name, &ignore);
        s->deadline_ms = start + ROLLBACK_TIMEOUT_MS;
        lb_run_set_deadline(run, s->deadline_ms);
        rc = lb_script_call(s, rb->fnref, &tb, &e);
        free(tb);
        lb_run_rollback_end(run, rb->id, rc == 0, rc == 0 ? NULL : e.msg,
                            lb_mono_ms() - start, &ignore);
    }
    s->in_rollback = 0;
    s->deadline_ms = LB_NO_DEADLINE;
}

static int register_rollbacks(struct lb_script *s, struct lb_run *run, struct lb_err *err)
{
    for (size_t i = 0; i < s->nrollbacks; i++) {
        int id = lb_run_rollback_register(run, s->rollbacks[i].name,
                                          s->rollbacks[i].declared_at, err);
        if (id < 0)
            return id;
        s->rollbacks[i].id = id;
    }
    return 0;
}

static void skip_from(struct lb_run *run, size_t from, size_t n, const char *why)
{
    struct lb_err ignore = {0};
    for (size_t i = from; i < n; i++)
        lb_run_step_skip(run, (int)i + 1, why, &ignore);
}

/* Progress events pass through here on their way to the caller's callback:
 * a critical gap is also sent to the notification channels. */
struct notify_ctx {
    lb_event_fn on_event;
    void *event_ud;
    struct lb_notifier *notifier;   /* NULL until the drill starts */
    struct lb_run *run;
};

/* Record what failed to go out as gaps (major: they never notify in turn). */
static void record_notify_failures(struct lb_run *run, struct lb_notify_failures *f)
{
    struct lb_err ignore = {0};
    lb_notify_record_gaps(run, f, &ignore);
    lb_notify_failures_free(f);
}

static void on_run_event(const struct lb_event *ev, void *ud)
{
    struct notify_ctx *nc = ud;

    if (nc->on_event)
        nc->on_event(ev, nc->event_ud);
    if (ev->kind == LB_EV_GAP && nc->notifier && nc->run) {
        struct lb_notify_failures f = {0};
        lb_notify_gap(nc->notifier, ev->severity, ev->name, ev->text, &f);
        record_notify_failures(nc->run, &f);
    }
}

int lb_runner_run(const struct lb_runner_opts *o, struct lb_runner_result *res,
                  struct lb_err *err)
{
    struct lb_script_opts so = {.path = o->scenario_path, .env = o->env};
    struct lb_script *s = NULL;
    struct lb_run *run = NULL;
    struct lb_run_opts ro;
    struct lb_buf plan = {0}, guard = {0};
    enum lb_outcome outcome = LB_OUTCOME_COMPLETED;
    char *pj = NULL;
    struct lb_err stop = {0};
    size_t i = 0;
    int rc, exit_code = LB_EXIT_USAGE;
    struct notify_ctx nc = {o->on_event, o->event_ud, NULL, NULL};
    int notify = !o->dry_run && o->env && o->env->notify && lb_notify_config_any(o->env->notify);

    memset(res, 0, sizeof(*res));
    rc = lb_script_load(&so, &s, err);
    if (s && s->errors.len)
        res->errors = lb_xstrdup(s->errors.data);
    if (rc < 0)
        goto out;
    if (!o->env) {
        rc = lb_err_set(err, LB_EINVAL, "no environment: a drill needs --env FILE");
        goto out;
    }
    res->rto_objective_ms = s->rto_ms >= 0 ? s->rto_ms : o->env->rto_ms;
    res->rpo_objective_ms = s->rpo_ms >= 0 ? s->rpo_ms : o->env->rpo_ms;
    plan_text(s, o->env, res->rto_objective_ms, res->rpo_objective_ms, &plan);
    pj = plan_json(s, o->env, res->rto_objective_ms, res->rpo_objective_ms);

    memset(&ro, 0, sizeof(ro));
    ro.store = o->store;
    ro.env = o->env;
    ro.secrets = o->env->secrets;
    ro.scenario_id = s->id;
    ro.scenario_title = s->title;
    ro.scenario_file = s->path;
    ro.dry_run = o->dry_run;
    ro.rto_objective_ms = res->rto_objective_ms;
    ro.rpo_objective_ms = res->rpo_objective_ms;
    ro.plan_json = pj;
    ro.on_event = on_run_event;
    ro.event_ud = &nc;
    rc = lb_run_new(&ro, &run, err);
    if (rc < 0)
        goto out;
    nc.run = run;
    snprintf(res->run_id, sizeof(res->run_id), "%s", lb_run_id(run));
    s->run = run;
    s->parallel = o->parallel;

    int64_t default_timeout = o->step_default_timeout_ms > 0 ? o->step_default_timeout_ms
                                                             : DEFAULT_STEP_TIMEOUT_MS;
    for (i = 0; i < s->nsteps; i++) {
        const struct lb_script_step *st = &s->steps[i];
        rc = lb_run_plan_step(run, st->name, st->kind, st->critical,
                              st->timeout_ms > 0 ? st->timeout_ms : default_timeout,
                              st->declared_at, err);
        if (rc < 0)
            goto finish_error;
    }

    /* A halted store blocks new drills before anything is touched. */
    {
        int halted = 0;
        char *reason = NULL;
        rc = lb_store_halt_get(o->store, &halted, &reason, err);
        if (rc < 0)
            goto finish_error;
        if (halted && !o->dry_run) {
            lb_err_set(&stop, LB_EHALT, "drills are halted (%s); `lifeboat halt --release` "
                       "lifts it", reason ? reason : "lifeboat halt");
            free(reason);
            skip_from(run, 0, s->nsteps, "drills are halted");
            outcome = LB_OUTCOME_ABORTED;
            goto finish;
        }
        free(reason);
    }

    /* Prove every target before anything else, dry run included. */
    rc = lb_script_guard_all(s, &guard, &stop);
    if (guard.len) {
        lb_buf_adds(&plan, "Resolved targets:\n");
        lb_buf_adds(&plan, guard.data);
    }
    if (rc < 0) {
        struct lb_err ignore = {0};
        lb_run_gap(run, "critical", "safety", stop.msg,
                   "the safety guard refused before the first step; nothing was touched",
                   &ignore);
        skip_from(run, 0, s->nsteps, "refused by the safety guard");
        outcome = rc == LB_EINTR ? LB_OUTCOME_INTERRUPTED : LB_OUTCOME_REFUSED;
        goto finish;
    }
    if (o->dry_run) {
        skip_from(run, 0, s->nsteps, "dry run");
        outcome = LB_OUTCOME_PLANNED;
        goto finish;
    }
    if (o->confirm && !o->confirm(plan.data, o->confirm_ud)) {
        lb_err_set(&stop, LB_EABORT, "the operator declined to start the drill");
        skip_from(run, 0, s->nsteps, "declined by the operator");
        outcome = LB_OUTCOME_ABORTED;
        goto finish;
    }
    if (notify) {
        struct lb_notify_drill d = {lb_run_id(run), s->id, s->title, o->env->name,
                                    res->rto_objective_ms, res->rpo_objective_ms};
        struct lb_notify_failures f = {0};
        nc.notifier = lb_notifier_new(o->env->notify, &d, o->env->secrets);
        lb_notify_drill_start(nc.notifier, &f);
        record_notify_failures(run, &f);
    }
    /* Register, then inject: every undo is in the store before any fault. */
    rc = register_rollbacks(s, run, err);
    if (rc < 0)
        goto finish_error;

    s->executing = 1;
    for (i = 0; i < s->nsteps; i++) {
        const struct lb_script_step *st = &s->steps[i];
        rc = lb_run_step_begin(run, (int)i + 1, &stop);
        if (rc < 0) {
            outcome = rc == LB_EINTR ? LB_OUTCOME_INTERRUPTED
                      : rc == LB_EHALT ? LB_OUTCOME_ABORTED
                                       : LB_OUTCOME_FAILED;
            break;
        }
        struct lb_err se = {0};
        rc = run_step(s, run, i, &se);
        enum lb_step_status status = status_for(rc);
        struct lb_err ignore = {0};
        lb_run_step_end(run, status, rc ? se.msg : NULL, &ignore);
        if (rc == 0)
            continue;
        stop = se;
        if (rc == LB_ESAFETY) {
            lb_run_gap(run, "critical", "safety", se.msg,
                       "the safety guard refused a destructive action; the drill stopped",
                       &ignore);
            outcome = LB_OUTCOME_REFUSED;
        } else if (rc == LB_EABORT) {
            lb_run_gap(run, "critical", "safety", se.msg,
                       "a blast-radius limit stopped the drill", &ignore);
            outcome = LB_OUTCOME_ABORTED;
        } else if (rc == LB_EINTR) {
            outcome = LB_OUTCOME_INTERRUPTED;
        } else if (st->critical) {
            outcome = LB_OUTCOME_FAILED;
        } else {
            continue;
        }
        i++;
        break;
    }
    if (i < s->nsteps)
        skip_from(run, i, s->nsteps,
                  outcome == LB_OUTCOME_INTERRUPTED ? "interrupted" : "not reached");
    if (outcome == LB_OUTCOME_INTERRUPTED || lb_interrupted()) {
        outcome = LB_OUTCOME_INTERRUPTED;
        if (!stop.msg[0])
            lb_err_set(&stop, LB_EINTR, "interrupted");
        lb_interrupt_acknowledge();
    }
    run_rollbacks(s, run);
    if (lb_interrupted())
        outcome = LB_OUTCOME_INTERRUPTED;
    s->executing = 0;

finish:
    lb_script_close_handles(s);
    if (stop.msg[0])
        res->error = lb_redact_text(o->env->secrets, stop.msg);
    rc = lb_run_finish(run, outcome, stop.msg[0] ? stop.msg : NULL, &res->summary, err);
    if (rc < 0)
        goto out;
    if (notify) {
        /* after the verdict: these gaps are stored but cannot change it */
        struct lb_notify_failures f = {0};
        struct lb_notifier *nt = nc.notifier;
        char *report = o->report_dir ? lb_xasprintf("%s/%s.%s", o->report_dir, lb_run_id(run),
                                                    o->report_ext ? o->report_ext : "md")
                                     : NULL;
        nc.notifier = NULL;   /* no gap notifications after the end */
        if (nt) {
            lb_notify_drill_end(nt, &res->summary, report, &f);   /* only after a start */
        } else {
            struct lb_notify_drill d = {lb_run_id(run), s->id, s->title, o->env->name,
                                        res->rto_objective_ms, res->rpo_objective_ms};
            nt = lb_notifier_new(o->env->notify, &d, o->env->secrets);
        }
        lb_notify_push_metrics(nt, &res->summary, &f);
        record_notify_failures(run, &f);
        lb_notifier_free(nt);
        free(report);
    }
    exit_code = res->summary.exit_code;
    rc = 0;
    goto out;

finish_error:
    {
        struct lb_err ignore = {0};
        lb_run_finish(run, LB_OUTCOME_FAILED, err->msg, &res->summary, &ignore);
    }
out:
    if (rc < 0)
        exit_code = rc == LB_EINVAL ? LB_EXIT_USAGE : rc == LB_ESAFETY ? LB_EXIT_SAFETY
                                                                       : LB_EXIT_GAPS;
    res->plan_text = plan.len ? lb_buf_steal(&plan) : NULL;
    lb_buf_free(&plan);
    lb_buf_free(&guard);
    cJSON_free(pj);
    lb_notifier_free(nc.notifier);
    lb_run_free(run);
    lb_script_free(s);
    return exit_code;
}

void lb_runner_result_free(struct lb_runner_result *res)
{
    free(res->plan_text);
    free(res->errors);
    free(res->error);
    res->plan_text = res->errors = res->error = NULL;
}
