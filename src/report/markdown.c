/*
 * The Markdown report: one page for a post-mortem or a ticket, written so
 * that someone who was not at the drill can tell what was tested, how long
 * recovery took against the objective, whether the restored data was really
 * there, and what is still broken. GitHub-flavoured tables; every value
 * from the run is escaped, so a step name cannot break the page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Width of the longest step's bar in the timeline. */
#define BAR_WIDTH 20
/* "█" in UTF-8. */
#define BAR_CHAR "\xe2\x96\x88"
/* "↳" in UTF-8, before a phase's name. */
#define PHASE_MARK "\xe2\x86\xb3"
/* Fingerprints are shown shortened; the JSON report has them whole. */
#define FINGERPRINT_SHOWN 12

/* ---- escaping -------------------------------------------------------- */

/*
 * Append s with the characters that would break a table row or inject HTML
 * escaped; line breaks become `nl`. NULL or "" appends "-".
 */
static void md_escape(struct lb_buf *b, const char *s, const char *nl)
{
    if (s == NULL || s[0] == '\0') {
        lb_buf_addc(b, '-');
        return;
    }
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '|':
            lb_buf_adds(b, "\\|");
            break;
        case '\\':
            lb_buf_adds(b, "\\\\");
            break;
        case '<':
            lb_buf_adds(b, "&lt;");
            break;
        case '>':
            lb_buf_adds(b, "&gt;");
            break;
        case '&':
            lb_buf_adds(b, "&amp;");
            break;
        case '\r':
            if (s[1] == '\n')
                s++;
            lb_buf_adds(b, nl);
            break;
        case '\n':
            lb_buf_adds(b, nl);
            break;
        default:
            lb_buf_addc(b, *s);
            break;
        }
    }
}

/* Text inside a table cell. */
static void md_cell(struct lb_buf *b, const char *s)
{
    md_escape(b, s, "<br>");
}

/* Text on one line (headings, list items). */
static void md_line(struct lb_buf *b, const char *s)
{
    md_escape(b, s, " ");
}

/* An identifier or digest as a code span, at most max bytes of it (0: all).
 * Anything a code span cannot hold safely (or that a lax renderer might
 * take for HTML) goes out as an escaped cell. */
static void md_code(struct lb_buf *b, const char *s, size_t max)
{
    size_t n;
    if (s == NULL || s[0] == '\0' || strpbrk(s, "`|\\\r\n<>&") != NULL) {
        md_cell(b, s);
        return;
    }
    n = strlen(s);
    if (max > 0 && n > max)
        n = max;
    lb_buf_addc(b, '`');
    lb_buf_add(b, s, n);
    lb_buf_addc(b, '`');
}

/* A fenced block around text: the fence is longer than any run of
 * backticks inside, so captured output cannot close it early. */
static void md_fenced(struct lb_buf *b, const char *text)
{
    size_t run = 0, longest = 0, fence, len = strlen(text);
    for (const char *p = text; *p != '\0'; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    fence = longest >= 3 ? longest + 1 : 3;
    for (size_t i = 0; i < fence; i++)
        lb_buf_addc(b, '`');
    lb_buf_adds(b, "text\n");
    lb_buf_adds(b, text);
    if (len == 0 || text[len - 1] != '\n')
        lb_buf_addc(b, '\n');
    for (size_t i = 0; i < fence; i++)
        lb_buf_addc(b, '`');
    lb_buf_adds(b, "\n\n");
}

/* ---- values ---------------------------------------------------------- */

static void fmt_time_of_day(int64_t ms, char *out, size_t n)
{
    char clock[24];
    lb_report_fmt_clock(ms, clock, sizeof clock);
    /* Whole seconds read better in a wiki table; the JSON has the millis. */
    snprintf(out, n, "%.8s", clock);
}

static void fmt_rows(int64_t rows, char *out, size_t n)
{
    if (rows < 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%lld", (long long)rows);
}

/* The name of the step a child row came from, or NULL. */
static const char *step_name(const struct lb_run_view *v, int seq)
{
    const struct lb_step_view *st = lb_report_step(v, seq);
    return st != NULL ? st->name : NULL;
}

/* ---- sections -------------------------------------------------------- */

static void md_fact(struct lb_buf *b, const char *field, const char *value, int code)
{
    lb_buf_adds(b, "| ");
    md_cell(b, field);
    lb_buf_adds(b, " | ");
    if (code)
        md_code(b, value, 0);
    else
        md_cell(b, value);
    lb_buf_adds(b, " |\n");
}

static void md_header(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t counts[4];
    const char *title = v->scenario_title != NULL ? v->scenario_title : v->scenario_id;
    int audit = v->kind != NULL && strcmp(v->kind, "audit") == 0;

    lb_buf_printf(b, "# %s report: ", audit ? "Audit" : "Drill");
    md_line(b, title);
    lb_buf_adds(b, "\n\n");

    lb_buf_printf(b, "**Verdict: %s**", lb_report_verdict(v));
    if (v->exit_code >= 0)
        lb_buf_printf(b, " (exit code %d)", v->exit_code);
    lb_buf_adds(b, "\n\n");

    lb_report_gap_counts(v, counts);
    lb_buf_printf(b, "%zu gap%s", v->ngaps, v->ngaps == 1 ? "" : "s");
    if (v->ngaps > 0)
        lb_buf_printf(b, " (%zu critical, %zu major, %zu minor)", counts[0], counts[1],
                      counts[2]);
    lb_buf_printf(b, "; %zu of %zu check%s failed.\n\n", lb_report_failed_checks(v),
                  v->nchecks, v->nchecks == 1 ? "" : "s");

    if (v->error != NULL && v->error[0] != '\0') {
        lb_buf_adds(b, "The run ended with an error:\n\n");
        md_fenced(b, v->error);
    }
}

static void md_objective_row(struct lb_buf *b, const char *name, int64_t objective,
                             int64_t measured, const char *method)
{
    char target[32], got[32];
    const char *result = lb_report_objective_result(objective, measured);
    lb_report_fmt_duration(objective, target, sizeof target);
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_buf_printf(b, "| %s | %s | %s | %s%s%s | ", name, target, got,
                  strcmp(result, "missed") == 0 ? "**" : "", result,
                  strcmp(result, "missed") == 0 ? "**" : "");
    md_cell(b, method);
    lb_buf_adds(b, " |\n");
}

static void md_objectives(const struct lb_run_view *v, struct lb_buf *b)
{
    lb_buf_adds(b, "## Objectives\n\n"
                   "| objective | target | measured | result | method |\n"
                   "|---|---|---|---|---|\n");
    md_objective_row(b, "RTO", v->rto_objective_ms, v->rto_ms,
                     "incident mark to recovered mark");
    md_objective_row(b, "RPO", v->rpo_objective_ms, v->rpo_ms, v->rpo_method);
    lb_buf_addc(b, '\n');
}

static void md_bar(struct lb_buf *b, int64_t ms, int64_t longest)
{
    int64_t width = 0;
    if (longest > 0 && ms > 0)
        width = (ms * BAR_WIDTH + longest - 1) / longest;
    for (int64_t k = 0; k < width; k++)
        lb_buf_adds(b, BAR_CHAR);
}

static void md_phase_rows(const struct lb_run_view *v, const struct lb_step_view *st,
                          int64_t longest, struct lb_buf *b)
{
    struct lb_report_phase *ph = NULL;
    size_t n = lb_report_phases(v, st->seq, &ph);
    for (size_t i = 0; i < n; i++) {
        char off[32], took[32];
        lb_report_fmt_duration(ph[i].start_ms, off, sizeof off);
        lb_report_fmt_duration(ph[i].duration_ms, took, sizeof took);
        lb_buf_printf(b, "| %d.%zu | " PHASE_MARK " ", st->seq, i + 1);
        md_cell(b, ph[i].name);
        lb_buf_printf(b, " | phase | | +%s | %s | ", off, took);
        md_bar(b, ph[i].duration_ms, longest);
        lb_buf_adds(b, " |\n");
    }
    lb_report_phases_free(ph, n);
}

static void md_timeline(const struct lb_run_view *v, struct lb_buf *b)
{
    int64_t longest = 0;
    const struct lb_mark_view *incident = lb_report_mark(v, "incident");

    lb_buf_adds(b, "## Timeline\n\n");
    if (v->nsteps == 0) {
        lb_buf_adds(b, "No steps recorded.\n\n");
    } else {
        for (size_t i = 0; i < v->nsteps; i++) {
            if (v->steps[i].duration_ms > longest)
                longest = v->steps[i].duration_ms;
        }
        lb_buf_adds(b, "| # | step | kind | status | started | duration | |\n"
                       "|--:|---|---|---|---|--:|---|\n");
        for (size_t i = 0; i < v->nsteps; i++) {
            const struct lb_step_view *st = &v->steps[i];
            char started[16], took[32];
            fmt_time_of_day(st->started_at, started, sizeof started);
            lb_report_fmt_duration(st->duration_ms, took, sizeof took);
            lb_buf_printf(b, "| %d | ", st->seq);
            md_cell(b, st->name);
            lb_buf_adds(b, " | ");
            md_cell(b, st->kind);
            if (st->critical)
                lb_buf_adds(b, ", critical");
            lb_buf_adds(b, " | ");
            md_cell(b, st->status);
            lb_buf_printf(b, " | %s | %s | ", started, took);
            md_bar(b, st->duration_ms, longest);
            lb_buf_adds(b, " |\n");
            md_phase_rows(v, st, longest, b);
        }
        lb_buf_addc(b, '\n');
    }

    if (v->nmarks == 0) {
        lb_buf_adds(b, "No marks recorded.\n\n");
        return;
    }
    lb_buf_adds(b, "| mark | at (UTC) | from incident | source |\n"
                   "|---|---|--:|---|\n");
    for (size_t i = 0; i < v->nmarks; i++) {
        const struct lb_mark_view *m = &v->marks[i];
        char at[16], offset[40] = "-";
        fmt_time_of_day(m->at, at, sizeof at);
        if (incident != NULL && m->at >= 0 && incident->at >= 0) {
            char d[32];
            lb_duration_format(m->at - incident->at, d, sizeof d);
            snprintf(offset, sizeof offset, "%s%s", m->at >= incident->at ? "+" : "", d);
        }
        lb_buf_adds(b, "| ");
        md_cell(b, m->name);
        lb_buf_printf(b, " | %s | %s | ", at, offset);
        md_cell(b, m->source);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
}

static int is_paired_phase(const char *phase)
{
    return phase != NULL &&
           (strcmp(phase, "baseline") == 0 || strcmp(phase, "restored") == 0);
}

/* A column made by lb_report_fk_text / _diff_text: bold when failed. */
static void md_checks_cell(struct lb_buf *b, const struct lb_report_table_row *r,
                           int (*text)(const struct lb_report_table_row *, struct lb_buf *))
{
    struct lb_buf t = {0};
    int failed = text(r, &t);
    if (failed)
        lb_buf_adds(b, "**");
    md_cell(b, t.data);
    if (failed)
        lb_buf_adds(b, "**");
    lb_buf_free(&t);
}

static void md_table_pairs(const struct lb_run_view *v, struct lb_buf *b)
{
    struct lb_report_table_row *rows = NULL;
    size_t ntables = lb_report_table_rows(v, &rows), nother = 0;

    for (size_t i = 0; i < v->nstats; i++)
        nother += !is_paired_phase(v->stats[i].phase) || v->stats[i].table_name == NULL;

    if (ntables == 0) {
        lb_buf_adds(b, "No baseline or restored table snapshots recorded.\n\n");
    } else {
        lb_buf_adds(b, "| table | baseline rows | baseline fingerprint | restored rows |"
                       " restored fingerprint | FK violations | sample keys (diff) |"
                       " result |\n"
                       "|---|--:|---|--:|---|--:|---|---|\n");
        for (size_t i = 0; i < ntables; i++) {
            const struct lb_report_table_row *r = &rows[i];
            char brows[24], rrows[24];
            fmt_rows(r->base != NULL ? r->base->rows : -1, brows, sizeof brows);
            fmt_rows(r->rest != NULL ? r->rest->rows : -1, rrows, sizeof rrows);
            lb_buf_adds(b, "| ");
            md_cell(b, lb_report_table_display(r->table));
            lb_buf_printf(b, " | %s | ", brows);
            md_code(b, r->base != NULL ? r->base->fingerprint : NULL, FINGERPRINT_SHOWN);
            lb_buf_printf(b, " | %s | ", rrows);
            md_code(b, r->rest != NULL ? r->rest->fingerprint : NULL, FINGERPRINT_SHOWN);
            lb_buf_adds(b, " | ");
            md_checks_cell(b, r, lb_report_fk_text);
            lb_buf_adds(b, " | ");
            md_checks_cell(b, r, lb_report_diff_text);
            lb_buf_printf(b, " | %s%s%s |\n", r->bad ? "**" : "", r->result,
                          r->bad ? "**" : "");
        }
        lb_buf_printf(b, "\nFingerprints show their first %d hex characters.\n\n",
                      FINGERPRINT_SHOWN);
    }
    lb_report_table_rows_free(rows, ntables);

    if (nother == 0)
        return;
    lb_buf_adds(b, "Other table snapshots:\n\n"
                   "| step | phase | table | rows | fingerprint |\n"
                   "|---|---|---|--:|---|\n");
    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        char nrows[24];
        if (is_paired_phase(ts->phase) && ts->table_name != NULL)
            continue;
        fmt_rows(ts->rows, nrows, sizeof nrows);
        lb_buf_adds(b, "| ");
        md_cell(b, step_name(v, ts->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, ts->phase);
        lb_buf_adds(b, " | ");
        md_cell(b, ts->table_name);
        lb_buf_printf(b, " | %s | ", nrows);
        md_code(b, ts->fingerprint, FINGERPRINT_SHOWN);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
}

static void md_checks(const struct lb_run_view *v, struct lb_buf *b)
{
    if (v->nchecks == 0) {
        lb_buf_adds(b, "No checks recorded.\n\n");
        return;
    }
    lb_buf_printf(b, "%zu check%s, %zu failed:\n\n", v->nchecks,
                  v->nchecks == 1 ? "" : "s", lb_report_failed_checks(v));
    lb_buf_adds(b, "| # | step | check | table | result | expected | observed |\n"
                   "|--:|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        lb_buf_printf(b, "| %zu | ", i + 1);
        md_cell(b, step_name(v, c->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, c->name);
        lb_buf_adds(b, " | ");
        md_cell(b, lb_report_table_display(c->table_name));
        lb_buf_printf(b, " | %s | ", c->ok ? "ok" : "**FAILED**");
        md_cell(b, c->expected);
        lb_buf_adds(b, " | ");
        md_cell(b, c->observed);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
}

static void md_validation(const struct lb_run_view *v, struct lb_buf *b)
{
    lb_buf_adds(b, "## Validation\n\n### Tables\n\n");
    md_table_pairs(v, b);
    lb_buf_adds(b, "### Checks\n\n");
    md_checks(v, b);
}

static void md_gaps(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t *order = lb_report_gap_order(v);
    lb_buf_adds(b, "## Gaps\n\n");
    if (v->ngaps == 0) {
        lb_buf_adds(b, "No gaps recorded.\n\n");
        return;
    }
    lb_buf_adds(b, "Most severe first.\n\n"
                   "| severity | category | title | detail | expected | observed | step |\n"
                   "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[order[i]];
        char *expected = NULL, *observed = NULL;
        int critical = lb_report_severity_rank(g->severity) == 0;
        lb_buf_adds(b, "| ");
        if (critical)
            lb_buf_adds(b, "**");
        md_cell(b, g->severity);
        if (critical)
            lb_buf_adds(b, "**");
        lb_buf_adds(b, " | ");
        md_cell(b, g->category);
        lb_buf_adds(b, " | ");
        md_cell(b, g->title);
        lb_buf_adds(b, " | ");
        md_cell(b, g->detail);
        lb_buf_adds(b, " | ");
        lb_report_gap_expectation(v, g, &expected, &observed);
        md_cell(b, expected);
        lb_buf_adds(b, " | ");
        md_cell(b, observed);
        free(expected);
        free(observed);
        lb_buf_adds(b, " | ");
        md_cell(b, g->step_seq < 0 ? "(run)" : step_name(v, g->step_seq));
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
    free(order);
}

static void md_rollbacks(const struct lb_run_view *v, struct lb_buf *b)
{
    lb_buf_adds(b, "## Rollbacks\n\n");
    if (v->nrollbacks == 0) {
        lb_buf_adds(b, "No rollbacks registered.\n\n");
        return;
    }
    lb_buf_adds(b, "| # | rollback | status | error |\n|--:|---|---|---|\n");
    for (size_t i = 0; i < v->nrollbacks; i++) {
        const struct lb_rollback_view *r = &v->rollbacks[i];
        int bad = r->status == NULL || strcmp(r->status, "passed") != 0;
        lb_buf_printf(b, "| %d | ", r->id);
        md_cell(b, r->name);
        lb_buf_printf(b, " | %s", bad ? "**" : "");
        md_cell(b, r->status);
        lb_buf_printf(b, "%s | ", bad ? "**" : "");
        md_cell(b, r->error);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
}

static void md_metrics(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t shown = 0;
    lb_buf_adds(b, "## Metrics\n\n");
    for (size_t i = 0; i < v->nmetrics; i++) {
        const struct lb_metric_view *m = &v->metrics[i];
        char value[48];
        if (lb_report_is_phase_metric(m->name))
            continue;
        if (shown++ == 0)
            lb_buf_adds(b, "| step | metric | value | unit |\n|---|---|--:|---|\n");
        lb_report_fmt_number(m->value, value, sizeof value);
        lb_buf_adds(b, "| ");
        md_cell(b, step_name(v, m->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, m->name);
        lb_buf_printf(b, " | %s | ", value);
        md_cell(b, m->unit);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_adds(b, shown == 0 ? "No metrics recorded (phases are in the timeline).\n\n"
                              : "\n");
}

static void md_provenance(const struct lb_run_view *v, struct lb_buf *b)
{
    char started[40], ended[40], took[32], exit_code[16];
    struct lb_report_target *targets = NULL;
    char *backups = NULL;
    size_t ntargets = lb_report_targets(v->plan_json, &targets, &backups);

    lb_report_fmt_wall(v->started_at, started, sizeof started);
    lb_report_fmt_wall(v->ended_at, ended, sizeof ended);
    lb_report_fmt_duration(v->started_at >= 0 && v->ended_at >= v->started_at
                               ? v->ended_at - v->started_at
                               : -1,
                           took, sizeof took);
    snprintf(exit_code, sizeof exit_code, "%d", v->exit_code);

    lb_buf_adds(b, "## Provenance\n\n| field | value |\n|---|---|\n");
    md_fact(b, "Run", v->id, 1);
    md_fact(b, "Scenario", v->scenario_id, 1);
    md_fact(b, "Scenario file", v->scenario_file, 0);
    md_fact(b, "Scenario sha256", v->scenario_sha256, 1);
    md_fact(b, "Environment", v->environment, 0);
    md_fact(b, "Kind", v->kind, 0);
    md_fact(b, "Dry run", v->dry_run ? "yes" : "no", 0);
    md_fact(b, "Started", started, 0);
    md_fact(b, "Ended", ended, 0);
    md_fact(b, "Duration", took, 0);
    md_fact(b, "Operator", v->operator_name, 0);
    md_fact(b, "Host", v->host, 0);
    md_fact(b, "lifeboat version", v->version, 0);
    md_fact(b, "Exit code", v->exit_code >= 0 ? exit_code : NULL, 0);
    md_fact(b, "Backups", backups, 0);
    for (size_t i = 0; i < ntargets; i++) {
        struct lb_buf text = {0};
        char *field = lb_xasprintf("Target %s", targets[i].name);
        for (size_t k = 0; k < targets[i].nfields; k++)
            lb_buf_printf(&text, "%s%s %s", k > 0 ? ", " : "", targets[i].keys[k],
                          targets[i].values[k]);
        md_fact(b, field, text.len > 0 ? text.data : "(identity not recorded)", 0);
        lb_buf_free(&text);
        free(field);
    }
    lb_buf_addc(b, '\n');
    lb_report_targets_free(targets, ntargets);
    free(backups);
}

static void md_step_output(const struct lb_run_view *v, struct lb_buf *b)
{
    int any = 0;
    lb_buf_adds(b, "## Step output\n\n");
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        int has_error = st->error != NULL && st->error[0] != '\0';
        int has_output = st->output_tail != NULL && st->output_tail[0] != '\0';
        if (!has_error && !has_output)
            continue;
        any = 1;
        lb_buf_printf(b, "### %d. ", st->seq);
        md_line(b, st->name);
        lb_buf_adds(b, " (");
        md_line(b, st->status);
        lb_buf_adds(b, ")\n\n");
        if (has_error) {
            lb_buf_adds(b, "Error:\n\n");
            md_fenced(b, st->error);
        }
        if (has_output) {
            lb_buf_adds(b, "Output (tail):\n\n");
            md_fenced(b, st->output_tail);
        }
    }
    if (!any)
        lb_buf_adds(b, "No step errors or output recorded.\n\n");
}

void lb_report_markdown(const struct lb_run_view *v, struct lb_buf *b)
{
    md_header(v, b);
    md_objectives(v, b);
    md_timeline(v, b);
    md_gaps(v, b);
    md_validation(v, b);
    md_rollbacks(v, b);
    md_metrics(v, b);
    md_provenance(v, b);
    md_step_output(v, b);
    lb_buf_adds(b, "---\n\nRendered from the lifeboat results store; "
                   "`lifeboat report RUN` renders it again.\n");
}
