/*
 * JUnit XML, for CI test reporters (Jenkins, GitLab, GitHub actions that
 * read JUnit). The form is the Jenkins/ant one that all of them accept,
 * checked against tests/fixtures/junit/junit-10.xsd:
 *
 *   <testsuites> one <testsuite> per run: properties (run id, verdict,
 *   scenario hash, ...), then testcases, then system-out/system-err.
 *
 * Testcases, with classnames "lifeboat.<scenario>.<group>": one per step
 * (failed, timed out or with a gap: <failure>; interrupted or refused:
 * <error>; skipped or never run: <skipped>), one per check, one per
 * objective (RTO, RPO) and one per rollback. Every gap appears in the
 * failure text of the testcase it belongs to: its step's, else the
 * objective it names, else the "run" testcase. Names are stable across runs
 * (step and check names, not sequence numbers) so that CI tracks a test's
 * history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Longest failure message attribute; the element text has everything. */
#define MESSAGE_MAX 200

struct counts {
    size_t tests, failures, errors, skipped;
};

/* One testcase, gathered before it is written so the suite can count. */
struct tcase {
    char *group;       /* steps, checks, objectives, rollbacks, run */
    char *name;
    int64_t time_ms;   /* -1: none */
    const char *outcome;   /* NULL (passed), "failure", "error", "skipped" */
    char *type, *message;
    struct lb_buf text;    /* failure / error text */
    const char *out;       /* system-out (borrowed) */
};

struct suite {
    struct tcase *c;
    size_t n;
};

static struct tcase *add_case(struct suite *s, const char *group, const char *name,
                              int64_t time_ms)
{
    struct tcase *t;
    s->c = lb_xrealloc(s->c, (s->n + 1) * sizeof *s->c);
    t = &s->c[s->n++];
    memset(t, 0, sizeof *t);
    t->group = lb_xstrdup(group);
    t->name = lb_xstrdup(name != NULL && name[0] != '\0' ? name : "(unnamed)");
    t->time_ms = time_ms;
    return t;
}

static void suite_free(struct suite *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->c[i].group);
        free(s->c[i].name);
        free(s->c[i].type);
        free(s->c[i].message);
        lb_buf_free(&s->c[i].text);
    }
    free(s->c);
}

static int outcome_rank(const char *o)
{
    if (o == NULL)
        return 0;
    if (strcmp(o, "skipped") == 0)
        return 1;
    return strcmp(o, "failure") == 0 ? 2 : 3;
}

/* Mark a testcase skipped, failed or errored. The gravest outcome wins
 * (error, failure, skipped); the first reason of that outcome gives the
 * message, later ones only add text. */
static void outcome(struct tcase *t, const char *what, const char *type, const char *message)
{
    if (outcome_rank(what) <= outcome_rank(t->outcome))
        return;
    t->outcome = what;
    free(t->type);
    free(t->message);
    t->type = lb_xstrdup(type);
    t->message = lb_xstrdup(message);
}

static void add_gap_text(struct tcase *t, const struct lb_run_view *v,
                         const struct lb_gap_view *g)
{
    char *expected = NULL, *observed = NULL;
    lb_report_gap_expectation(v, g, &expected, &observed);
    if (t->text.len > 0)
        lb_buf_addc(&t->text, '\n');
    lb_buf_printf(&t->text, "gap [%s] %s: %s", g->severity != NULL ? g->severity : "?",
                  g->category != NULL ? g->category : "?", g->title != NULL ? g->title : "");
    if (g->detail != NULL && g->detail[0] != '\0')
        lb_buf_printf(&t->text, "\n  detail: %s", g->detail);
    if (expected != NULL)
        lb_buf_printf(&t->text, "\n  expected: %s", expected);
    if (observed != NULL)
        lb_buf_printf(&t->text, "\n  observed: %s", observed);
    free(expected);
    free(observed);
}

static char *gap_message(const struct lb_gap_view *g)
{
    return lb_xasprintf("[%s] %s", g->severity != NULL ? g->severity : "?",
                        g->title != NULL ? g->title : "");
}

struct case_key {
    const char *group, *name;
    size_t index;
};

static int cmp_case(const void *a, const void *b)
{
    const struct case_key *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    if (c == 0)
        c = strcmp(x->name, y->name);
    if (c == 0)
        c = x->index < y->index ? -1 : x->index > y->index;
    return c;
}

/* Give a repeated name a " #2", " #3" ... in the order the testcases come,
 * so every testcase is distinct. Sorted, not pairwise: a run may have
 * thousands of checks. */
static void dedupe(struct suite *s)
{
    struct case_key *keys = lb_xcalloc(s->n + 1, sizeof *keys);
    size_t run = 1;

    for (size_t i = 0; i < s->n; i++)
        keys[i] = (struct case_key){s->c[i].group, s->c[i].name, i};
    qsort(keys, s->n, sizeof *keys, cmp_case);
    /* Renaming frees the old names only after the walk: keys point at them. */
    for (size_t k = 1; k < s->n; k++) {
        if (strcmp(keys[k - 1].group, keys[k].group) != 0 ||
            strcmp(keys[k - 1].name, keys[k].name) != 0) {
            run = 1;
            continue;
        }
        run++;
        s->c[keys[k].index].name = lb_xasprintf("%s #%zu", keys[k].name, run);
    }
    for (size_t k = 0; k < s->n; k++) {
        if (s->c[keys[k].index].name != keys[k].name)
            free((char *)keys[k].name);
    }
    free(keys);
}

static int gap_objective(const struct lb_gap_view *g)
{
    if (g->category == NULL || strcmp(g->category, "objective") != 0 || g->title == NULL)
        return -1;
    if (strstr(g->title, "RTO") != NULL)
        return 0;
    if (strstr(g->title, "RPO") != NULL)
        return 1;
    return -1;
}

static void objective_case(struct suite *s, const struct lb_run_view *v, const char *name,
                           int64_t objective, int64_t measured)
{
    const char *result = lb_report_objective_result(objective, measured);
    struct tcase *t = add_case(s, "objectives", name, -1);
    char got[32], target[32];
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_report_fmt_duration(objective, target, sizeof target);
    if (strcmp(result, "missed") == 0) {
        char *msg = lb_xasprintf("%s %s, objective %s", name, got, target);
        outcome(t, "failure", "objective", msg);
        lb_buf_printf(&t->text, "%s: measured %s, objective %s (missed)", name, got, target);
        free(msg);
    } else if (strcmp(result, "not measured") == 0 && objective >= 0 && v->status != NULL &&
               strcmp(v->status, "passed") != 0) {
        /* A drill that ended early never measured its objective. */
        outcome(t, "skipped", "not measured", "not measured: the run did not get that far");
    }
}

static void build(const struct lb_run_view *v, struct suite *s)
{
    size_t first_check, obj_rto, obj_rpo, run_case;

    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        struct tcase *t = add_case(s, "steps", st->name, st->duration_ms);
        const char *status = st->status != NULL ? st->status : "";
        t->out = st->output_tail;
        if (strcmp(status, "failed") == 0 || strcmp(status, "timeout") == 0) {
            outcome(t, "failure", status, st->error != NULL ? st->error : status);
            lb_buf_printf(&t->text, "step %s", status);
            if (st->error != NULL)
                lb_buf_printf(&t->text, ": %s", st->error);
        } else if (strcmp(status, "interrupted") == 0 || strcmp(status, "refused") == 0 ||
                   strcmp(status, "running") == 0) {
            outcome(t, "error", status, st->error != NULL ? st->error : status);
            lb_buf_printf(&t->text, "step %s", status);
            if (st->error != NULL)
                lb_buf_printf(&t->text, ": %s", st->error);
        } else if (strcmp(status, "passed") != 0) {
            outcome(t, "skipped", status, st->error != NULL ? st->error : status);
        }
    }
    first_check = s->n;
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        const char *table = lb_report_table_display(c->table_name);
        char *name = table != NULL && c->name != NULL && strstr(c->name, table) == NULL
                         ? lb_xasprintf("%s (%s)", c->name, table)
                         : lb_xstrdup(c->name);
        struct tcase *t = add_case(s, "checks", name, -1);
        free(name);
        if (!c->ok) {
            char *msg = lb_xasprintf("expected %s, observed %s",
                                     c->expected != NULL ? c->expected : "-",
                                     c->observed != NULL ? c->observed : "-");
            outcome(t, "failure", "check", msg);
            lb_buf_printf(&t->text, "check failed: %s", msg);
            free(msg);
        }
    }
    obj_rto = s->n;
    objective_case(s, v, "RTO", v->rto_objective_ms, v->rto_ms);
    obj_rpo = s->n;
    objective_case(s, v, "RPO", v->rpo_objective_ms, v->rpo_ms);
    for (size_t i = 0; i < v->nrollbacks; i++) {
        const struct lb_rollback_view *r = &v->rollbacks[i];
        struct tcase *t = add_case(s, "rollbacks", r->name, -1);
        const char *status = r->status != NULL ? r->status : "";
        if (strcmp(status, "failed") == 0) {
            outcome(t, "failure", "rollback", r->error != NULL ? r->error : "rollback failed");
            lb_buf_printf(&t->text, "rollback failed%s%s: the target may need a human",
                          r->error != NULL ? ": " : "", r->error != NULL ? r->error : "");
        } else if (strcmp(status, "passed") != 0) {
            outcome(t, "error", status, "rollback did not run to completion");
            lb_buf_printf(&t->text, "rollback %s", status);
        }
    }
    run_case = s->n;
    add_case(s, "run", "verdict", v->started_at >= 0 && v->ended_at >= v->started_at
                                      ? v->ended_at - v->started_at
                                      : -1);

    /* Gaps go to the testcase they belong to. */
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[i];
        struct tcase *t = NULL;
        int obj = gap_objective(g);
        char *msg = gap_message(g);
        for (size_t k = 0; k < v->nsteps && t == NULL; k++) {
            if (v->steps[k].seq == g->step_seq)
                t = &s->c[k];
        }
        if (t == NULL && obj >= 0)
            t = &s->c[obj == 0 ? obj_rto : obj_rpo];
        if (t == NULL)
            t = &s->c[run_case];
        outcome(t, "failure", "gap", msg);
        add_gap_text(t, v, g);
        free(msg);
    }
    /* A failed check also carries the gap that reports it. */
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_check_view *c = lb_report_gap_check(v, &v->gaps[i]);
        if (c != NULL)
            add_gap_text(&s->c[first_check + (size_t)(c - v->checks)], v, &v->gaps[i]);
    }
    /* The run case: what the run as a whole came to. */
    {
        struct tcase *t = &s->c[run_case];
        const char *status = v->status != NULL ? v->status : "";
        if (strcmp(status, "passed") == 0 || strcmp(status, "planned") == 0) {
            /* Gaps of the run, if any, already failed it. */
        } else if (strcmp(status, "failed") == 0 || strcmp(status, "rollback_failed") == 0) {
            outcome(t, "failure", status, lb_report_verdict(v));
        } else {
            outcome(t, "error", status[0] != '\0' ? status : "unknown", lb_report_verdict(v));
        }
        if (strcmp(status, "passed") != 0 && strcmp(status, "planned") != 0) {
            if (t->text.len > 0)
                lb_buf_addc(&t->text, '\n');
            lb_buf_printf(&t->text, "run %s (exit code %d)", lb_report_verdict(v),
                          v->exit_code);
            if (v->error != NULL)
                lb_buf_printf(&t->text, ": %s", v->error);
        }
    }
    dedupe(s);
}

static void count(const struct suite *s, struct counts *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < s->n; i++) {
        const char *o = s->c[i].outcome;
        c->tests++;
        if (o == NULL)
            continue;
        if (strcmp(o, "failure") == 0)
            c->failures++;
        else if (strcmp(o, "error") == 0)
            c->errors++;
        else
            c->skipped++;
    }
}

static void seconds(char *out, size_t n, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    snprintf(out, n, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static void property(struct lb_buf *b, const char *name, const char *value)
{
    lb_buf_printf(b, "      <property name=\"%s\" value=\"", name);
    lb_report_xml_attr(b, value != NULL ? value : "");
    lb_buf_adds(b, "\"/>\n");
}

static void property_ms(struct lb_buf *b, const char *name, int64_t ms)
{
    char num[24] = "";
    if (ms >= 0)
        snprintf(num, sizeof num, "%lld", (long long)ms);
    property(b, name, num);
}

static void write_case(struct lb_buf *b, const char *classprefix, const struct tcase *t)
{
    char time[32];
    seconds(time, sizeof time, t->time_ms);
    lb_buf_adds(b, "    <testcase classname=\"");
    lb_report_xml_attr(b, classprefix);
    lb_buf_printf(b, ".%s\" name=\"", t->group);
    lb_report_xml_attr(b, t->name);
    lb_buf_printf(b, "\" time=\"%s\"", time);
    if (t->outcome == NULL && t->out == NULL) {
        lb_buf_adds(b, "/>\n");
        return;
    }
    lb_buf_adds(b, ">\n");
    if (t->outcome != NULL) {
        char msg[MESSAGE_MAX * 4 + 1];
        size_t cut = lb_report_utf8_prefix(t->message != NULL ? t->message : "", MESSAGE_MAX);
        snprintf(msg, sizeof msg, "%.*s", (int)cut, t->message != NULL ? t->message : "");
        lb_buf_printf(b, "      <%s message=\"", t->outcome);
        lb_report_xml_attr(b, msg);
        if (strcmp(t->outcome, "skipped") == 0) {
            lb_buf_adds(b, "\"/>\n");
        } else {
            lb_buf_adds(b, "\" type=\"");
            lb_report_xml_attr(b, t->type);
            lb_buf_adds(b, "\">");
            lb_report_xml_text(b, t->text.data);
            lb_buf_printf(b, "</%s>\n", t->outcome);
        }
    }
    if (t->out != NULL && t->out[0] != '\0') {
        lb_buf_adds(b, "      <system-out>");
        lb_report_xml_text(b, t->out);
        lb_buf_adds(b, "</system-out>\n");
    }
    lb_buf_adds(b, "    </testcase>\n");
}

/* "2026-11-26T14:57:36": the ant schema's timestamp has no zone (UTC). */
static void timestamp(char *out, size_t n, int64_t ms)
{
    char iso[40];
    lb_wall_format(ms >= 0 ? ms : 0, iso, sizeof iso);
    snprintf(out, n, "%.19s", iso);
}

static void write_suite(struct lb_buf *b, const struct lb_run_view *v, size_t id,
                        const struct suite *s, const struct counts *c)
{
    char time[32], ts[40], *classprefix, iso[40];
    int64_t took = v->started_at >= 0 && v->ended_at >= v->started_at
                       ? v->ended_at - v->started_at
                       : 0;

    classprefix = lb_xasprintf("lifeboat.%s", v->scenario_id != NULL ? v->scenario_id : "run");
    seconds(time, sizeof time, took);
    timestamp(ts, sizeof ts, v->started_at);
    lb_buf_adds(b, "  <testsuite name=\"");
    lb_report_xml_attr(b, classprefix);
    lb_buf_printf(b, "\" id=\"%zu\" package=\"lifeboat\" hostname=\"", id);
    lb_report_xml_attr(b, v->host != NULL && v->host[0] != '\0' ? v->host : "unknown");
    lb_buf_printf(b, "\" timestamp=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
                     "skipped=\"%zu\" time=\"%s\">\n",
                  ts, c->tests, c->failures, c->errors, c->skipped, time);
    lb_buf_adds(b, "    <properties>\n");
    property(b, "run_id", v->id);
    property(b, "verdict", lb_report_verdict(v));
    property(b, "scenario_id", v->scenario_id);
    property(b, "scenario_title", v->scenario_title);
    property(b, "scenario_file", v->scenario_file);
    property(b, "scenario_sha256", v->scenario_sha256);
    property(b, "environment", v->environment);
    property(b, "operator", v->operator_name);
    property(b, "lifeboat_version", v->version);
    lb_wall_format(v->started_at >= 0 ? v->started_at : 0, iso, sizeof iso);
    property(b, "started_at", v->started_at >= 0 ? iso : "");
    property_ms(b, "rto_ms", v->rto_ms);
    property_ms(b, "rto_objective_ms", v->rto_objective_ms);
    property_ms(b, "rpo_ms", v->rpo_ms);
    property_ms(b, "rpo_objective_ms", v->rpo_objective_ms);
    property(b, "rpo_method", v->rpo_method);
    lb_buf_adds(b, "    </properties>\n");
    for (size_t i = 0; i < s->n; i++)
        write_case(b, classprefix, &s->c[i]);
    lb_buf_adds(b, "    <system-out>lifeboat run ");
    lb_report_xml_text(b, v->id != NULL ? v->id : "?");
    lb_buf_printf(b, ": %s</system-out>\n    <system-err>", lb_report_verdict(v));
    lb_report_xml_text(b, v->error);
    lb_buf_adds(b, "</system-err>\n  </testsuite>\n");
    free(classprefix);
}

void lb_report_junit(const struct lb_run_view *const *runs, size_t n, struct lb_buf *b)
{
    struct suite *suites = lb_xcalloc(n + 1, sizeof *suites);
    struct counts *counts = lb_xcalloc(n + 1, sizeof *counts), total = {0};
    int64_t took = 0;
    char time[32];

    for (size_t i = 0; i < n; i++) {
        build(runs[i], &suites[i]);
        count(&suites[i], &counts[i]);
        total.tests += counts[i].tests;
        total.failures += counts[i].failures;
        total.errors += counts[i].errors;
        total.skipped += counts[i].skipped;
        if (runs[i]->started_at >= 0 && runs[i]->ended_at >= runs[i]->started_at)
            took += runs[i]->ended_at - runs[i]->started_at;
    }
    seconds(time, sizeof time, took);
    lb_buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<testsuites name=\"lifeboat\" tests=\"%zu\" failures=\"%zu\" "
                     "errors=\"%zu\" time=\"%s\">\n",
                  total.tests, total.failures, total.errors, time);
    for (size_t i = 0; i < n; i++) {
        write_suite(b, runs[i], i, &suites[i], &counts[i]);
        suite_free(&suites[i]);
    }
    lb_buf_adds(b, "</testsuites>\n");
    free(suites);
    free(counts);
}
