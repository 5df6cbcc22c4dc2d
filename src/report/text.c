/*
 * The terminal view of a run (`lifeboat show`): a header with the verdict
 * and the objectives, the timeline as aligned columns with a bar per step on
 * a shared time axis (so waits between steps show as space), then checks,
 * gaps most severe first and rollbacks. ANSI colour only when the caller
 * says so. Text from the store never reaches the terminal raw: control
 * characters (C0, DEL, C1) and invalid UTF-8 are shown as '?' (line breaks
 * and tabs as a space), so a step name cannot move the cursor or retitle
 * the window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

#define BAR_DEFAULT 40
#define NAME_MAX_CHARS 44
#define BAR_CHAR "\xe2\x96\x88"
#define BAR_THIN "\xe2\x96\x8f"
#define MARK_CHAR "\xe2\x94\x82"
#define PHASE_MARK "\xe2\x86\xb3"
#define ELLIPSIS "\xe2\x80\xa6"

#define C_RESET "\x1b[0m"
#define C_BOLD "\x1b[1m"
#define C_DIM "\x1b[2m"
#define C_RED "\x1b[31m"
#define C_GREEN "\x1b[32m"
#define C_YELLOW "\x1b[33m"
#define C_BLUE "\x1b[34m"
#define C_MAGENTA "\x1b[35m"
#define C_CYAN "\x1b[36m"

struct out {
    struct lb_buf *b;
    int color;
};

static void color_on(struct out *o, const char *code)
{
    if (o->color && code != NULL)
        lb_buf_adds(o->b, code);
}

static void color_off(struct out *o, const char *code)
{
    if (o->color && code != NULL)
        lb_buf_adds(o->b, C_RESET);
}

/* s made safe for a terminal, cut to max characters (0: no limit) with an
 * ellipsis, padded with spaces to pad characters. Returns characters written. */
static size_t term_text(struct out *o, const char *s, size_t max, size_t pad)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "-");
    size_t total = lb_report_utf8_len((const char *)p), chars = 0;
    size_t keep = max > 0 && total > max ? max - 1 : total;

    while (*p != '\0' && chars < keep) {
        size_t n = lb_report_utf8_seq(p);
        if (n == 1 && (*p == '\n' || *p == '\t')) {
            lb_buf_addc(o->b, ' ');
            p++;
        } else if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
            (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            lb_buf_addc(o->b, '?');
            p += n > 0 ? n : 1;
        } else {
            lb_buf_add(o->b, p, n);
            p += n;
        }
        chars++;
    }
    if (keep < total) {
        lb_buf_adds(o->b, ELLIPSIS);
        chars++;
    }
    while (chars < pad) {
        lb_buf_addc(o->b, ' ');
        chars++;
    }
    return chars;
}

static void spaces(struct lb_buf *b, size_t n)
{
    while (n-- > 0)
        lb_buf_addc(b, ' ');
}

static const char *status_color(const char *status)
{
    if (status == NULL)
        return NULL;
    if (strcmp(status, "passed") == 0)
        return C_GREEN;
    if (strcmp(status, "failed") == 0 || strcmp(status, "timeout") == 0 ||
        strcmp(status, "refused") == 0 || strcmp(status, "rollback_failed") == 0 ||
        strcmp(status, "error") == 0)
        return C_RED;
    return C_YELLOW;
}

static const char *kind_color(const char *kind)
{
    static const struct {
        const char *kind, *color;
    } k[] = {{"fault", C_RED},   {"restore", C_BLUE}, {"check", C_GREEN},
             {"manual", C_MAGENTA}, {"action", C_CYAN}, {"rollback", C_YELLOW}};
    for (size_t i = 0; kind != NULL && i < sizeof k / sizeof k[0]; i++) {
        if (strcmp(kind, k[i].kind) == 0)
            return k[i].color;
    }
    return NULL;
}

static const char *severity_color(const char *severity)
{
    switch (lb_report_severity_rank(severity)) {
    case 0: return C_RED C_BOLD;
    case 1: return C_YELLOW;
    case 2: return C_CYAN;
    default: return NULL;
    }
}

static void text_header(struct out *o, const struct lb_run_view *v)
{
    struct lb_buf *b = o->b;
    char started[40], took[32];
    size_t counts[4];

    lb_buf_adds(b, "run ");
    term_text(o, v->id, 0, 0);
    lb_buf_adds(b, "  ");
    term_text(o, v->scenario_id, 0, 0);
    lb_buf_adds(b, "  ");
    term_text(o, v->scenario_title, 0, 0);
    lb_buf_addc(b, '\n');

    lb_report_fmt_wall(v->started_at, started, sizeof started);
    lb_report_fmt_duration(v->started_at >= 0 && v->ended_at >= v->started_at
                               ? v->ended_at - v->started_at
                               : -1,
                           took, sizeof took);
    color_on(o, C_BOLD);
    color_on(o, status_color(v->status));
    lb_buf_adds(b, lb_report_verdict(v));
    color_off(o, C_BOLD);
    lb_buf_printf(b, " (exit %d)  started %s  took %s  environment ", v->exit_code, started,
                  took);
    term_text(o, v->environment, 0, 0);
    lb_buf_addc(b, '\n');

    for (int i = 0; i < 2; i++) {
        int64_t obj = i == 0 ? v->rto_objective_ms : v->rpo_objective_ms;
        int64_t got = i == 0 ? v->rto_ms : v->rpo_ms;
        const char *result = lb_report_objective_result(obj, got);
        int missed = strcmp(result, "missed") == 0;
        char g[32], t[32];
        lb_report_fmt_duration(got, g, sizeof g);
        lb_report_fmt_duration(obj, t, sizeof t);
        lb_buf_printf(b, "%s %8s  objective %8s  ", i == 0 ? "RTO" : "RPO", g, t);
        color_on(o, missed ? C_RED C_BOLD : strcmp(result, "met") == 0 ? C_GREEN : NULL);
        lb_buf_adds(b, result);
        color_off(o, missed || strcmp(result, "met") == 0 ? C_RESET : NULL);
        if (i == 1 && v->rpo_method != NULL) {
            lb_buf_adds(b, "  (");
            term_text(o, v->rpo_method, 0, 0);
            lb_buf_addc(b, ')');
        }
        lb_buf_addc(b, '\n');
    }
    lb_report_gap_counts(v, counts);
    lb_buf_printf(b, "gaps %zu (critical %zu, major %zu, minor %zu)  checks %zu of %zu failed\n",
                  v->ngaps, counts[0], counts[1], counts[2], lb_report_failed_checks(v),
                  v->nchecks);
    if (v->error != NULL && v->error[0] != '\0') {
        color_on(o, C_RED);
        lb_buf_adds(b, "error: ");
        term_text(o, v->error, 0, 0);
        color_off(o, C_RED);
        lb_buf_addc(b, '\n');
    }
}

/* The bar of [from, to) on the axis: spaces up to its column, then blocks. */
static void bar(struct out *o, const struct lb_report_axis *ax, int64_t from, int64_t to,
                const char *color)
{
    int c0, c1, width = (int)(ax->x1 - ax->x0);
    if (from < 0)
        return;
    c0 = (int)lb_report_axis_x(ax, from);
    c1 = (int)(lb_report_axis_x(ax, to) + 0.5);
    if (c0 >= width)
        c0 = width - 1;
    if (c1 > width)
        c1 = width;
    if (c1 <= c0)
        c1 = c0 + 1;
    spaces(o->b, (size_t)c0);
    color_on(o, color);
    for (int k = c0; k < c1; k++)
        lb_buf_adds(o->b, BAR_CHAR);
    color_off(o, color);
}

static void text_timeline(struct out *o, const struct lb_run_view *v, int width)
{
    struct lb_buf *b = o->b;
    struct lb_report_axis ax;
    int64_t t0, t1;
    size_t namew = 4;
    char clock[24], span[32];

    lb_buf_adds(b, "\ntimeline");
    if (v->nsteps == 0) {
        lb_buf_adds(b, ": no steps recorded\n");
        return;
    }
    lb_report_span(v, &t0, &t1);
    if (t0 < 0) {
        t0 = 0;
        t1 = 1;
    }
    lb_report_axis_init(&ax, t0, t1, 0, width, 1);
    lb_report_fmt_clock(t0, clock, sizeof clock);
    lb_duration_format(t1 - t0, span, sizeof span);
    lb_buf_printf(b, " (from %s UTC; the bars span %s)\n", clock, span);
    for (size_t i = 0; i < v->nsteps; i++) {
        size_t n = lb_report_utf8_len(v->steps[i].name != NULL ? v->steps[i].name : "-");
        if (n > namew)
            namew = n;
    }
    if (namew > NAME_MAX_CHARS)
        namew = NAME_MAX_CHARS;
    lb_buf_adds(b, "   #  kind     ");
    term_text(o, "step", 0, namew);
    lb_buf_adds(b, "  status         start   duration\n");

    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        char start[40] = "-", took[32];
        struct lb_report_phase *ph = NULL;
        size_t nph;
        int64_t end;
        if (st->started_at >= 0) {
            char d[32];
            lb_duration_format(st->started_at - t0, d, sizeof d);
            snprintf(start, sizeof start, "+%s", d);
        }
        lb_report_fmt_duration(st->duration_ms, took, sizeof took);
        lb_buf_printf(b, "%4d  ", st->seq);
        color_on(o, kind_color(st->kind));
        term_text(o, st->kind, 8, 8);
        color_off(o, kind_color(st->kind));
        lb_buf_addc(b, ' ');
        term_text(o, st->name, namew, namew);
        lb_buf_adds(b, "  ");
        color_on(o, status_color(st->status));
        term_text(o, st->status, 11, 11);
        color_off(o, status_color(st->status));
        lb_buf_printf(b, " %8s %10s  ", start, took);
        end = st->ended_at >= st->started_at ? st->ended_at
              : st->duration_ms >= 0        ? st->started_at + st->duration_ms
                                            : t1;
        bar(o, &ax, st->started_at, end, status_color(st->status));
        lb_buf_addc(b, '\n');
        if (st->error != NULL && st->error[0] != '\0' &&
            (st->status == NULL || strcmp(st->status, "passed") != 0)) {
            lb_buf_adds(b, "        ");
            color_on(o, C_RED);
            term_text(o, st->error, 100, 0);
            color_off(o, C_RED);
            lb_buf_addc(b, '\n');
        }
        nph = lb_report_phases(v, st->seq, &ph);
        for (size_t k = 0; k < nph; k++) {
            char pstart[40], pd[32], d[32];
            lb_duration_format(ph[k].start_ms, d, sizeof d);
            snprintf(pstart, sizeof pstart, "+%s", d);
            lb_duration_format(ph[k].duration_ms, pd, sizeof pd);
            lb_buf_adds(b, "      " PHASE_MARK " phase   ");
            term_text(o, ph[k].name, namew > 2 ? namew - 2 : namew, namew);
            lb_buf_printf(b, "  %-11s %8s %10s  ", "", pstart, pd);
            if (st->started_at >= 0)
                bar(o, &ax, st->started_at + ph[k].start_ms,
                    st->started_at + ph[k].start_ms + ph[k].duration_ms, C_DIM);
            lb_buf_addc(b, '\n');
        }
        lb_report_phases_free(ph, nph);
    }
    for (size_t i = 0; i < v->nmarks; i++) {
        const struct lb_mark_view *m = &v->marks[i];
        char at[40] = "-";
        int col;
        if (m->at >= 0) {
            char d[32];
            lb_duration_format(m->at - t0, d, sizeof d);
            snprintf(at, sizeof at, "+%s", d);
        }
        lb_buf_adds(b, "      mark     ");
        term_text(o, m->name, namew, namew);
        lb_buf_adds(b, "  ");
        term_text(o, m->source, 11, 11);
        lb_buf_printf(b, " %8s %10s  ", at, "");
        if (m->at >= 0) {
            col = (int)lb_report_axis_x(&ax, m->at);
            if (col >= width)
                col = width - 1;
            spaces(b, (size_t)col);
            color_on(o, C_BOLD);
            lb_buf_adds(b, MARK_CHAR);
            color_off(o, C_BOLD);
        }
        lb_buf_addc(b, '\n');
    }
}

static void text_checks(struct out *o, const struct lb_run_view *v)
{
    size_t namew = 4;
    if (v->nchecks == 0)
        return;
    for (size_t i = 0; i < v->nchecks; i++) {
        size_t n = lb_report_utf8_len(v->checks[i].name != NULL ? v->checks[i].name : "-");
        if (n > namew)
            namew = n;
    }
    if (namew > NAME_MAX_CHARS)
        namew = NAME_MAX_CHARS;
    lb_buf_printf(o->b, "\nchecks (%zu, %zu failed)\n", v->nchecks, lb_report_failed_checks(v));
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        lb_buf_adds(o->b, "  ");
        color_on(o, c->ok ? C_GREEN : C_RED C_BOLD);
        lb_buf_adds(o->b, c->ok ? "ok    " : "FAILED");
        color_off(o, C_RESET);
        lb_buf_addc(o->b, ' ');
        term_text(o, c->name, namew, namew);
        lb_buf_adds(o->b, "  expected ");
        term_text(o, c->expected, 40, 0);
        lb_buf_adds(o->b, ", observed ");
        term_text(o, c->observed, 40, 0);
        lb_buf_addc(o->b, '\n');
    }
}

static void text_gaps(struct out *o, const struct lb_run_view *v)
{
    size_t *order = lb_report_gap_order(v);
    lb_buf_printf(o->b, "\ngaps (%zu, most severe first)\n", v->ngaps);
    if (v->ngaps == 0)
        lb_buf_adds(o->b, "  none\n");
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[order[i]];
        const struct lb_step_view *st = lb_report_step(v, g->step_seq);
        char *expected = NULL, *observed = NULL;
        lb_buf_adds(o->b, "  ");
        color_on(o, severity_color(g->severity));
        lb_buf_addc(o->b, '[');
        term_text(o, g->severity, 10, 0);
        lb_buf_addc(o->b, ']');
        color_off(o, severity_color(g->severity));
        lb_buf_addc(o->b, ' ');
        term_text(o, g->category, 20, 0);
        lb_buf_adds(o->b, ": ");
        term_text(o, g->title, 0, 0);
        lb_buf_adds(o->b, "  (step: ");
        term_text(o, st != NULL ? st->name : "the run", 0, 0);
        lb_buf_adds(o->b, ")\n");
        if (g->detail != NULL && g->detail[0] != '\0') {
            lb_buf_adds(o->b, "      ");
            term_text(o, g->detail, 0, 0);
            lb_buf_addc(o->b, '\n');
        }
        lb_report_gap_expectation(v, g, &expected, &observed);
        /* The engine's check gaps already say it in their detail. */
        if ((expected != NULL || observed != NULL) &&
            !(g->detail != NULL && observed != NULL && strstr(g->detail, observed) != NULL)) {
            lb_buf_adds(o->b, "      expected ");
            term_text(o, expected, 60, 0);
            lb_buf_adds(o->b, ", observed ");
            term_text(o, observed, 60, 0);
            lb_buf_addc(o->b, '\n');
        }
        free(expected);
        free(observed);
    }
    free(order);
}

static void text_rollbacks(struct out *o, const struct lb_run_view *v)
{
    if (v->nrollbacks == 0)
        return;
    lb_buf_adds(o->b, "\nrollbacks\n");
    for (size_t i = 0; i < v->nrollbacks; i++) {
        const struct lb_rollback_view *r = &v->rollbacks[i];
        lb_buf_adds(o->b, "  ");
        color_on(o, status_color(r->status));
        term_text(o, r->status, 10, 10);
        color_off(o, status_color(r->status));
        lb_buf_addc(o->b, ' ');
        term_text(o, r->name, 0, 0);
        if (r->error != NULL) {
            lb_buf_adds(o->b, ": ");
            term_text(o, r->error, 0, 0);
        }
        lb_buf_addc(o->b, '\n');
    }
}

void lb_report_text(const struct lb_run_view *v, const struct lb_report_text_opts *opts,
                    struct lb_buf *b)
{
    struct out o = {b, opts != NULL && opts->color};
    int width = opts != NULL && opts->bar_width > 0 ? opts->bar_width : BAR_DEFAULT;

    text_header(&o, v);
    text_timeline(&o, v, width);
    text_checks(&o, v);
    text_gaps(&o, v);
    text_rollbacks(&o, v);
}
