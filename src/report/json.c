/*
 * The JSON report: the whole run as one object, for dashboards and other
 * tools. Field names follow struct lb_run_view; unset numbers are null;
 * every time is given twice, as UTC milliseconds ("<name>_ms") and as an
 * ISO 8601 string ("<name>"). Integers are printed exactly (not through a
 * double), strings are made valid UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report_int.h"

/* Bumped when a field changes meaning or disappears (adding is fine). */
#define REPORT_JSON_VERSION 1

/* A string node holding s, with invalid UTF-8 replaced by U+FFFD. */
static cJSON *utf8_string(const char *s)
{
    struct lb_buf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    cJSON *node;
    while (*p != '\0') {
        size_t n = lb_report_utf8_seq(p);
        if (n == 0) {
            lb_buf_adds(&b, "\xef\xbf\xbd");
            p++;
        } else {
            lb_buf_add(&b, p, n);
            p += n;
        }
    }
    node = cJSON_CreateString(b.data != NULL ? b.data : "");
    lb_buf_free(&b);
    return node;
}

static void add_str(cJSON *obj, const char *name, const char *s)
{
    if (s == NULL)
        cJSON_AddNullToObject(obj, name);
    else
        cJSON_AddItemToObject(obj, name, utf8_string(s));
}

/* An integer printed exactly; negative means unset (null). */
static void add_int(cJSON *obj, const char *name, int64_t v)
{
    char num[24];
    if (v < 0) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    snprintf(num, sizeof num, "%lld", (long long)v);
    cJSON_AddRawToObject(obj, name, num);
}

/* "<base>_ms" and "<base>" (ISO 8601 UTC), both null when unset. */
static void add_time(cJSON *obj, const char *base, int64_t ms)
{
    char key[64], iso[40];
    snprintf(key, sizeof key, "%s_ms", base);
    add_int(obj, key, ms);
    if (ms < 0) {
        cJSON_AddNullToObject(obj, base);
        return;
    }
    lb_wall_format(ms, iso, sizeof iso);
    cJSON_AddStringToObject(obj, base, iso);
}

static void add_objective(cJSON *parent, const char *name, int64_t objective,
                          int64_t measured, const char *method)
{
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    add_int(o, "objective_ms", objective);
    add_int(o, "measured_ms", measured);
    cJSON_AddStringToObject(o, "result", lb_report_objective_result(objective, measured));
    add_str(o, "method", method);
}

/* The declared plan as JSON when it parses, else as the stored text. */
static void add_plan(cJSON *obj, const char *plan_json)
{
    cJSON *plan = plan_json != NULL ? cJSON_Parse(plan_json) : NULL;
    if (plan != NULL)
        cJSON_AddItemToObject(obj, "plan", plan);
    else
        add_str(obj, "plan", plan_json);
}

static void add_summary(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *sum = cJSON_AddObjectToObject(obj, "summary");
    size_t failed = 0, counts[4] = {0};
    for (size_t i = 0; i < v->nchecks; i++)
        failed += !v->checks[i].ok;
    for (size_t i = 0; i < v->ngaps; i++)
        counts[lb_report_severity_rank(v->gaps[i].severity)]++;
    add_int(sum, "steps", (int64_t)v->nsteps);
    add_int(sum, "checks", (int64_t)v->nchecks);
    add_int(sum, "checks_failed", (int64_t)failed);
    add_int(sum, "gaps", (int64_t)v->ngaps);
    add_int(sum, "gaps_critical", (int64_t)counts[0]);
    add_int(sum, "gaps_major", (int64_t)counts[1]);
    add_int(sum, "gaps_minor", (int64_t)counts[2]);
}

static void add_steps(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "steps");
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "seq", st->seq);
        add_str(o, "name", st->name);
        add_str(o, "kind", st->kind);
        add_str(o, "status", st->status);
        cJSON_AddBoolToObject(o, "critical", st->critical);
        add_int(o, "timeout_ms", st->timeout_ms);
        add_str(o, "declared_at", st->declared_at);
        add_time(o, "started_at", st->started_at);
        add_time(o, "ended_at", st->ended_at);
        add_int(o, "duration_ms", st->duration_ms);
        add_str(o, "error", st->error);
        add_str(o, "output_tail", st->output_tail);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_marks(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "marks");
    for (size_t i = 0; i < v->nmarks; i++) {
        cJSON *o = cJSON_CreateObject();
        add_str(o, "name", v->marks[i].name);
        add_time(o, "at", v->marks[i].at);
        add_str(o, "source", v->marks[i].source);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_checks(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "checks");
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "step_seq", c->step_seq);
        add_str(o, "name", c->name);
        cJSON_AddBoolToObject(o, "ok", c->ok);
        add_str(o, "expected", c->expected);
        add_str(o, "observed", c->observed);
        add_str(o, "table_name", c->table_name);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_metrics(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "metrics");
    for (size_t i = 0; i < v->nmetrics; i++) {
        const struct lb_metric_view *m = &v->metrics[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "step_seq", m->step_seq);
        add_str(o, "name", m->name);
        /* NaN and infinities print as null. */
        cJSON_AddNumberToObject(o, "value", m->value);
        add_str(o, "unit", m->unit);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_gaps(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "gaps");
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "step_seq", g->step_seq);
        add_str(o, "severity", g->severity);
        add_str(o, "category", g->category);
        add_str(o, "title", g->title);
        add_str(o, "detail", g->detail);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_stats(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "table_stats");
    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "step_seq", ts->step_seq);
        add_str(o, "phase", ts->phase);
        add_str(o, "table_name", ts->table_name);
        add_int(o, "rows", ts->rows);
        add_str(o, "fingerprint", ts->fingerprint);
        add_str(o, "schema_fingerprint", ts->schema_fingerprint);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_rollbacks(cJSON *obj, const struct lb_run_view *v)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "rollbacks");
    for (size_t i = 0; i < v->nrollbacks; i++) {
        const struct lb_rollback_view *r = &v->rollbacks[i];
        cJSON *o = cJSON_CreateObject();
        add_int(o, "id", r->id);
        add_str(o, "name", r->name);
        add_str(o, "status", r->status);
        add_str(o, "error", r->error);
        add_str(o, "declared_at", r->declared_at);
        cJSON_AddItemToArray(arr, o);
    }
}

void lb_report_json(const struct lb_run_view *v, struct lb_buf *b)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;

    cJSON_AddStringToObject(root, "format", "lifeboat.run");
    add_int(root, "format_version", REPORT_JSON_VERSION);
    add_str(root, "id", v->id);
    add_str(root, "status", v->status);
    cJSON_AddStringToObject(root, "verdict", lb_report_verdict(v));
    add_int(root, "exit_code", v->exit_code);
    cJSON_AddBoolToObject(root, "dry_run", v->dry_run);
    add_str(root, "kind", v->kind);
    add_str(root, "scenario_id", v->scenario_id);
    add_str(root, "scenario_title", v->scenario_title);
    add_str(root, "scenario_file", v->scenario_file);
    add_str(root, "scenario_sha256", v->scenario_sha256);
    add_str(root, "environment", v->environment);
    add_str(root, "operator_name", v->operator_name);
    add_str(root, "host", v->host);
    add_str(root, "version", v->version);
    add_time(root, "started_at", v->started_at);
    add_time(root, "ended_at", v->ended_at);
    add_int(root, "duration_ms", v->started_at >= 0 && v->ended_at >= v->started_at
                                     ? v->ended_at - v->started_at
                                     : -1);
    add_int(root, "rto_objective_ms", v->rto_objective_ms);
    add_int(root, "rto_ms", v->rto_ms);
    add_int(root, "rpo_objective_ms", v->rpo_objective_ms);
    add_int(root, "rpo_ms", v->rpo_ms);
    add_str(root, "rpo_method", v->rpo_method);
    {
        cJSON *obj = cJSON_AddObjectToObject(root, "objectives");
        add_objective(obj, "rto", v->rto_objective_ms, v->rto_ms,
                      "incident mark to recovered mark");
        add_objective(obj, "rpo", v->rpo_objective_ms, v->rpo_ms, v->rpo_method);
    }
    add_str(root, "error", v->error);
    add_plan(root, v->plan_json);
    add_summary(root, v);
    add_steps(root, v);
    add_marks(root, v);
    add_checks(root, v);
    add_metrics(root, v);
    add_gaps(root, v);
    add_stats(root, v);
    add_rollbacks(root, v);

    text = cJSON_Print(root);
    if (text != NULL) {
        lb_buf_adds(b, text);
        lb_buf_addc(b, '\n');
        cJSON_free(text);
    }
    cJSON_Delete(root);
}
