/*
 * The Markdown report: one page for a post-mortem or a ticket, written so
 * that someone who was not at the drill can tell what was tested, how long
 * recovery took against the objective, whether the restored data was really
 * there, and what is still broken. GitHub-flavoured tables; every value
 * from the run is escaped, so a step name cannot break the page.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Width of the longest step's bar in the timeline. */
#define BAR_WIDTH 20
/* "█" in UTF-8. */
#define BAR_CHAR "\xe2\x96\x88"
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
 * Anything a code span cannot hold safely goes out as an escaped cell. */
static void md_code(struct lb_buf *b, const char *s, size_t max)
{
    size_t n;
    if (s == NULL || s[0] == '\0' || strpbrk(s, "`|\\\r\n") != NULL) {
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

static void fmt_wall(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else
        lb_wall_format(ms, out, n);
}

/* "HH:MM:SS" of a UTC wall time. */
static void fmt_time_of_day(int64_t ms, char *out, size_t n)
{
    int64_t r;
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    r = ms % 86400000;
    snprintf(out, n, "%02d:%02d:%02d", (int)(r / 3600000), (int)(r / 60000 % 60),
             (int)(r / 1000 % 60));
}

static void fmt_duration(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else
        lb_duration_format(ms, out, n);
}

/* Whole numbers without a fraction, others with six significant digits. */
static void fmt_number(double v, char *out, size_t n)
{
    if (isfinite(v) && v > -1e15 && v < 1e15 && v == (double)(long long)v)
        snprintf(out, n, "%lld", (long long)v);
    else
        snprintf(out, n, "%.6g", v);
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
    lb_buf_printf(b, "| %s | ", field);
    if (code)
        md_code(b, value, 0);
    else
        md_cell(b, value);
    lb_buf_adds(b, " |\n");
}

static void md_header(const struct lb_run_view *v, struct lb_buf *b)
{
    char started[40], ended[40], took[32], exit_code[16];
    size_t failed_checks = 0, counts[4] = {0};
    const char *title = v->scenario_title != NULL ? v->scenario_title : v->scenario_id;
    int audit = v->kind != NULL && strcmp(v->kind, "audit") == 0;

    lb_buf_printf(b, "# %s report: ", audit ? "Audit" : "Drill");
    md_line(b, title);
    lb_buf_adds(b, "\n\n");

    lb_buf_printf(b, "**Verdict: %s**", lb_report_verdict(v));
    if (v->exit_code >= 0)
        lb_buf_printf(b, " (exit code %d)", v->exit_code);
    lb_buf_adds(b, "\n\n");

    for (size_t i = 0; i < v->ngaps; i++)
        counts[lb_report_severity_rank(v->gaps[i].severity)]++;
    for (size_t i = 0; i < v->nchecks; i++)
        failed_checks += !v->checks[i].ok;
    lb_buf_printf(b, "%zu gap%s", v->ngaps, v->ngaps == 1 ? "" : "s");
    if (v->ngaps > 0)
        lb_buf_printf(b, " (%zu critical, %zu major, %zu minor)", counts[0], counts[1],
                      counts[2]);
    lb_buf_printf(b, "; %zu of %zu check%s failed.\n\n", failed_checks, v->nchecks,
                  v->nchecks == 1 ? "" : "s");

    if (v->error != NULL && v->error[0] != '\0') {
        lb_buf_adds(b, "The run ended with an error:\n\n");
        md_fenced(b, v->error);
    }

    fmt_wall(v->started_at, started, sizeof started);
    fmt_wall(v->ended_at, ended, sizeof ended);
    fmt_duration(v->started_at >= 0 && v->ended_at >= v->started_at
                     ? v->ended_at - v->started_at
                     : -1,
                 took, sizeof took);
    snprintf(exit_code, sizeof exit_code, "%d", v->exit_code);

    lb_buf_adds(b, "| field | value |\n|---|---|\n");
    md_fact(b, "Run", v->id, 1);
    md_fact(b, "Scenario", v->scenario_id, 1);
    md_fact(b, "Scenario file", v->scenario_file, 0);
    md_fact(b, "Scenario sha256", v->scenario_sha256, 1);
    md_fact(b, "Environment", v->environment, 0);
    md_fact(b, "Kind", v->kind, 0);
    md_fact(b, "Dry run", v->dry_run ? "yes" : "no", 0);
    md_fact(b, "Started (UTC)", started, 0);
    md_fact(b, "Ended (UTC)", ended, 0);
    md_fact(b, "Duration", took, 0);
    md_fact(b, "Operator", v->operator_name, 0);
    md_fact(b, "Host", v->host, 0);
    md_fact(b, "lifeboat version", v->version, 0);
    md_fact(b, "Exit code", v->exit_code >= 0 ? exit_code : NULL, 0);
    lb_buf_addc(b, '\n');
}

static void md_objective_row(struct lb_buf *b, const char *name, int64_t objective,
                             int64_t measured, const char *method)
{
    char target[32], got[32];
    const char *result = lb_report_objective_result(objective, measured);
    fmt_duration(objective, target, sizeof target);
    fmt_duration(measured, got, sizeof got);
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
            int64_t width = 0;
            fmt_time_of_day(st->started_at, started, sizeof started);
            fmt_duration(st->duration_ms, took, sizeof took);
            lb_buf_printf(b, "| %d | ", st->seq);
            md_cell(b, st->name);
            lb_buf_adds(b, " | ");
            md_cell(b, st->kind);
            if (st->critical)
                lb_buf_adds(b, ", critical");
            lb_buf_adds(b, " | ");
            md_cell(b, st->status);
            lb_buf_printf(b, " | %s | %s | ", started, took);
            if (longest > 0 && st->duration_ms > 0)
                width = (st->duration_ms * BAR_WIDTH + longest - 1) / longest;
            for (int64_t k = 0; k < width; k++)
                lb_buf_adds(b, BAR_CHAR);
            lb_buf_adds(b, " |\n");
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

/* The last snapshot of table in phase, or NULL. */
static const struct lb_table_stat_view *find_stat(const struct lb_run_view *v,
                                                  const char *phase,
                                                  const char *table)
{
    const struct lb_table_stat_view *found = NULL;
    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        if (ts->phase != NULL && ts->table_name != NULL &&
            strcmp(ts->phase, phase) == 0 && strcmp(ts->table_name, table) == 0)
            found = ts;
    }
    return found;
}

static int is_paired_phase(const char *phase)
{
    return phase != NULL &&
           (strcmp(phase, "baseline") == 0 || strcmp(phase, "restored") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What comparing a table's baseline with its restored copy shows. */
static const char *table_result(const struct lb_table_stat_view *base,
                                const struct lb_table_stat_view *rest)
{
    if (rest == NULL)
        return "not restored";
    if (base == NULL)
        return "no baseline";
    if (rest->rows == 0 && base->rows > 0)
        return "**EMPTY RESTORE**";
    if (rest->rows != base->rows)
        return "**rows differ**";
    if (base->fingerprint != NULL && rest->fingerprint != NULL &&
        strcmp(base->fingerprint, rest->fingerprint) != 0)
        return "**content differs**";
    if (base->fingerprint == NULL || rest->fingerprint == NULL)
        return "rows match";
    return "match";
}

static void md_table_pairs(const struct lb_run_view *v, struct lb_buf *b)
{
    const char **tables = lb_xcalloc(v->nstats + 1, sizeof *tables);
    size_t ntables = 0, nother = 0;

    for (size_t i = 0; i < v->nstats; i++) {
        const char *t = v->stats[i].table_name;
        int seen = 0;
        if (!is_paired_phase(v->stats[i].phase) || t == NULL) {
            nother++;
            continue;
        }
        for (size_t j = 0; j < ntables && !seen; j++)
            seen = strcmp(tables[j], t) == 0;
        if (!seen)
            tables[ntables++] = t;
    }
    qsort(tables, ntables, sizeof *tables, cmp_str);

    if (ntables == 0) {
        lb_buf_adds(b, "No baseline or restored table snapshots recorded.\n\n");
    } else {
        lb_buf_adds(b, "| table | baseline rows | baseline fingerprint | restored rows |"
                       " restored fingerprint | result |\n"
                       "|---|--:|---|--:|---|---|\n");
        for (size_t i = 0; i < ntables; i++) {
            const struct lb_table_stat_view *base = find_stat(v, "baseline", tables[i]);
            const struct lb_table_stat_view *rest = find_stat(v, "restored", tables[i]);
            char brows[24], rrows[24];
            fmt_rows(base != NULL ? base->rows : -1, brows, sizeof brows);
            fmt_rows(rest != NULL ? rest->rows : -1, rrows, sizeof rrows);
            lb_buf_adds(b, "| ");
            md_cell(b, tables[i]);
            lb_buf_printf(b, " | %s | ", brows);
            md_code(b, base != NULL ? base->fingerprint : NULL, FINGERPRINT_SHOWN);
            lb_buf_printf(b, " | %s | ", rrows);
            md_code(b, rest != NULL ? rest->fingerprint : NULL, FINGERPRINT_SHOWN);
            lb_buf_printf(b, " | %s |\n", table_result(base, rest));
        }
        lb_buf_printf(b, "\nFingerprints show their first %d hex characters.\n\n",
                      FINGERPRINT_SHOWN);
    }
    free(tables);

    if (nother == 0)
        return;
    lb_buf_adds(b, "Other table snapshots:\n\n"
                   "| step | phase | table | rows | fingerprint |\n"
                   "|---|---|---|--:|---|\n");
    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        char rows[24];
        if (is_paired_phase(ts->phase) && ts->table_name != NULL)
            continue;
        fmt_rows(ts->rows, rows, sizeof rows);
        lb_buf_adds(b, "| ");
        md_cell(b, step_name(v, ts->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, ts->phase);
        lb_buf_adds(b, " | ");
        md_cell(b, ts->table_name);
        lb_buf_printf(b, " | %s | ", rows);
        md_code(b, ts->fingerprint, FINGERPRINT_SHOWN);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
}

static void md_checks(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t failed = 0;
    if (v->nchecks == 0) {
        lb_buf_adds(b, "No checks recorded.\n\n");
        return;
    }
    for (size_t i = 0; i < v->nchecks; i++)
        failed += !v->checks[i].ok;
    lb_buf_printf(b, "%zu check%s, %zu failed:\n\n", v->nchecks,
                  v->nchecks == 1 ? "" : "s", failed);
    lb_buf_adds(b, "| # | step | check | table | result | expected | observed |\n"
                   "|--:|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        lb_buf_printf(b, "| %zu | ", i + 1);
        md_cell(b, step_name(v, c->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, c->name);
        lb_buf_adds(b, " | ");
        md_cell(b, c->table_name);
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
                   "| severity | category | title | detail | step |\n"
                   "|---|---|---|---|---|\n");
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[order[i]];
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
        md_cell(b, step_name(v, g->step_seq));
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
    lb_buf_adds(b, "## Metrics\n\n");
    if (v->nmetrics == 0) {
        lb_buf_adds(b, "No metrics recorded.\n\n");
        return;
    }
    lb_buf_adds(b, "| step | metric | value | unit |\n|---|---|--:|---|\n");
    for (size_t i = 0; i < v->nmetrics; i++) {
        const struct lb_metric_view *m = &v->metrics[i];
        char value[48];
        fmt_number(m->value, value, sizeof value);
        lb_buf_adds(b, "| ");
        md_cell(b, step_name(v, m->step_seq));
        lb_buf_adds(b, " | ");
        md_cell(b, m->name);
        lb_buf_printf(b, " | %s | ", value);
        md_cell(b, m->unit);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_addc(b, '\n');
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
    md_validation(v, b);
    md_gaps(v, b);
    md_rollbacks(v, b);
    md_metrics(v, b);
    md_step_output(v, b);
    lb_buf_adds(b, "---\n\nRendered from the lifeboat results store; "
                   "`lifeboat report RUN` renders it again.\n");
}
