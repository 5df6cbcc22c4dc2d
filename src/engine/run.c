/*
 * A run: the drill's record as it happens. Every event is redacted and
 * written to the store at once, in its own transaction, so the store tells
 * the truth even if lifeboat dies mid-step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include "lifeboat/engine.h"
#include "lifeboat/store.h"

#define OUTPUT_TAIL_MAX (16 * 1024)

struct run_step {
    char *name;
    char *kind;
    int critical;
    int64_t timeout_ms;
    enum lb_step_status status;
    int64_t started_at, ended_at;   /* wall ms, -1 if not yet */
    int64_t start_mono, duration_ms;
};

struct lb_run {
    struct lb_store *store;
    const struct lb_env *env;
    struct lb_secrets *secrets;
    char id[64];
    int dry_run;
    int64_t rto_objective_ms, rpo_objective_ms;
    lb_event_fn on_event;
    void *event_ud;

    struct run_step *steps;
    int nsteps, capsteps;
    int cur;                        /* index of the running step, -1 if none */
    int64_t deadline_ms;
    struct lb_buf output;

    int64_t incident_explicit, detected_explicit, recovered_explicit;
    int64_t incident_auto;

    char *rpo_method;
    int64_t rpo_newest_ms;

    int gaps_critical, gaps_major, gaps_minor;
    int next_rollback_id, rollbacks_failed;
    int finished;
};

const char *lb_step_status_name(enum lb_step_status s)
{
    switch (s) {
    case LB_STEP_PENDING: return "pending";
    case LB_STEP_RUNNING: return "running";
    case LB_STEP_PASSED: return "passed";
    case LB_STEP_FAILED: return "failed";
    case LB_STEP_TIMEOUT: return "timeout";
    case LB_STEP_SKIPPED: return "skipped";
    case LB_STEP_INTERRUPTED: return "interrupted";
    case LB_STEP_REFUSED: return "refused";
    }
    return "unknown";
}

/* The step a record belongs to: -1 for the run as a whole. */
static int step_ref(const struct lb_run *r)
{
    return r->cur >= 0 ? r->cur + 1 : -1;
}

static void emit(struct lb_run *r, const struct lb_event *ev)
{
    if (r->on_event)
        r->on_event(ev, r->event_ud);
}

/* Redacted copy (NULL stays NULL). Caller frees. */
static char *clean(const struct lb_run *r, const char *text)
{
    return text ? lb_redact_text(r->secrets, text) : NULL;
}

int lb_run_new(const struct lb_run_opts *o, struct lb_run **out, struct lb_err *err)
{
    struct lb_run *r = lb_xcalloc(1, sizeof(*r));
    struct lb_run_info info;
    char host[256] = "";
    const char *user = getenv("SUDO_USER");
    int rc;

    r->store = o->store;
    r->env = o->env;
    r->secrets = o->secrets;
    r->dry_run = o->dry_run;
    r->rto_objective_ms = o->rto_objective_ms;
    r->rpo_objective_ms = o->rpo_objective_ms;
    r->on_event = o->on_event;
    r->event_ud = o->event_ud;
    r->cur = -1;
    r->deadline_ms = LB_NO_DEADLINE;
    r->incident_explicit = r->detected_explicit = r->recovered_explicit = -1;
    r->incident_auto = -1;
    r->rpo_newest_ms = -1;
    r->next_rollback_id = 1;
    lb_store_new_run_id(r->id, sizeof(r->id));

    gethostname(host, sizeof(host) - 1);
    if (!user || !*user)
        user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(geteuid());
        user = pw ? pw->pw_name : NULL;
    }

    memset(&info, 0, sizeof(info));
    info.id = r->id;
    info.scenario_id = o->scenario_id;
    info.scenario_title = o->scenario_title;
    info.scenario_file = o->scenario_file;
    info.environment = o->env ? o->env->name : NULL;
    info.kind = o->kind ? o->kind : "drill";
    info.operator_name = user ? user : "unknown";
    info.host = host;
    info.version = LIFEBOAT_VERSION;
    info.dry_run = o->dry_run;
    info.started_at = lb_wall_ms();
    info.rto_objective_ms = o->rto_objective_ms;
    info.rpo_objective_ms = o->rpo_objective_ms;
    info.plan_json = o->plan_json;
    {
        char sha[65] = "";
        if (o->scenario_file) {
            struct lb_err ignore = {0};
            if (lb_sha256_file_hex(o->scenario_file, sha, &ignore) < 0)
                sha[0] = '\0';
        }
        info.scenario_sha256 = sha[0] ? sha : NULL;
        rc = lb_store_run_begin(o->store, &info, err);
    }
    if (rc < 0) {
        lb_run_free(r);
        return lb_err_prefix(err, "recording the run");
    }
    *out = r;
    return 0;
}

void lb_run_free(struct lb_run *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nsteps; i++) {
        free(r->steps[i].name);
        free(r->steps[i].kind);
    }
    free(r->steps);
    lb_buf_free(&r->output);
    free(r->rpo_method);
    free(r);
}

const char *lb_run_id(const struct lb_run *r) { return r->id; }
int lb_run_dry(const struct lb_run *r) { return r->dry_run; }
struct lb_secrets *lb_run_secrets(struct lb_run *r) { return r->secrets; }
struct lb_store *lb_run_store(const struct lb_run *r) { return r->store; }
int lb_run_nsteps(const struct lb_run *r) { return r->nsteps; }

int lb_run_plan_step(struct lb_run *r, const char *name, const char *kind,
                     int critical, int64_t timeout_ms, const char *declared_at,
                     struct lb_err *err)
{
    struct lb_step_info si;
    struct run_step *st;
    int rc;

    if (r->nsteps == r->capsteps) {
        r->capsteps = r->capsteps ? r->capsteps * 2 : 16;
        r->steps = lb_xrealloc(r->steps, (size_t)r->capsteps * sizeof(*r->steps));
    }
    st = &r->steps[r->nsteps];
    memset(st, 0, sizeof(*st));
    st->name = lb_xstrdup(name);
    st->kind = lb_xstrdup(kind);
    st->critical = critical;
    st->timeout_ms = timeout_ms;
    st->status = LB_STEP_PENDING;
    st->started_at = st->ended_at = -1;
    st->duration_ms = -1;

    si.seq = r->nsteps + 1;
    si.name = name;
    si.kind = kind;
    si.critical = critical;
    si.timeout_ms = timeout_ms;
    si.declared_at = declared_at;
    rc = lb_store_step_plan(r->store, r->id, &si, err);
    if (rc < 0) {
        free(st->name);
        free(st->kind);
        return rc;
    }
    r->nsteps++;
    return r->nsteps;
}

int lb_run_step_begin(struct lb_run *r, int seq, struct lb_err *err)
{
    struct run_step *st;
    int halted = 0;
    char *reason = NULL;
    int rc;

    if (seq < 1 || seq > r->nsteps)
        return lb_err_set(err, LB_EINVAL, "no step %d", seq);
    if (r->cur >= 0)
        return lb_err_set(err, LB_ESTATE, "step %d is still running", r->cur + 1);
    st = &r->steps[seq - 1];
    if (lb_interrupted())
        return lb_err_set(err, LB_EINTR, "interrupted before step '%s'", st->name);
    rc = lb_store_halt_get(r->store, &halted, &reason, err);
    if (rc < 0)
        return rc;
    if (halted) {
        rc = lb_err_set(err, LB_EHALT, "drills are halted (%s): step '%s' not started",
                        reason ? reason : "lifeboat halt", st->name);
        free(reason);
        return rc;
    }
    free(reason);

    st->started_at = lb_wall_ms();
    st->start_mono = lb_mono_ms();
    st->status = LB_STEP_RUNNING;
    rc = lb_store_step_start(r->store, r->id, seq, st->started_at, err);
    if (rc < 0)
        return rc;
    r->cur = seq - 1;
    r->deadline_ms = st->timeout_ms > 0 ? st->start_mono + st->timeout_ms : LB_NO_DEADLINE;
    lb_buf_reset(&r->output);
    if (strcmp(st->kind, "fault") == 0 && r->incident_auto < 0)
        r->incident_auto = st->started_at;

    struct lb_event ev = {.kind = LB_EV_STEP_START, .seq = seq, .name = st->name,
                          .stepkind = st->kind, .status = LB_STEP_RUNNING};
    emit(r, &ev);
    return 0;
}

static const char *gap_category_for(enum lb_step_status s)
{
    return s == LB_STEP_TIMEOUT ? "timeout" : s == LB_STEP_REFUSED ? "safety" : "step";
}

int lb_run_step_end(struct lb_run *r, enum lb_step_status status,
                    const char *error, struct lb_err *err)
{
    struct run_step *st;
    char *error_clean = NULL, *output = NULL;
    int rc;

    if (r->cur < 0)
        return lb_err_set(err, LB_ESTATE, "no step is running");
    st = &r->steps[r->cur];
    st->ended_at = lb_wall_ms();
    st->duration_ms = lb_mono_ms() - st->start_mono;
    st->status = status;
    error_clean = clean(r, error);
    output = r->output.len ? clean(r, r->output.data) : NULL;
    rc = lb_store_step_end(r->store, r->id, r->cur + 1, lb_step_status_name(status),
                           st->ended_at, st->duration_ms, error_clean, output, err);
    r->cur = -1;
    r->deadline_ms = LB_NO_DEADLINE;
    {
        struct lb_event ev = {.kind = LB_EV_STEP_END, .seq = (int)(st - r->steps) + 1,
                              .name = st->name, .stepkind = st->kind, .status = status,
                              .duration_ms = st->duration_ms, .text = error_clean};
        emit(r, &ev);
    }
    if (rc == 0 && status != LB_STEP_PASSED && status != LB_STEP_SKIPPED &&
        status != LB_STEP_INTERRUPTED && status != LB_STEP_REFUSED) {
        char title[512];
        snprintf(title, sizeof(title), "step '%s' %s", st->name,
                 status == LB_STEP_TIMEOUT ? "timed out" : "failed");
        /* The gap belongs to the step that just ended. */
        r->cur = (int)(st - r->steps);
        rc = lb_run_gap(r, st->critical ? "critical" : "major",
                        gap_category_for(status), title, error_clean, err);
        r->cur = -1;
    }
    free(error_clean);
    free(output);
    return rc;
}

int lb_run_step_skip(struct lb_run *r, int seq, const char *why, struct lb_err *err)
{
    struct run_step *st;
    char *why_clean;
    int rc;

    if (seq < 1 || seq > r->nsteps)
        return lb_err_set(err, LB_EINVAL, "no step %d", seq);
    st = &r->steps[seq - 1];
    st->status = LB_STEP_SKIPPED;
    why_clean = clean(r, why);
    rc = lb_store_step_end(r->store, r->id, seq, "skipped", -1, -1, why_clean, NULL, err);
    {
        struct lb_event ev = {.kind = LB_EV_STEP_END, .seq = seq, .name = st->name,
                              .stepkind = st->kind, .status = LB_STEP_SKIPPED,
                              .text = why_clean};
        emit(r, &ev);
    }
    free(why_clean);
    return rc;
}

void lb_run_step_output(struct lb_run *r, const char *text)
{
    if (!text || !*text)
        return;
    if (r->output.len && r->output.data[r->output.len - 1] != '\n')
        lb_buf_addc(&r->output, '\n');
    lb_buf_adds(&r->output, text);
    if (r->output.len > OUTPUT_TAIL_MAX)
        lb_buf_keep_tail(&r->output, OUTPUT_TAIL_MAX);
}

int lb_run_current_step(const struct lb_run *r) { return r->cur + 1; }

const char *lb_run_current_kind(const struct lb_run *r)
{
    return r->cur >= 0 ? r->steps[r->cur].kind : NULL;
}

int64_t lb_run_deadline(const struct lb_run *r) { return r->deadline_ms; }

int64_t lb_run_step_started_at(const struct lb_run *r)
{
    return r->cur >= 0 ? r->steps[r->cur].started_at : -1;
}
void lb_run_set_deadline(struct lb_run *r, int64_t deadline_ms) { r->deadline_ms = deadline_ms; }

int lb_run_mark(struct lb_run *r, const char *name, struct lb_err *err)
{
    int64_t now = lb_wall_ms();
    int rc;

    if (strcmp(name, "incident") == 0)
        r->incident_explicit = now;
    else if (strcmp(name, "detected") == 0)
        r->detected_explicit = now;
    else if (strcmp(name, "recovered") == 0)
        r->recovered_explicit = now;
    rc = lb_store_mark(r->store, r->id, name, now, "scenario", err);
    struct lb_event ev = {.kind = LB_EV_MARK, .seq = r->cur + 1, .name = name};
    emit(r, &ev);
    return rc;
}

/* End of the last restore/check step after the incident, provided the last
 * such step passed: a drill whose final validation failed has not recovered. */
static int64_t recovered_auto(const struct lb_run *r, int64_t incident,
                              const char **blocking)
{
    int64_t at = -1;
    *blocking = NULL;
    if (incident < 0)
        return -1;
    for (int i = 0; i < r->nsteps; i++) {
        const struct run_step *st = &r->steps[i];
        if (st->started_at < incident)
            continue;
        if (strcmp(st->kind, "restore") != 0 && strcmp(st->kind, "check") != 0)
            continue;
        if (st->status == LB_STEP_PASSED) {
            at = st->ended_at;
            *blocking = NULL;
        } else if (st->status != LB_STEP_PENDING) {
            *blocking = st->name;
        }
    }
    return *blocking ? -1 : at;
}

int64_t lb_run_mark_time(const struct lb_run *r, const char *name)
{
    const char *blocking;
    if (strcmp(name, "incident") == 0)
        return r->incident_explicit >= 0 ? r->incident_explicit : r->incident_auto;
    if (strcmp(name, "detected") == 0)
        return r->detected_explicit;
    if (strcmp(name, "recovered") == 0)
        return r->recovered_explicit >= 0
                   ? r->recovered_explicit
                   : recovered_auto(r, lb_run_mark_time(r, "incident"), &blocking);
    return -1;
}

int lb_run_check(struct lb_run *r, const char *name, int ok, const char *expected,
                 const char *observed, const char *table_name, struct lb_err *err)
{
    char *n = clean(r, name), *e = clean(r, expected), *o = clean(r, observed);
    int rc = lb_store_check(r->store, r->id, step_ref(r), n, ok, e, o, table_name, err);
    struct lb_event ev = {.kind = LB_EV_CHECK, .seq = r->cur + 1, .name = n, .ok = ok,
                          .text = o};
    emit(r, &ev);
    free(n);
    free(e);
    free(o);
    return rc;
}

int lb_run_gap(struct lb_run *r, const char *severity, const char *category,
               const char *title, const char *detail, struct lb_err *err)
{
    char *t, *d;
    int rc;

    if (strcmp(severity, "critical") != 0 && strcmp(severity, "major") != 0 &&
        strcmp(severity, "minor") != 0)
        return lb_err_set(err, LB_EINVAL,
                          "gap severity '%s' (use critical, major or minor)", severity);
    t = clean(r, title);
    d = clean(r, detail);
    rc = lb_store_gap(r->store, r->id, step_ref(r), severity, category, t, d, err);
    if (strcmp(severity, "critical") == 0)
        r->gaps_critical++;
    else if (strcmp(severity, "major") == 0)
        r->gaps_major++;
    else
        r->gaps_minor++;
    struct lb_event ev = {.kind = LB_EV_GAP, .seq = r->cur + 1, .name = category,
                          .text = t, .severity = severity};
    emit(r, &ev);
    free(t);
    free(d);
    return rc;
}

int lb_run_metric(struct lb_run *r, const char *name, double value, const char *unit,
                  struct lb_err *err)
{
    return lb_store_metric(r->store, r->id, step_ref(r), name, value, unit, err);
}

int lb_run_table_stat(struct lb_run *r, const char *phase, const char *table,
                      int64_t rows, const char *fingerprint,
                      const char *schema_fingerprint, struct lb_err *err)
{
    struct lb_table_stat ts = {phase, table, rows, fingerprint, schema_fingerprint};
    return lb_store_table_stat(r->store, r->id, step_ref(r), &ts, err);
}

void lb_run_log(struct lb_run *r, const char *text)
{
    char *t = clean(r, text);
    struct lb_event ev = {.kind = LB_EV_LOG, .seq = r->cur + 1, .text = t};
    if (r->cur >= 0)
        lb_run_step_output(r, t);
    emit(r, &ev);
    free(t);
}

void lb_run_set_rpo_evidence(struct lb_run *r, const char *method, int64_t newest_data_ms)
{
    free(r->rpo_method);
    r->rpo_method = lb_xstrdup(method);
    r->rpo_newest_ms = newest_data_ms;
}

int lb_run_rollback_register(struct lb_run *r, const char *name,
                             const char *declared_at, struct lb_err *err)
{
    int id = r->next_rollback_id;
    int rc = lb_store_rollback_register(r->store, r->id, id, name, declared_at, err);
    if (rc < 0)
        return rc;
    r->next_rollback_id++;
    return id;
}

int lb_run_rollback_begin(struct lb_run *r, int id, const char *name, struct lb_err *err)
{
    struct lb_event ev = {.kind = LB_EV_ROLLBACK_START, .seq = id, .name = name};
    lb_buf_reset(&r->output);
    emit(r, &ev);
    return lb_store_rollback_status(r->store, r->id, id, "running", NULL, err);
}

int lb_run_rollback_end(struct lb_run *r, int id, int ok, const char *error,
                        int64_t duration_ms, struct lb_err *err)
{
    char *e = clean(r, error);
    int rc = lb_store_rollback_status(r->store, r->id, id, ok ? "passed" : "failed", e, err);
    struct lb_event ev = {.kind = LB_EV_ROLLBACK_END, .seq = id, .ok = ok,
                          .duration_ms = duration_ms, .text = e,
                          .status = ok ? LB_STEP_PASSED : LB_STEP_FAILED};
    if (!ok)
        r->rollbacks_failed++;
    emit(r, &ev);
    free(e);
    return rc;
}

static int objective_gap(struct lb_run *r, const char *what, int64_t measured,
                         int64_t objective, struct lb_err *err)
{
    char m[32], o[32], title[160];
    lb_duration_format(measured, m, sizeof(m));
    lb_duration_format(objective, o, sizeof(o));
    snprintf(title, sizeof(title), "%s objective missed: %s measured, %s allowed",
             what, m, o);
    return lb_run_gap(r, "critical", "objective", title, NULL, err);
}

int lb_run_finish(struct lb_run *r, enum lb_outcome outcome, const char *error,
                  struct lb_run_summary *sum, struct lb_err *err)
{
    struct lb_run_result res;
    int64_t incident, recovered;
    const char *blocking = NULL;
    char *error_clean;
    int rc = 0;

    memset(sum, 0, sizeof(*sum));
    sum->rto_ms = sum->rpo_ms = -1;
    incident = lb_run_mark_time(r, "incident");
    recovered = r->recovered_explicit >= 0 ? r->recovered_explicit
                                           : recovered_auto(r, incident, &blocking);

    /* Automatic marks are stored once, at the end, where no explicit one exists. */
    if (incident >= 0 && r->incident_explicit < 0)
        rc = lb_store_mark(r->store, r->id, "incident", incident, "auto", err);
    if (rc == 0 && recovered >= 0 && r->recovered_explicit < 0)
        rc = lb_store_mark(r->store, r->id, "recovered", recovered, "auto", err);
    if (rc < 0)
        return rc;

    if (incident >= 0 && recovered >= incident)
        sum->rto_ms = recovered - incident;
    if (incident >= 0 && r->rpo_newest_ms >= 0) {
        sum->rpo_ms = incident - r->rpo_newest_ms;
        if (sum->rpo_ms < 0)
            sum->rpo_ms = 0;
        sum->rpo_method = r->rpo_method;
    }

    if (outcome == LB_OUTCOME_COMPLETED || outcome == LB_OUTCOME_FAILED) {
        if (incident >= 0 && sum->rto_ms < 0) {
            char title[512];
            if (blocking)
                snprintf(title, sizeof(title),
                         "not recovered: step '%s' did not pass, so no RTO was measured",
                         blocking);
            else
                snprintf(title, sizeof(title),
                         "not recovered: no restore or check step passed after the incident");
            rc = lb_run_gap(r, "critical", "objective", title, NULL, err);
        }
        if (rc == 0 && sum->rto_ms >= 0 && r->rto_objective_ms >= 0 &&
            sum->rto_ms > r->rto_objective_ms)
            rc = objective_gap(r, "RTO", sum->rto_ms, r->rto_objective_ms, err);
        if (rc == 0 && sum->rpo_ms >= 0 && r->rpo_objective_ms >= 0 &&
            sum->rpo_ms > r->rpo_objective_ms)
            rc = objective_gap(r, "RPO", sum->rpo_ms, r->rpo_objective_ms, err);
        if (rc == 0 && incident >= 0 && sum->rpo_ms < 0 && r->rpo_objective_ms >= 0)
            rc = lb_run_gap(r, "major", "objective",
                            "RPO not measured: no heartbeat or backup provenance "
                            "told how much data was lost", NULL, err);
        if (rc < 0)
            return rc;
    }

    sum->gaps_critical = r->gaps_critical;
    sum->gaps_major = r->gaps_major;
    sum->gaps_minor = r->gaps_minor;
    sum->rollbacks_failed = r->rollbacks_failed;

    if (r->rollbacks_failed > 0) {
        sum->status = "rollback_failed";
        sum->exit_code = LB_EXIT_ROLLBACK;
    } else {
        switch (outcome) {
        case LB_OUTCOME_REFUSED:
            sum->status = "refused";
            sum->exit_code = LB_EXIT_SAFETY;
            break;
        case LB_OUTCOME_ABORTED:
            sum->status = "aborted";
            sum->exit_code = LB_EXIT_ABORTED;
            break;
        case LB_OUTCOME_INTERRUPTED:
            sum->status = "interrupted";
            sum->exit_code = LB_EXIT_INTERRUPTED;
            break;
        case LB_OUTCOME_PLANNED:
            sum->status = "planned";
            sum->exit_code = LB_EXIT_PASSED;
            break;
        case LB_OUTCOME_COMPLETED:
        case LB_OUTCOME_FAILED:
            if (outcome == LB_OUTCOME_FAILED || r->gaps_critical || r->gaps_major ||
                r->gaps_minor) {
                sum->status = "failed";
                sum->exit_code = LB_EXIT_GAPS;
            } else {
                sum->status = "passed";
                sum->exit_code = LB_EXIT_PASSED;
            }
            break;
        }
    }

    error_clean = clean(r, error);
    memset(&res, 0, sizeof(res));
    res.status = sum->status;
    res.exit_code = sum->exit_code;
    res.ended_at = lb_wall_ms();
    res.rto_ms = sum->rto_ms;
    res.rpo_ms = sum->rpo_ms;
    res.rpo_method = sum->rpo_method;
    res.error = error_clean;
    rc = lb_store_run_end(r->store, r->id, &res, err);
    free(error_clean);
    r->finished = 1;
    return rc;
}

void lb_run_summary_line(const struct lb_run_summary *sum, int64_t rto_objective_ms,
                         int64_t rpo_objective_ms, char *out, size_t outsz)
{
    char rto[32] = "not measured", rpo[32] = "not measured";
    char rto_o[48] = "", rpo_o[48] = "";
    char status[32];
    size_t i;

    for (i = 0; i < sizeof(status) - 1 && sum->status[i]; i++)
        status[i] = (char)(sum->status[i] == '_' ? ' ' :
                           (sum->status[i] >= 'a' && sum->status[i] <= 'z')
                               ? sum->status[i] - 32 : sum->status[i]);
    status[i] = '\0';
    if (sum->rto_ms >= 0)
        lb_duration_format(sum->rto_ms, rto, sizeof(rto));
    if (sum->rpo_ms >= 0)
        lb_duration_format(sum->rpo_ms, rpo, sizeof(rpo));
    if (rto_objective_ms >= 0) {
        char d[32];
        lb_duration_format(rto_objective_ms, d, sizeof(d));
        snprintf(rto_o, sizeof(rto_o), " (objective %s)", d);
    }
    if (rpo_objective_ms >= 0) {
        char d[32];
        lb_duration_format(rpo_objective_ms, d, sizeof(d));
        snprintf(rpo_o, sizeof(rpo_o), " (objective %s)", d);
    }
    snprintf(out, outsz, "%s  RTO %s%s  RPO %s%s  gaps %d (critical %d, major %d, minor %d)",
             status, rto, rto_o, rpo, rpo_o,
             sum->gaps_critical + sum->gaps_major + sum->gaps_minor,
             sum->gaps_critical, sum->gaps_major, sum->gaps_minor);
}
