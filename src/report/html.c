/*
 * The HTML report: the page a team reads in the post-mortem, minutes after
 * the drill. One self-contained file: inline CSS and SVG, no script at all
 * (folding is <details>), readable offline and when printed to PDF.
 *
 * Sections, in the order a post-mortem asks its questions: the verdict
 * banner (RTO/RPO against objectives, gaps by severity), the timeline as a
 * Gantt chart on a real time axis with exact times below it, the gaps most
 * severe first, the validation table, rollbacks, metrics, provenance, and
 * each step's output folded.
 *
 * Stable class names for tools and tests: every step is one
 * <rect class="bar step-<kind> status-<status>">, every gap one
 * <li class="gap gap-<severity>">, every mark one <line class="mark mark-<name>">.
 * Every value from the store goes through lb_report_xml_text/_attr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Geometry of the Gantt chart (SVG user units, rendered 1:1 on screen). */
#define G_WIDTH 1100
#define G_LABEL_X 8
#define G_X0 300.0
#define G_X1 1040.0
#define G_TOP 40
/* Room under the rows for the tick labels. */
#define G_AXIS 22
#define G_ROW 26
#define G_BAR 14
#define G_PHASE 5
#define G_LABEL_CHARS 40
#define G_TICKS 8
/* Fingerprints shown in the validation table; the title has them whole. */
#define FP_SHOWN 16

static const char *const css[] = {
    ":root{--fg:#1d2125;--muted:#5f6b76;--line:#dfe3e8;--bg:#fff;--zebra:#f6f8fa;",
    "--ok:#2b8a3e;--bad:#c92a2a;--warn:#e67700;--info:#1c7ed6}",
    "*{box-sizing:border-box}",
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,",
    "'DejaVu Sans',sans-serif;color:var(--fg);background:var(--bg)}",
    "main,header.banner>div{max-width:1180px;margin:0 auto;padding:0 20px}",
    "h1{font-size:24px;margin:4px 0}h2{font-size:18px;margin:28px 0 10px;",
    "border-bottom:2px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}",
    "code,pre,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}",
    "pre{background:var(--zebra);border:1px solid var(--line);padding:8px;overflow:auto;",
    "white-space:pre-wrap;word-break:break-word;margin:6px 0}",
    "table{border-collapse:collapse;width:100%;margin:6px 0 12px}",
    "th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;",
    "vertical-align:top}th{background:var(--zebra);font-weight:600}",
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}",
    "tr.phase-row td{color:var(--muted);font-size:12px}tr.phase-row td.step{padding-left:28px}",
    ".banner{color:#fff;padding:18px 0 16px;-webkit-print-color-adjust:exact;",
    "print-color-adjust:exact}",
    ".verdict-passed{background:#2b8a3e}.verdict-failed{background:#c92a2a}",
    ".verdict-rollback-failed{background:#7a1010}.verdict-interrupted{background:#d9480f}",
    ".verdict-other{background:#495057}",
    ".banner .verdict{font-size:30px;font-weight:800;letter-spacing:.04em}",
    ".banner .sub{opacity:.92;margin:2px 0 12px}.banner code{color:#fff}",
    ".kpis{display:flex;flex-wrap:wrap;gap:10px}",
    ".kpi{background:rgba(255,255,255,.14);border:1px solid rgba(255,255,255,.35);",
    "border-radius:6px;padding:8px 12px;min-width:190px}",
    ".kpi .label{display:block;font-size:12px;text-transform:uppercase;opacity:.85}",
    ".kpi .value{display:block;font-size:22px;font-weight:700}",
    ".kpi .target{display:block;font-size:12px}",
    ".kpi.objective-missed{background:rgba(0,0,0,.28);border-color:#fff}",
    ".banner pre{background:rgba(0,0,0,.25);color:#fff;border-color:rgba(255,255,255,.3)}",
    ".sev{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;",
    "font-weight:700;color:#fff;-webkit-print-color-adjust:exact;print-color-adjust:exact}",
    ".sev-critical{background:#c92a2a}.sev-major{background:#e67700}",
    ".sev-minor{background:#1c7ed6}.sev-other{background:#868e96}",
    ".banner .sev{border:1px solid rgba(255,255,255,.6)}",
    "svg.gantt{width:100%;height:auto;max-width:1100px;display:block;",
    "-webkit-print-color-adjust:exact;print-color-adjust:exact}",
    "svg.gantt text{font:12px system-ui,'DejaVu Sans',sans-serif;fill:#1d2125}",
    "svg.gantt .tick-label,svg.gantt .dur{fill:#5f6b76;font-size:11px}",
    "svg.gantt .grid{stroke:#e9ecef;stroke-width:1}svg.gantt .row-odd{fill:#f8f9fa}",
    "svg.gantt .dur.in{fill:#fff;font-weight:600}",
    ".bar{stroke:none}.step-fault{fill:#e8590c}.step-restore{fill:#1c7ed6}",
    ".step-check{fill:#2b8a3e}.step-manual{fill:#9c36b5}.step-action{fill:#5c7cfa}",
    ".step-rollback{fill:#f59f00}.step-other{fill:#868e96}",
    ".bar.status-failed,.bar.status-timeout,.bar.status-refused{stroke:#7a1010;",
    "stroke-width:2}",
    ".bar.status-skipped,.bar.status-pending,.bar.status-interrupted,.bar.status-running",
    "{fill-opacity:.35;stroke:#495057;stroke-dasharray:3 2;stroke-width:1}",
    ".hatch{fill:url(#lb-hatch);pointer-events:none}",
    ".phase{fill-opacity:.9}.phase-0{fill:#364fc7}.phase-1{fill:#0ca678}",
    ".phase-2{fill:#f76707}.phase-3{fill:#ae3ec9}",
    ".mark{stroke-width:2;stroke-dasharray:6 3}.mark-incident{stroke:#c92a2a}",
    ".mark-detected{stroke:#e67700}.mark-recovered{stroke:#2b8a3e}.mark-other{stroke:#495057}",
    "svg.gantt .mark-label{font-weight:700;font-size:11px}",
    ".legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:14px;",
    "font-size:12px;color:var(--muted)}.legend i{display:inline-block;width:14px;",
    "height:10px;margin-right:4px;vertical-align:middle;-webkit-print-color-adjust:exact;",
    "print-color-adjust:exact}",
    ".sw-fault{background:#e8590c}.sw-restore{background:#1c7ed6}",
    ".sw-check{background:#2b8a3e}.sw-manual{background:#9c36b5}",
    ".sw-action{background:#5c7cfa}.sw-rollback{background:#f59f00}",
    ".sw-failed{background:repeating-linear-gradient(45deg,#1c7ed6 0 3px,#9cc6f0 3px 6px);",
    "outline:2px solid #7a1010}.sw-notrun{background:#d0d7de;outline:1px dashed #495057}",
    "ol.gaps{list-style:none;padding:0;margin:0}",
    "li.gap{border:1px solid var(--line);border-left:6px solid #868e96;border-radius:4px;",
    "padding:8px 12px;margin:8px 0;break-inside:avoid}",
    "li.gap-critical{border-left-color:#c92a2a}li.gap-major{border-left-color:#e67700}",
    "li.gap-minor{border-left-color:#1c7ed6}",
    ".gap-title{font-size:15px}.gap .cat{color:var(--muted);margin:0 6px}",
    "dl.gap-facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0 0}",
    "dl.gap-facts dt{color:var(--muted)}dl.gap-facts dd{margin:0;white-space:pre-wrap;",
    "word-break:break-word}",
    "td.bad,span.bad{color:var(--bad);font-weight:700}td.ok{color:var(--ok)}",
    "details{border:1px solid var(--line);border-radius:4px;margin:6px 0;padding:4px 10px}",
    "details>summary{cursor:pointer;font-weight:600}",
    "details.failed>summary{color:var(--bad)}",
    ".none{color:var(--muted);font-style:italic}",
    "footer{color:var(--muted);font-size:12px;max-width:1180px;margin:30px auto;padding:0 20px}",
    "@page{size:A4 landscape;margin:12mm}",
    "@media print{body{font-size:10pt}main,header.banner>div{max-width:none}",
    "h2{break-after:avoid}tr,li.gap,svg.gantt{break-inside:avoid}",
    "details{border:none;padding:0}details>summary{list-style:none}",
    "details::details-content{content-visibility:visible;display:contents}}",
};

/* ---- small writers ----------------------------------------------------- */

static void text(struct lb_buf *b, const char *s)
{
    lb_report_xml_text(b, s);
}

/* s, or a muted dash for nothing. */
static void text_or_dash(struct lb_buf *b, const char *s)
{
    if (s == NULL || s[0] == '\0')
        lb_buf_adds(b, "<span class=\"none\">-</span>");
    else
        text(b, s);
}

static void attr(struct lb_buf *b, const char *s)
{
    lb_report_xml_attr(b, s);
}

/* At most max characters of s, with an ellipsis when cut. */
static void text_cut(struct lb_buf *b, const char *s, size_t max)
{
    size_t n;
    char *part;
    if (s == NULL)
        return;
    n = lb_report_utf8_prefix(s, max);
    if (s[n] == '\0') {
        text(b, s);
        return;
    }
    part = lb_xstrndup(s, lb_report_utf8_prefix(s, max > 1 ? max - 1 : max));
    text(b, part);
    lb_buf_adds(b, "\xe2\x80\xa6");
    free(part);
}

static const char *kind_class(const char *kind)
{
    static const char *const known[] = {"fault", "restore", "check", "manual", "action",
                                        "rollback"};
    for (size_t i = 0; kind != NULL && i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(kind, known[i]) == 0)
            return known[i];
    }
    return "other";
}

static const char *mark_class(const char *name)
{
    static const char *const known[] = {"incident", "detected", "recovered"};
    for (size_t i = 0; name != NULL && i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(name, known[i]) == 0)
            return known[i];
    }
    return "other";
}

static const char *severity_class(const char *severity)
{
    static const char *const names[] = {"critical", "major", "minor", "other"};
    return names[lb_report_severity_rank(severity)];
}

static const char *verdict_class(const struct lb_run_view *v)
{
    const char *s = v->status != NULL ? v->status : "";
    if (strcmp(s, "passed") == 0)
        return "verdict-passed";
    if (strcmp(s, "failed") == 0 || strcmp(s, "error") == 0 || strcmp(s, "refused") == 0)
        return "verdict-failed";
    if (strcmp(s, "rollback_failed") == 0)
        return "verdict-rollback-failed";
    if (strcmp(s, "interrupted") == 0 || strcmp(s, "aborted") == 0)
        return "verdict-interrupted";
    return "verdict-other";
}

static int status_bad(const char *status)
{
    return status != NULL && (strcmp(status, "failed") == 0 || strcmp(status, "timeout") == 0 ||
                              strcmp(status, "refused") == 0);
}

/* "+1m05s" from base, or "-" when either is unset. */
static void fmt_offset(int64_t t, int64_t base, char *out, size_t n)
{
    char d[32];
    if (t < 0 || base < 0) {
        snprintf(out, n, "-");
        return;
    }
    lb_duration_format(t >= base ? t - base : base - t, d, sizeof d);
    snprintf(out, n, "%s%s", t >= base ? "+" : "-", d);
}

/* ---- banner ------------------------------------------------------------ */

static void kpi_objective(struct lb_buf *b, const char *name, int64_t objective,
                          int64_t measured, const char *method)
{
    char got[32], target[32];
    const char *result = lb_report_objective_result(objective, measured);
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_report_fmt_duration(objective, target, sizeof target);
    lb_buf_printf(b, "<div class=\"kpi objective-%s\"><span class=\"label\">%s</span>"
                     "<span class=\"value\">%s</span><span class=\"target\">objective %s"
                     " &middot; <strong>%s</strong></span>",
                  strcmp(result, "missed") == 0 ? "missed" : "ok", name, got, target, result);
    if (method != NULL && method[0] != '\0') {
        lb_buf_adds(b, "<span class=\"target\">");
        text(b, method);
        lb_buf_adds(b, "</span>");
    }
    lb_buf_adds(b, "</div>\n");
}

static void html_banner(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t counts[4];
    char started[40], took[32];
    const char *title = v->scenario_title != NULL ? v->scenario_title : v->scenario_id;
    int audit = v->kind != NULL && strcmp(v->kind, "audit") == 0;

    lb_report_gap_counts(v, counts);
    lb_report_fmt_wall(v->started_at, started, sizeof started);
    lb_report_fmt_duration(v->started_at >= 0 && v->ended_at >= v->started_at
                               ? v->ended_at - v->started_at
                               : -1,
                           took, sizeof took);

    lb_buf_printf(b, "<header class=\"banner %s\"><div>\n", verdict_class(v));
    lb_buf_printf(b, "<div class=\"verdict\">%s</div>\n", lb_report_verdict(v));
    lb_buf_printf(b, "<h1>%s report: ", audit ? "Audit" : "Drill");
    text(b, title);
    lb_buf_adds(b, "</h1>\n<p class=\"sub\">scenario <code>");
    text(b, v->scenario_id);
    lb_buf_adds(b, "</code> &middot; run <code>");
    text(b, v->id);
    lb_buf_printf(b, "</code> &middot; started %s &middot; took %s &middot; environment ",
                  started, took);
    text_or_dash(b, v->environment);
    if (v->exit_code >= 0)
        lb_buf_printf(b, " &middot; exit code %d", v->exit_code);
    lb_buf_adds(b, "</p>\n<div class=\"kpis\">\n");
    kpi_objective(b, "RTO", v->rto_objective_ms, v->rto_ms, "incident to recovered");
    kpi_objective(b, "RPO", v->rpo_objective_ms, v->rpo_ms, v->rpo_method);
    lb_buf_printf(b, "<div class=\"kpi gaps\"><span class=\"label\">Gaps</span>"
                     "<span class=\"value\">%zu</span><span class=\"target\">"
                     "<span class=\"sev sev-critical\">%zu critical</span> "
                     "<span class=\"sev sev-major\">%zu major</span> "
                     "<span class=\"sev sev-minor\">%zu minor</span></span></div>\n",
                  v->ngaps, counts[0], counts[1], counts[2]);
    lb_buf_printf(b, "<div class=\"kpi checks\"><span class=\"label\">Checks</span>"
                     "<span class=\"value\">%zu / %zu</span><span class=\"target\">"
                     "failed / recorded</span></div>\n",
                  lb_report_failed_checks(v), v->nchecks);
    lb_buf_adds(b, "</div>\n");
    if (v->error != NULL && v->error[0] != '\0') {
        lb_buf_adds(b, "<pre class=\"run-error\">");
        text(b, v->error);
        lb_buf_adds(b, "</pre>\n");
    }
    lb_buf_adds(b, "</div></header>\n");
}

/* ---- timeline ---------------------------------------------------------- */

static void svg_axis(const struct lb_report_axis *ax, int height, struct lb_buf *b)
{
    for (int64_t t = ax->t0; t <= ax->t1; t += ax->tick) {
        double x = lb_report_axis_x(ax, t);
        char label[40];
        if (t == ax->t0) {
            char clock[24];
            lb_report_fmt_clock(t, clock, sizeof clock);
            snprintf(label, sizeof label, "%.8s UTC", clock);
        } else {
            fmt_offset(t, ax->t0, label, sizeof label);
        }
        lb_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                         "<text class=\"tick-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">"
                         "%s</text>\n",
                      x, G_TOP - 4, x, height - G_AXIS, x, height - 6,
                      t == ax->t0 ? "start" : "middle", label);
    }
}

static void svg_step(const struct lb_run_view *v, const struct lb_step_view *st, size_t row,
                     const struct lb_report_axis *ax, struct lb_buf *b)
{
    int y = G_TOP + (int)row * G_ROW;
    int by = y + 4;
    double x0, x1;
    int64_t end;
    char took[32], from[24], to[24];
    struct lb_report_phase *ph = NULL;
    size_t nph;

    if (row % 2 == 1)
        lb_buf_printf(b, "<rect class=\"row-odd\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                      y, G_WIDTH, G_ROW);
    lb_buf_printf(b, "<text class=\"label\" x=\"%d\" y=\"%d\">%d &#183; ", G_LABEL_X,
                  by + G_BAR - 2, st->seq);
    text_cut(b, st->name, G_LABEL_CHARS);
    lb_buf_adds(b, "<title>");
    text(b, st->name);
    lb_buf_adds(b, "</title></text>\n");

    lb_report_fmt_duration(st->duration_ms, took, sizeof took);
    lb_report_fmt_clock(st->started_at, from, sizeof from);
    if (st->started_at < 0) {
        x0 = x1 = G_X0;
    } else {
        end = st->ended_at >= st->started_at ? st->ended_at
              : st->duration_ms >= 0        ? st->started_at + st->duration_ms
                                            : ax->t1;
        x0 = lb_report_axis_x(ax, st->started_at);
        x1 = lb_report_axis_x(ax, end);
        if (x1 - x0 < 2.0)
            x1 = x0 + 2.0;
    }
    lb_report_fmt_clock(st->ended_at, to, sizeof to);

    lb_buf_adds(b, "<rect class=\"bar step-");
    lb_buf_adds(b, kind_class(st->kind));
    lb_buf_adds(b, " status-");
    lb_report_class_token(b, st->status);
    lb_buf_printf(b, "\" data-seq=\"%d\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                     "rx=\"2\"><title>%d ",
                  st->seq, x0, by, x1 - x0, G_BAR, st->seq);
    text(b, st->name);
    lb_buf_adds(b, " (");
    text(b, st->kind);
    lb_buf_adds(b, ", ");
    text(b, st->status);
    lb_buf_printf(b, "): %s, %s to %s UTC</title></rect>", took, from, to);
    if (status_bad(st->status))
        lb_buf_printf(b, "<rect class=\"hatch\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                         "height=\"%d\"/>",
                      x0, by, x1 - x0, G_BAR);
    if (st->started_at < 0)
        lb_buf_printf(b, "<text class=\"dur\" x=\"%.1f\" y=\"%d\">not run (", x0 + 4,
                      by + G_BAR - 3);
    else if (x1 < G_X1 - 120)    /* after the bar */
        lb_buf_printf(b, "<text class=\"dur\" x=\"%.1f\" y=\"%d\">%s (", x1 + 4,
                      by + G_BAR - 3, took);
    else if (x1 - x0 > 130)      /* inside it */
        lb_buf_printf(b, "<text class=\"dur in\" x=\"%.1f\" y=\"%d\" "
                         "text-anchor=\"end\">%s (",
                      x1 - 4, by + G_BAR - 3, took);
    else                         /* before it */
        lb_buf_printf(b, "<text class=\"dur\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">%s (",
                      x0 - 4, by + G_BAR - 3, took);
    text(b, st->status);
    lb_buf_adds(b, ")</text>\n");

    nph = lb_report_phases(v, st->seq, &ph);
    for (size_t i = 0; i < nph && st->started_at >= 0; i++) {
        double px0 = lb_report_axis_x(ax, st->started_at + ph[i].start_ms);
        double px1 = lb_report_axis_x(ax, st->started_at + ph[i].start_ms + ph[i].duration_ms);
        char d[32];
        if (px1 - px0 < 1.5)
            px1 = px0 + 1.5;
        lb_duration_format(ph[i].duration_ms, d, sizeof d);
        lb_buf_printf(b, "<rect class=\"phase phase-%zu\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                         "height=\"%d\"><title>phase ",
                      i % 4, px0, by + G_BAR + 1, px1 - px0, G_PHASE);
        text(b, ph[i].name);
        lb_buf_printf(b, ": %s, from +%lldms</title></rect>\n", d,
                      (long long)ph[i].start_ms);
    }
    lb_report_phases_free(ph, nph);
}

static void svg_marks(const struct lb_run_view *v, const struct lb_report_axis *ax,
                      int height, struct lb_buf *b)
{
    for (size_t i = 0; i < v->nmarks; i++) {
        const struct lb_mark_view *m = &v->marks[i];
        double x;
        char at[24];
        if (m->at < 0)
            continue;
        x = lb_report_axis_x(ax, m->at);
        lb_report_fmt_clock(m->at, at, sizeof at);
        lb_buf_printf(b, "<line class=\"mark mark-%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                         "y2=\"%d\"><title>",
                      mark_class(m->name), x, 4 + (int)(i % 3) * 11, x, height - G_AXIS);
        text(b, m->name);
        lb_buf_printf(b, " at %s UTC</title></line>", at);
        lb_buf_printf(b, "<text class=\"mark-label\" x=\"%.1f\" y=\"%d\"%s>",
                      x + (x > G_X1 - 80 ? -4 : 4), 12 + (int)(i % 3) * 11,
                      x > G_X1 - 80 ? " text-anchor=\"end\"" : "");
        text_cut(b, m->name, 24);
        lb_buf_adds(b, "</text>\n");
    }
}

static void html_gantt(const struct lb_run_view *v, struct lb_buf *b)
{
    struct lb_report_axis ax;
    int64_t t0, t1;
    int height = G_TOP + (int)v->nsteps * G_ROW + G_AXIS + 4;

    lb_report_span(v, &t0, &t1);
    if (t0 < 0) {
        t0 = 0;
        t1 = 1000;
    }
    lb_report_axis_init(&ax, t0, t1, G_X0, G_X1, G_TICKS);
    lb_buf_printf(b, "<svg class=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" "
                     "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
                     "aria-label=\"Timeline of %zu steps\">\n",
                  G_WIDTH, height, G_WIDTH, height, v->nsteps);
    lb_buf_adds(b, "<defs><pattern id=\"lb-hatch\" width=\"6\" height=\"6\" "
                   "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                   "<rect width=\"3\" height=\"6\" fill=\"#fff\" fill-opacity=\"0.5\"/>"
                   "</pattern></defs>\n");
    for (size_t i = 0; i < v->nsteps; i++)
        svg_step(v, &v->steps[i], i, &ax, b);
    svg_axis(&ax, height, b);
    svg_marks(v, &ax, height, b);
    lb_buf_adds(b, "</svg>\n");
    lb_buf_adds(b, "<ul class=\"legend\"><li><i class=\"sw-fault\"></i>fault</li>"
                   "<li><i class=\"sw-restore\"></i>restore</li>"
                   "<li><i class=\"sw-check\"></i>check</li>"
                   "<li><i class=\"sw-manual\"></i>manual</li>"
                   "<li><i class=\"sw-action\"></i>action</li>"
                   "<li><i class=\"sw-rollback\"></i>rollback</li>"
                   "<li><i class=\"sw-failed\"></i>failed / timed out (hatched)</li>"
                   "<li><i class=\"sw-notrun\"></i>skipped / not run / interrupted</li>"
                   "<li>thin bars under a step: its phases</li>"
                   "<li>dashed lines: incident (red), detected (amber), recovered (green)"
                   "</li></ul>\n");
}

static void html_times(const struct lb_run_view *v, struct lb_buf *b)
{
    const struct lb_mark_view *incident = lb_report_mark(v, "incident");
    int64_t base = incident != NULL ? incident->at : v->started_at;

    lb_buf_printf(b, "<h3>Exact times (UTC)</h3>\n<table class=\"times\"><thead><tr>"
                     "<th class=\"num\">#</th><th>step</th><th>kind</th><th>status</th>"
                     "<th>started</th><th>ended</th><th class=\"num\">duration</th>"
                     "<th class=\"num\">from %s</th></tr></thead><tbody>\n",
                  incident != NULL ? "incident" : "start");
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        char from[24], to[24], took[32], off[40];
        struct lb_report_phase *ph = NULL;
        size_t nph;
        lb_report_fmt_clock(st->started_at, from, sizeof from);
        lb_report_fmt_clock(st->ended_at, to, sizeof to);
        lb_report_fmt_duration(st->duration_ms, took, sizeof took);
        fmt_offset(st->started_at, base, off, sizeof off);
        lb_buf_printf(b, "<tr class=\"step-row\"><td class=\"num\">%d</td><td class=\"step\">",
                      st->seq);
        text(b, st->name);
        if (st->critical)
            lb_buf_adds(b, " <span class=\"none\">(critical)</span>");
        lb_buf_adds(b, "</td><td>");
        text(b, st->kind);
        lb_buf_printf(b, "</td><td class=\"%s\">", status_bad(st->status) ? "bad" : "");
        text(b, st->status);
        lb_buf_printf(b, "</td><td class=\"mono\">%s</td><td class=\"mono\">%s</td>"
                         "<td class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
                      from, to, took, off);
        nph = lb_report_phases(v, st->seq, &ph);
        for (size_t k = 0; k < nph; k++) {
            char d[32], pf[32], pfrom[24] = "-";
            lb_duration_format(ph[k].duration_ms, d, sizeof d);
            lb_duration_format(ph[k].start_ms, pf, sizeof pf);
            if (st->started_at >= 0)
                lb_report_fmt_clock(st->started_at + ph[k].start_ms, pfrom, sizeof pfrom);
            lb_buf_adds(b, "<tr class=\"phase-row\"><td></td><td class=\"step\">phase ");
            text(b, ph[k].name);
            lb_buf_printf(b, "</td><td>phase</td><td>+%s into the step</td>"
                             "<td class=\"mono\">%s</td><td></td><td class=\"num\">%s</td>"
                             "<td></td></tr>\n",
                          pf, pfrom, d);
        }
        lb_report_phases_free(ph, nph);
    }
    lb_buf_adds(b, "</tbody></table>\n");

    if (v->nmarks == 0) {
        lb_buf_adds(b, "<p class=\"none\">No marks recorded.</p>\n");
        return;
    }
    lb_buf_adds(b, "<table class=\"marks\"><thead><tr><th>mark</th><th>at</th>"
                   "<th class=\"num\">from incident</th><th>source</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < v->nmarks; i++) {
        const struct lb_mark_view *m = &v->marks[i];
        char at[24], off[40];
        lb_report_fmt_clock(m->at, at, sizeof at);
        fmt_offset(m->at, incident != NULL ? incident->at : -1, off, sizeof off);
        lb_buf_adds(b, "<tr><td>");
        text(b, m->name);
        lb_buf_printf(b, "</td><td class=\"mono\">%s</td><td class=\"num\">%s</td><td>", at,
                      off);
        text_or_dash(b, m->source);
        lb_buf_adds(b, "</td></tr>\n");
    }
    lb_buf_adds(b, "</tbody></table>\n");
}

static void html_timeline(const struct lb_run_view *v, struct lb_buf *b)
{
    char day[40] = "";
    lb_buf_adds(b, "<section id=\"timeline\"><h2>Timeline</h2>\n");
    if (v->nsteps == 0) {
        lb_buf_adds(b, "<p class=\"none\">No steps recorded.</p>\n");
    } else {
        if (v->started_at >= 0) {
            lb_report_fmt_wall(v->started_at, day, sizeof day);
            lb_buf_printf(b, "<p>%zu steps on a real time axis starting %s.</p>\n",
                          v->nsteps, day);
        }
        html_gantt(v, b);
    }
    html_times(v, b);
    lb_buf_adds(b, "</section>\n");
}

/* ---- gaps -------------------------------------------------------------- */

static void fact(struct lb_buf *b, const char *name, const char *value)
{
    lb_buf_printf(b, "<dt>%s</dt><dd>", name);
    text_or_dash(b, value);
    lb_buf_adds(b, "</dd>");
}

static void html_gaps(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t *order = lb_report_gap_order(v);

    lb_buf_adds(b, "<section id=\"gaps\"><h2>Gaps</h2>\n");
    if (v->ngaps == 0) {
        lb_buf_adds(b, "<p class=\"none\">No gaps recorded.</p>\n</section>\n");
        return;
    }
    lb_buf_printf(b, "<p>%zu gap%s, most severe first.</p>\n<ol class=\"gaps\">\n", v->ngaps,
                  v->ngaps == 1 ? "" : "s");
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[order[i]];
        const struct lb_step_view *st = lb_report_step(v, g->step_seq);
        const struct lb_check_view *c = lb_report_gap_check(v, g);
        const char *sev = severity_class(g->severity);
        char *expected = NULL, *observed = NULL, *step = NULL;

        lb_report_gap_expectation(v, g, &expected, &observed);
        if (st != NULL)
            step = lb_xasprintf("%d \xc2\xb7 %s", st->seq, st->name != NULL ? st->name : "");
        lb_buf_printf(b, "<li class=\"gap gap-%s\"><div><span class=\"sev sev-%s\">", sev,
                      sev);
        text(b, g->severity);
        lb_buf_adds(b, "</span><span class=\"cat\">");
        text(b, g->category);
        lb_buf_adds(b, "</span><strong class=\"gap-title\">");
        text(b, g->title);
        lb_buf_adds(b, "</strong></div>\n<dl class=\"gap-facts\">");
        fact(b, "expected", expected);
        fact(b, "observed", observed);
        /* A step gap's detail is the error already shown as observed. */
        if (g->detail != NULL && g->detail[0] != '\0' &&
            !(observed != NULL && strstr(observed, g->detail) != NULL))
            fact(b, "detail", g->detail);
        fact(b, "step", st != NULL ? step : "the run as a whole");
        if (c != NULL)
            fact(b, "check", c->name);
        lb_buf_adds(b, "</dl></li>\n");
        free(expected);
        free(observed);
        free(step);
    }
    lb_buf_adds(b, "</ol>\n</section>\n");
    free(order);
}

/* ---- validation -------------------------------------------------------- */

static void fingerprint_cell(struct lb_buf *b, const char *fp)
{
    if (fp == NULL || fp[0] == '\0') {
        lb_buf_adds(b, "<td><span class=\"none\">-</span></td>");
        return;
    }
    lb_buf_adds(b, "<td><code title=\"");
    attr(b, fp);
    lb_buf_adds(b, "\">");
    text_cut(b, fp, FP_SHOWN);
    lb_buf_adds(b, "</code></td>");
}

static void rows_cell(struct lb_buf *b, const struct lb_table_stat_view *ts)
{
    if (ts == NULL || ts->rows < 0)
        lb_buf_adds(b, "<td class=\"num\"><span class=\"none\">-</span></td>");
    else
        lb_buf_printf(b, "<td class=\"num\">%lld</td>", (long long)ts->rows);
}

/* A column made by lb_report_fk_text / _diff_text. */
static void checks_cell(struct lb_buf *b, const struct lb_report_table_row *r,
                        int (*make)(const struct lb_report_table_row *, struct lb_buf *))
{
    struct lb_buf t = {0};
    int failed = make(r, &t);
    lb_buf_printf(b, "<td class=\"%s\">", failed ? "bad" : t.len > 0 ? "ok" : "");
    text_or_dash(b, t.data);
    lb_buf_adds(b, "</td>");
    lb_buf_free(&t);
}

static void html_validation(const struct lb_run_view *v, struct lb_buf *b)
{
    struct lb_report_table_row *rows = NULL;
    size_t n = lb_report_table_rows(v, &rows);

    lb_buf_adds(b, "<section id=\"validation\"><h2>Validation</h2>\n<h3>Tables</h3>\n");
    if (n == 0) {
        lb_buf_adds(b, "<p class=\"none\">No baseline or restored table snapshots "
                       "recorded.</p>\n");
    } else {
        lb_buf_adds(b, "<table class=\"validation\"><thead><tr><th>table</th>"
                       "<th class=\"num\">baseline rows</th><th>baseline fingerprint</th>"
                       "<th class=\"num\">restored rows</th><th>restored fingerprint</th>"
                       "<th>FK violations</th><th>sample keys (diff)</th><th>result</th>"
                       "</tr></thead><tbody>\n");
        for (size_t i = 0; i < n; i++) {
            const struct lb_report_table_row *r = &rows[i];
            lb_buf_adds(b, "<tr class=\"table-row\"><td>");
            text(b, lb_report_table_display(r->table));
            lb_buf_adds(b, "</td>");
            rows_cell(b, r->base);
            fingerprint_cell(b, r->base != NULL ? r->base->fingerprint : NULL);
            rows_cell(b, r->rest);
            fingerprint_cell(b, r->rest != NULL ? r->rest->fingerprint : NULL);
            checks_cell(b, r, lb_report_fk_text);
            checks_cell(b, r, lb_report_diff_text);
            lb_buf_printf(b, "<td class=\"%s\">%s</td></tr>\n", r->bad ? "bad" : "ok",
                          r->result);
        }
        lb_buf_adds(b, "</tbody></table>\n");
    }
    lb_report_table_rows_free(rows, n);

    lb_buf_adds(b, "<h3>Checks</h3>\n");
    if (v->nchecks == 0) {
        lb_buf_adds(b, "<p class=\"none\">No checks recorded.</p>\n</section>\n");
        return;
    }
    lb_buf_printf(b, "<p>%zu check%s, %zu failed.</p>\n<table class=\"checks\"><thead><tr>"
                     "<th class=\"num\">#</th><th>step</th><th>check</th><th>table</th>"
                     "<th>result</th><th>expected</th><th>observed</th></tr></thead><tbody>\n",
                  v->nchecks, v->nchecks == 1 ? "" : "s", lb_report_failed_checks(v));
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        const struct lb_step_view *st = lb_report_step(v, c->step_seq);
        lb_buf_printf(b, "<tr class=\"check %s\"><td class=\"num\">%zu</td><td>",
                      c->ok ? "check-ok" : "check-failed", i + 1);
        text_or_dash(b, st != NULL ? st->name : NULL);
        lb_buf_adds(b, "</td><td>");
        text(b, c->name);
        lb_buf_adds(b, "</td><td>");
        text_or_dash(b, lb_report_table_display(c->table_name));
        lb_buf_printf(b, "</td><td class=\"%s\">%s</td><td class=\"mono\">",
                      c->ok ? "ok" : "bad", c->ok ? "ok" : "FAILED");
        text_or_dash(b, c->expected);
        lb_buf_adds(b, "</td><td class=\"mono\">");
        text_or_dash(b, c->observed);
        lb_buf_adds(b, "</td></tr>\n");
    }
    lb_buf_adds(b, "</tbody></table>\n</section>\n");
}

/* ---- rollbacks, metrics, provenance, output --------------------------- */

static void html_rollbacks(const struct lb_run_view *v, struct lb_buf *b)
{
    lb_buf_adds(b, "<section id=\"rollbacks\"><h2>Rollbacks</h2>\n");
    if (v->nrollbacks == 0) {
        lb_buf_adds(b, "<p class=\"none\">No rollbacks registered.</p>\n</section>\n");
        return;
    }
    lb_buf_adds(b, "<table><thead><tr><th class=\"num\">#</th><th>rollback</th>"
                   "<th>status</th><th>error</th><th>declared at</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < v->nrollbacks; i++) {
        const struct lb_rollback_view *r = &v->rollbacks[i];
        int ok = r->status != NULL && strcmp(r->status, "passed") == 0;
        lb_buf_printf(b, "<tr><td class=\"num\">%d</td><td>", r->id);
        text(b, r->name);
        lb_buf_printf(b, "</td><td class=\"%s\">", ok ? "ok" : "bad");
        text_or_dash(b, r->status);
        lb_buf_adds(b, "</td><td>");
        text_or_dash(b, r->error);
        lb_buf_adds(b, "</td><td class=\"mono\">");
        text_or_dash(b, r->declared_at);
        lb_buf_adds(b, "</td></tr>\n");
    }
    lb_buf_adds(b, "</tbody></table>\n</section>\n");
}

static void html_metrics(const struct lb_run_view *v, struct lb_buf *b)
{
    size_t shown = 0;
    lb_buf_adds(b, "<section id=\"metrics\"><h2>Metrics</h2>\n");
    for (size_t i = 0; i < v->nmetrics; i++) {
        const struct lb_metric_view *m = &v->metrics[i];
        const struct lb_step_view *st = lb_report_step(v, m->step_seq);
        char value[48];
        if (lb_report_is_phase_metric(m->name))
            continue;
        if (shown++ == 0)
            lb_buf_adds(b, "<table><thead><tr><th>step</th><th>metric</th>"
                           "<th class=\"num\">value</th><th>unit</th></tr></thead><tbody>\n");
        lb_report_fmt_number(m->value, value, sizeof value);
        lb_buf_adds(b, "<tr><td>");
        text_or_dash(b, st != NULL ? st->name : NULL);
        lb_buf_adds(b, "</td><td class=\"mono\">");
        text(b, m->name);
        lb_buf_printf(b, "</td><td class=\"num\">%s</td><td>", value);
        text_or_dash(b, m->unit);
        lb_buf_adds(b, "</td></tr>\n");
    }
    if (shown == 0)
        lb_buf_adds(b, "<p class=\"none\">No metrics recorded (phases are in the "
                       "timeline).</p>\n");
    else
        lb_buf_adds(b, "</tbody></table>\n");
    lb_buf_adds(b, "</section>\n");
}

static void prov_row(struct lb_buf *b, const char *name, const char *value, int code)
{
    lb_buf_adds(b, "<tr><th>");
    text(b, name);
    lb_buf_adds(b, "</th><td>");
    if (code && value != NULL && value[0] != '\0') {
        lb_buf_adds(b, "<code>");
        text(b, value);
        lb_buf_adds(b, "</code>");
    } else {
        text_or_dash(b, value);
    }
    lb_buf_adds(b, "</td></tr>\n");
}

static void html_provenance(const struct lb_run_view *v, struct lb_buf *b)
{
    char started[40], ended[40], exit_code[16];
    struct lb_report_target *targets = NULL;
    char *backups = NULL;
    size_t ntargets = lb_report_targets(v->plan_json, &targets, &backups);

    lb_report_fmt_wall(v->started_at, started, sizeof started);
    lb_report_fmt_wall(v->ended_at, ended, sizeof ended);
    snprintf(exit_code, sizeof exit_code, "%d", v->exit_code);
    lb_buf_adds(b, "<section id=\"provenance\"><h2>Environment and provenance</h2>\n"
                   "<table class=\"facts\"><tbody>\n");
    prov_row(b, "Run", v->id, 1);
    prov_row(b, "Scenario", v->scenario_id, 1);
    prov_row(b, "Scenario file", v->scenario_file, 1);
    prov_row(b, "Scenario sha256", v->scenario_sha256, 1);
    prov_row(b, "lifeboat version", v->version, 0);
    prov_row(b, "Operator", v->operator_name, 0);
    prov_row(b, "Host", v->host, 0);
    prov_row(b, "Environment", v->environment, 0);
    prov_row(b, "Kind", v->kind, 0);
    prov_row(b, "Dry run", v->dry_run ? "yes" : "no", 0);
    prov_row(b, "Started", started, 0);
    prov_row(b, "Ended", ended, 0);
    prov_row(b, "Exit code", v->exit_code >= 0 ? exit_code : NULL, 0);
    prov_row(b, "Backups used", backups, 0);
    lb_buf_adds(b, "</tbody></table>\n<h3>Targets</h3>\n");
    if (ntargets == 0) {
        lb_buf_adds(b, "<p class=\"none\">No targets recorded.</p>\n");
    } else {
        lb_buf_adds(b, "<table class=\"targets\"><thead><tr><th>target</th>"
                       "<th>identity (no secrets)</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < ntargets; i++) {
            lb_buf_adds(b, "<tr><td>");
            text(b, targets[i].name);
            lb_buf_adds(b, "</td><td>");
            if (targets[i].nfields == 0)
                lb_buf_adds(b, "<span class=\"none\">identity not recorded</span>");
            for (size_t k = 0; k < targets[i].nfields; k++) {
                lb_buf_adds(b, k > 0 ? " &middot; " : "");
                text(b, targets[i].keys[k]);
                lb_buf_adds(b, " <code>");
                text(b, targets[i].values[k]);
                lb_buf_adds(b, "</code>");
            }
            lb_buf_adds(b, "</td></tr>\n");
        }
        lb_buf_adds(b, "</tbody></table>\n");
    }
    lb_buf_adds(b, "</section>\n");
    lb_report_targets_free(targets, ntargets);
    free(backups);
}

static void html_output(const struct lb_run_view *v, struct lb_buf *b)
{
    int any = 0;
    lb_buf_adds(b, "<section id=\"output\"><h2>Step output</h2>\n");
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        int has_error = st->error != NULL && st->error[0] != '\0';
        int has_output = st->output_tail != NULL && st->output_tail[0] != '\0';
        int bad = status_bad(st->status);
        if (!has_error && !has_output)
            continue;
        any = 1;
        /* Failures open, the rest folded. */
        lb_buf_printf(b, "<details class=\"output%s\"%s><summary>%d &#183; ",
                      bad ? " failed" : "", bad ? " open" : "", st->seq);
        text(b, st->name);
        lb_buf_adds(b, " (");
        text(b, st->status);
        lb_buf_adds(b, ")</summary>\n");
        if (has_error) {
            lb_buf_adds(b, "<div>Error:</div><pre class=\"error\">");
            text(b, st->error);
            lb_buf_adds(b, "</pre>\n");
        }
        if (has_output) {
            lb_buf_adds(b, "<div>Output (tail):</div><pre class=\"tail\">");
            text(b, st->output_tail);
            lb_buf_adds(b, "</pre>\n");
        }
        lb_buf_adds(b, "</details>\n");
    }
    if (!any)
        lb_buf_adds(b, "<p class=\"none\">No step errors or output recorded.</p>\n");
    lb_buf_adds(b, "</section>\n");
}

void lb_report_html(const struct lb_run_view *v, struct lb_buf *b)
{
    const char *title = v->scenario_title != NULL ? v->scenario_title : v->scenario_id;

    lb_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"lifeboat\">\n<title>");
    text(b, title);
    lb_buf_printf(b, " \xe2\x80\x94 %s \xe2\x80\x94 lifeboat drill report</title>\n<style>",
                  lb_report_verdict(v));
    for (size_t i = 0; i < sizeof css / sizeof css[0]; i++)
        lb_buf_adds(b, css[i]);
    lb_buf_adds(b, "</style>\n</head>\n<body>\n");
    html_banner(v, b);
    lb_buf_adds(b, "<main>\n");
    html_timeline(v, b);
    html_gaps(v, b);
    html_validation(v, b);
    html_rollbacks(v, b);
    html_metrics(v, b);
    html_provenance(v, b);
    html_output(v, b);
    lb_buf_adds(b, "</main>\n<footer>Rendered from the lifeboat results store; "
                   "<code>lifeboat report ");
    text(b, v->id);
    lb_buf_adds(b, " --format html</code> renders it again.</footer>\n</body>\n</html>\n");
}
