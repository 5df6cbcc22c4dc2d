/*
 * A scenario's trend: did the drills get better from one quarter to the
 * next? RTO and RPO of every run against the objective of that run, the gaps
 * that came back run after run, and a verdict on the latest run against the
 * one before it. Dry runs measure nothing and are left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report_int.h"

/* A change under this share of the earlier value is noise, not a trend. */
#define NOISE_PERCENT 5

/* Chart geometry (SVG user units). */
#define C_WIDTH 900
#define C_HEIGHT 240
#define C_LEFT 70.0
#define C_RIGHT 880.0
#define C_TOP 20.0
#define C_BOTTOM 200.0

struct recurring {
    char *key;           /* category + normalised title */
    const struct lb_gap_view *latest;   /* its newest occurrence */
    const char *first_run, *last_run;
    size_t runs;
    int worst;           /* severity rank */
    int in_latest;
};

struct trend {
    const struct lb_run_view **runs;    /* oldest first */
    size_t n;
    struct recurring *gaps;             /* recurring (in 2+ runs) */
    size_t ngaps;
    const char *verdict;
    char reason[512];
};

/* ---- judging ---------------------------------------------------------- */

static int objectives_met(const struct lb_run_view *v)
{
    return (strcmp(lb_report_objective_result(v->rto_objective_ms, v->rto_ms), "met") == 0) +
           (strcmp(lb_report_objective_result(v->rpo_objective_ms, v->rpo_ms), "met") == 0);
}

static int is_passed(const struct lb_run_view *v)
{
    return v->status != NULL && strcmp(v->status, "passed") == 0;
}

/* -1 better, 1 worse, 0 the same within the noise, for durations. */
static int duration_change(int64_t before, int64_t now)
{
    int64_t diff, noise;
    if (before < 0 || now < 0)
        return 0;
    diff = now - before;
    noise = before * NOISE_PERCENT / 100;
    if (diff > noise)
        return 1;
    if (-diff > noise)
        return -1;
    return 0;
}

static const char *judge(const struct lb_run_view *prev, const struct lb_run_view *cur,
                         char *reason, size_t n)
{
    size_t pc[4], cc[4];
    int pm, cm, rto, rpo;
    char a[32], b[32], c[32], d[32];

    if (is_passed(prev) != is_passed(cur)) {
        snprintf(reason, n, "%s, the run before %s", lb_report_verdict(cur),
                 lb_report_verdict(prev));
        return is_passed(cur) ? "improved" : "regressed";
    }
    pm = objectives_met(prev);
    cm = objectives_met(cur);
    if (pm != cm) {
        snprintf(reason, n, "%d of 2 objectives met, the run before %d", cm, pm);
        return cm > pm ? "improved" : "regressed";
    }
    lb_report_gap_counts(prev, pc);
    lb_report_gap_counts(cur, cc);
    for (int i = 0; i < 3; i++) {
        if (pc[i] != cc[i]) {
            snprintf(reason, n,
                     "gaps %zu critical, %zu major, %zu minor; the run before %zu, %zu, %zu",
                     cc[0], cc[1], cc[2], pc[0], pc[1], pc[2]);
            return cc[i] < pc[i] ? "improved" : "regressed";
        }
    }
    rto = duration_change(prev->rto_ms, cur->rto_ms);
    rpo = duration_change(prev->rpo_ms, cur->rpo_ms);
    lb_report_fmt_duration(cur->rto_ms, a, sizeof a);
    lb_report_fmt_duration(prev->rto_ms, b, sizeof b);
    lb_report_fmt_duration(cur->rpo_ms, c, sizeof c);
    lb_report_fmt_duration(prev->rpo_ms, d, sizeof d);
    snprintf(reason, n, "RTO %s (the run before %s), RPO %s (the run before %s)", a, b, c,
             d);
    if (rto < 0 || rpo < 0)
        return rto > 0 || rpo > 0 ? "mixed" : "improved";
    if (rto > 0 || rpo > 0)
        return "regressed";
    return "unchanged";
}

const char *lb_report_trend_verdict(const struct lb_run_view *const *runs, size_t n)
{
    size_t k = 0;
    const struct lb_run_view **s = lb_report_sorted_runs(runs, n, 1, &k);
    char reason[512];
    const char *verdict = k < 2 ? "first run" : judge(s[k - 2], s[k - 1], reason, sizeof reason);
    free(s);
    return verdict;
}

/* Category and title with every number set aside ("RPO missed by 1h00m"
 * and "RPO missed by 2h10m" are the same gap). */
static char *gap_key(const struct lb_gap_view *g)
{
    struct lb_buf b = {0};
    const char *p = g->title != NULL ? g->title : "";
    lb_buf_adds(&b, g->category != NULL ? g->category : "");
    lb_buf_addc(&b, '\x1f');
    while (*p != '\0') {
        if (*p >= '0' && *p <= '9') {
            lb_buf_addc(&b, '#');
            while ((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9'))
                p++;
        } else {
            lb_buf_addc(&b, *p++);
        }
    }
    return lb_buf_steal(&b);
}

static int cmp_recurring(const void *a, const void *b)
{
    const struct recurring *x = a, *y = b;
    if (x->runs != y->runs)
        return x->runs > y->runs ? -1 : 1;
    if (x->worst != y->worst)
        return x->worst < y->worst ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void find_recurring(struct trend *t)
{
    struct recurring *all = NULL;
    size_t n = 0, kept = 0;

    for (size_t r = 0; r < t->n; r++) {
        const struct lb_run_view *v = t->runs[r];
        for (size_t i = 0; i < v->ngaps; i++) {
            char *key = gap_key(&v->gaps[i]);
            size_t j;
            int rank = lb_report_severity_rank(v->gaps[i].severity);
            for (j = 0; j < n; j++) {
                if (strcmp(all[j].key, key) == 0)
                    break;
            }
            if (j == n) {
                all = lb_xrealloc(all, (n + 1) * sizeof *all);
                memset(&all[n], 0, sizeof all[n]);
                all[n].key = key;
                all[n].first_run = v->id;
                all[n].worst = rank;
                n++;
            } else {
                free(key);
            }
            if (all[j].last_run != v->id)
                all[j].runs++;
            all[j].last_run = v->id;
            all[j].latest = &v->gaps[i];
            if (rank < all[j].worst)
                all[j].worst = rank;
            all[j].in_latest = r + 1 == t->n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].runs >= 2)
            all[kept++] = all[i];
        else
            free(all[i].key);
    }
    if (kept > 0)
        qsort(all, kept, sizeof *all, cmp_recurring);
    if (kept == 0) {
        free(all);
        all = NULL;
    }
    t->gaps = all;
    t->ngaps = kept;
}

static void trend_init(struct trend *t, const struct lb_run_view *const *runs, size_t n)
{
    memset(t, 0, sizeof *t);
    t->runs = lb_report_sorted_runs(runs, n, 1, &t->n);
    find_recurring(t);
    if (t->n == 0) {
        t->verdict = "no runs";
        snprintf(t->reason, sizeof t->reason, "no drill of this scenario has run");
    } else if (t->n == 1) {
        t->verdict = "first run";
        snprintf(t->reason, sizeof t->reason, "nothing to compare with yet");
    } else {
        t->verdict = judge(t->runs[t->n - 2], t->runs[t->n - 1], t->reason, sizeof t->reason);
    }
}

static void trend_free(struct trend *t)
{
    for (size_t i = 0; i < t->ngaps; i++)
        free(t->gaps[i].key);
    free(t->gaps);
    free(t->runs);
}

static const struct lb_run_view *latest(const struct trend *t)
{
    return t->n > 0 ? t->runs[t->n - 1] : NULL;
}

/* ---- Markdown ---------------------------------------------------------- */

/* Table-cell text: pipes, HTML and line breaks made harmless. */
static void md_cell(struct lb_buf *b, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        lb_buf_addc(b, '-');
        return;
    }
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '|': lb_buf_adds(b, "\\|"); break;
        case '\\': lb_buf_adds(b, "\\\\"); break;
        case '<': lb_buf_adds(b, "&lt;"); break;
        case '>': lb_buf_adds(b, "&gt;"); break;
        case '&': lb_buf_adds(b, "&amp;"); break;
        case '`': lb_buf_adds(b, "\\`"); break;
        case '\r': case '\n': lb_buf_addc(b, ' '); break;
        default: lb_buf_addc(b, *s); break;
        }
    }
}

static void md_objective_cells(struct lb_buf *b, int64_t objective, int64_t measured)
{
    char got[32], target[32];
    const char *result = lb_report_objective_result(objective, measured);
    int missed = strcmp(result, "missed") == 0;
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_report_fmt_duration(objective, target, sizeof target);
    lb_buf_printf(b, " %s | %s | %s%s%s |", got, target, missed ? "**" : "", result,
                  missed ? "**" : "");
}

static void trend_md(const struct trend *t, struct lb_buf *b)
{
    const struct lb_run_view *last = latest(t);
    char first_at[40], last_at[40];

    lb_buf_adds(b, "# Trend: ");
    md_cell(b, last != NULL && last->scenario_title != NULL ? last->scenario_title
               : last != NULL                               ? last->scenario_id
                                                            : "-");
    lb_buf_adds(b, "\n\n");
    if (last == NULL) {
        lb_buf_adds(b, "No drill of this scenario has run.\n");
        return;
    }
    lb_report_fmt_wall(t->runs[0]->started_at, first_at, sizeof first_at);
    lb_report_fmt_wall(last->started_at, last_at, sizeof last_at);
    lb_buf_adds(b, "Scenario `");
    md_cell(b, last->scenario_id);
    lb_buf_printf(b, "`: %zu run%s from %s to %s.\n\n", t->n, t->n == 1 ? "" : "s", first_at,
                  last_at);
    lb_buf_printf(b, "**Latest run: %s** (", t->verdict);
    md_cell(b, t->reason);
    lb_buf_adds(b, ").\n\n## Runs\n\n"
                   "| # | run | started | verdict | RTO | RTO objective | RTO result | RPO |"
                   " RPO objective | RPO result | gaps (critical/major/minor) | scenario |\n"
                   "|--:|---|---|---|--:|--:|---|--:|--:|---|---|---|\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        char at[40], sha[16];
        size_t c[4];
        lb_report_fmt_wall(v->started_at, at, sizeof at);
        lb_report_gap_counts(v, c);
        snprintf(sha, sizeof sha, "%.8s", v->scenario_sha256 != NULL ? v->scenario_sha256 : "");
        lb_buf_printf(b, "| %zu | ", i + 1);
        md_cell(b, v->id);
        lb_buf_printf(b, " | %s | %s |", at, lb_report_verdict(v));
        md_objective_cells(b, v->rto_objective_ms, v->rto_ms);
        md_objective_cells(b, v->rpo_objective_ms, v->rpo_ms);
        lb_buf_printf(b, " %zu/%zu/%zu | ", c[0], c[1], c[2]);
        md_cell(b, sha);
        lb_buf_adds(b, " |\n");
    }
    lb_buf_adds(b, "\nThe scenario column is the start of the scenario file's sha256: "
                   "a change there means the drill itself changed.\n\n## Recurring gaps\n\n");
    if (t->ngaps == 0) {
        lb_buf_adds(b, "No gap was recorded in more than one run.\n");
        return;
    }
    lb_buf_adds(b, "Gaps recorded in two runs or more (numbers in titles set aside), "
                   "most frequent first.\n\n"
                   "| gap (latest wording) | category | worst severity | runs | first run |"
                   " last run | in latest run |\n|---|---|---|--:|---|---|---|\n");
    for (size_t i = 0; i < t->ngaps; i++) {
        const struct recurring *r = &t->gaps[i];
        static const char *const sev[] = {"critical", "major", "minor", "other"};
        lb_buf_adds(b, "| ");
        md_cell(b, r->latest->title);
        lb_buf_adds(b, " | ");
        md_cell(b, r->latest->category);
        lb_buf_printf(b, " | %s | %zu | ", sev[r->worst], r->runs);
        md_cell(b, r->first_run);
        lb_buf_adds(b, " | ");
        md_cell(b, r->last_run);
        lb_buf_printf(b, " | %s |\n", r->in_latest ? "**yes**" : "no");
    }
}

/* ---- JSON -------------------------------------------------------------- */

static void json_ms(cJSON *o, const char *name, int64_t ms)
{
    char num[24];
    if (ms < 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    snprintf(num, sizeof num, "%lld", (long long)ms);
    cJSON_AddRawToObject(o, name, num);
}

static void json_str(cJSON *o, const char *name, const char *s)
{
    struct lb_buf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    if (s == NULL) {
        cJSON_AddNullToObject(o, name);
        return;
    }
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
    cJSON_AddStringToObject(o, name, b.data != NULL ? b.data : "");
    lb_buf_free(&b);
}

static void trend_json(const struct trend *t, struct lb_buf *b)
{
    static const char *const sev[] = {"critical", "major", "minor", "other"};
    const struct lb_run_view *last = latest(t);
    cJSON *root = cJSON_CreateObject(), *runs, *gaps, *lt;
    char *text;

    cJSON_AddStringToObject(root, "format", "lifeboat.trend");
    cJSON_AddNumberToObject(root, "format_version", 1);
    json_str(root, "scenario_id", last != NULL ? last->scenario_id : NULL);
    json_str(root, "scenario_title", last != NULL ? last->scenario_title : NULL);
    lt = cJSON_AddObjectToObject(root, "latest");
    json_str(lt, "run_id", last != NULL ? last->id : NULL);
    cJSON_AddStringToObject(lt, "trend", t->verdict);
    json_str(lt, "reason", t->reason);
    runs = cJSON_AddArrayToObject(root, "runs");
    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        cJSON *o = cJSON_CreateObject(), *g;
        char iso[40];
        size_t c[4];
        json_str(o, "id", v->id);
        lb_wall_format(v->started_at >= 0 ? v->started_at : 0, iso, sizeof iso);
        json_str(o, "started_at", v->started_at >= 0 ? iso : NULL);
        json_str(o, "status", v->status);
        cJSON_AddStringToObject(o, "verdict", lb_report_verdict(v));
        json_ms(o, "rto_ms", v->rto_ms);
        json_ms(o, "rto_objective_ms", v->rto_objective_ms);
        cJSON_AddStringToObject(o, "rto_result",
                                lb_report_objective_result(v->rto_objective_ms, v->rto_ms));
        json_ms(o, "rpo_ms", v->rpo_ms);
        json_ms(o, "rpo_objective_ms", v->rpo_objective_ms);
        cJSON_AddStringToObject(o, "rpo_result",
                                lb_report_objective_result(v->rpo_objective_ms, v->rpo_ms));
        json_str(o, "rpo_method", v->rpo_method);
        json_str(o, "scenario_sha256", v->scenario_sha256);
        lb_report_gap_counts(v, c);
        g = cJSON_AddObjectToObject(o, "gaps");
        cJSON_AddNumberToObject(g, "critical", (double)c[0]);
        cJSON_AddNumberToObject(g, "major", (double)c[1]);
        cJSON_AddNumberToObject(g, "minor", (double)c[2]);
        cJSON_AddItemToArray(runs, o);
    }
    gaps = cJSON_AddArrayToObject(root, "recurring_gaps");
    for (size_t i = 0; i < t->ngaps; i++) {
        const struct recurring *r = &t->gaps[i];
        cJSON *o = cJSON_CreateObject();
        json_str(o, "category", r->latest->category);
        json_str(o, "title", r->latest->title);
        cJSON_AddStringToObject(o, "worst_severity", sev[r->worst]);
        cJSON_AddNumberToObject(o, "runs", (double)r->runs);
        json_str(o, "first_run", r->first_run);
        json_str(o, "last_run", r->last_run);
        cJSON_AddBoolToObject(o, "in_latest", r->in_latest);
        cJSON_AddItemToArray(gaps, o);
    }
    text = cJSON_Print(root);
    if (text != NULL) {
        lb_buf_adds(b, text);
        lb_buf_addc(b, '\n');
        cJSON_free(text);
    }
    cJSON_Delete(root);
}

/* ---- HTML -------------------------------------------------------------- */

static const char *const trend_css[] = {
    "body{margin:0 auto;max-width:1100px;padding:0 20px 30px;font:14px/1.45 system-ui,",
    "'DejaVu Sans',sans-serif;color:#1d2125}",
    "h1{font-size:24px}h2{font-size:18px;border-bottom:2px solid #dfe3e8;padding-bottom:4px;",
    "margin-top:28px}",
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #dfe3e8;",
    "padding:4px 8px;text-align:left}th{background:#f6f8fa}td.num{text-align:right;",
    "font-variant-numeric:tabular-nums}td.bad{color:#c92a2a;font-weight:700}",
    "td.ok{color:#2b8a3e}code{font-family:'DejaVu Sans Mono',monospace;font-size:12px}",
    ".trend{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;",
    "font-weight:800;-webkit-print-color-adjust:exact;print-color-adjust:exact}",
    ".trend-improved{background:#2b8a3e}.trend-regressed{background:#c92a2a}",
    ".trend-mixed,.trend-unchanged{background:#e67700}",
    ".trend-first-run,.trend-no-runs{background:#495057}",
    "svg.chart{width:100%;height:auto;max-width:900px;display:block}",
    "svg.chart text{font:11px system-ui,'DejaVu Sans',sans-serif;fill:#5f6b76}",
    "svg.chart .grid{stroke:#e9ecef}svg.chart .measured{fill:none;stroke:#1c7ed6;",
    "stroke-width:2.5}svg.chart .objective{fill:none;stroke:#c92a2a;stroke-width:1.5;",
    "stroke-dasharray:6 4}svg.chart .point{stroke:#fff;stroke-width:1.5}",
    "svg.chart .point.met{fill:#2b8a3e}svg.chart .point.missed{fill:#c92a2a}",
    "svg.chart .point.other{fill:#868e96}",
    "li.recurring{margin:4px 0}.none{color:#5f6b76;font-style:italic}",
    "@page{size:A4 landscape;margin:12mm}",
};

static void html_text(struct lb_buf *b, const char *s)
{
    lb_report_xml_text(b, s != NULL ? s : "-");
}

/* One chart: measured value per run (a line with a point per run, coloured
 * by met / missed) and the objective of each run (a dashed step line). */
static void trend_chart(const struct trend *t, int rpo, struct lb_buf *b)
{
    const char *name = rpo ? "RPO" : "RTO";
    struct lb_report_axis y;
    int64_t top = 0;
    size_t drawn = 0;
    double step = t->n > 1 ? (C_RIGHT - C_LEFT) / (double)(t->n - 1) : 0;

    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        int64_t m = rpo ? v->rpo_ms : v->rto_ms, o = rpo ? v->rpo_objective_ms
                                                         : v->rto_objective_ms;
        if (m > top)
            top = m;
        if (o > top)
            top = o;
    }
    top = top + top / 10 + 1;
    lb_report_axis_init(&y, 0, top, C_BOTTOM, C_TOP, 5);
    lb_buf_printf(b, "<svg class=\"chart chart-%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                     "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
                     "aria-label=\"%s of each run against its objective\">\n",
                  rpo ? "rpo" : "rto", C_WIDTH, C_HEIGHT, C_WIDTH, C_HEIGHT, name);
    for (int64_t v = 0; v <= top; v += y.tick) {
        char d[32];
        double py = lb_report_axis_x(&y, v);
        lb_duration_format(v, d, sizeof d);
        lb_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                      C_LEFT, py, C_RIGHT, py, C_LEFT - 6, py + 4, d);
    }
    /* Objective: a step line, since a scenario may change its objective. */
    lb_buf_adds(b, "<path class=\"objective\" d=\"");
    for (size_t i = 0, pen = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        int64_t o = rpo ? v->rpo_objective_ms : v->rto_objective_ms;
        double x = C_LEFT + step * (double)i, half = t->n > 1 ? step / 2 : 40;
        if (o < 0) {
            pen = 0;
            continue;
        }
        lb_buf_printf(b, "%s%.1f %.1f H%.1f ", pen ? "L" : "M", x - (i > 0 ? half : 0),
                      lb_report_axis_x(&y, o), x + (i + 1 < t->n ? half : 0));
        pen = 1;
    }
    lb_buf_adds(b, "\"/>\n<path class=\"measured\" d=\"");
    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        int64_t m = rpo ? v->rpo_ms : v->rto_ms;
        if (m < 0)
            continue;
        lb_buf_printf(b, "%s%.1f %.1f ", drawn++ == 0 ? "M" : "L", C_LEFT + step * (double)i,
                      lb_report_axis_x(&y, m));
    }
    lb_buf_adds(b, "\"/>\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        int64_t m = rpo ? v->rpo_ms : v->rto_ms;
        int64_t o = rpo ? v->rpo_objective_ms : v->rto_objective_ms;
        const char *result = lb_report_objective_result(o, m);
        double x = C_LEFT + step * (double)i;
        char d[32], day[40];
        lb_report_fmt_wall(v->started_at, day, sizeof day);
        lb_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.10s</text>\n", x,
                      C_BOTTOM + 18, day);
        if (m < 0)
            continue;
        lb_duration_format(m, d, sizeof d);
        lb_buf_printf(b, "<circle class=\"point %s %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\">"
                         "<title>",
                      rpo ? "rpo" : "rto",
                      strcmp(result, "met") == 0      ? "met"
                      : strcmp(result, "missed") == 0 ? "missed"
                                                      : "other",
                      x, lb_report_axis_x(&y, m));
        html_text(b, v->id);
        lb_buf_printf(b, ": %s %s (%s)</title></circle>\n", name, d, result);
    }
    lb_buf_printf(b, "<text x=\"%.1f\" y=\"14\">%s: measured (solid, dots green when met), "
                     "objective (dashed red)</text>\n</svg>\n",
                  C_LEFT, name);
}

static void html_objective_cells(struct lb_buf *b, int64_t objective, int64_t measured)
{
    char got[32], target[32];
    const char *result = lb_report_objective_result(objective, measured);
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_report_fmt_duration(objective, target, sizeof target);
    lb_buf_printf(b, "<td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"%s\">%s"
                     "</td>",
                  got, target,
                  strcmp(result, "missed") == 0 ? "bad"
                  : strcmp(result, "met") == 0  ? "ok"
                                                : "",
                  result);
}

static void trend_html(const struct trend *t, struct lb_buf *b)
{
    const struct lb_run_view *last = latest(t);
    const char *title = last == NULL                     ? "-"
                        : last->scenario_title != NULL ? last->scenario_title
                                                       : last->scenario_id;

    lb_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<title>Trend: ");
    html_text(b, title);
    lb_buf_adds(b, " \xe2\x80\x94 lifeboat</title>\n<style>");
    for (size_t i = 0; i < sizeof trend_css / sizeof trend_css[0]; i++)
        lb_buf_adds(b, trend_css[i]);
    lb_buf_adds(b, "</style>\n</head>\n<body>\n<h1>Trend: ");
    html_text(b, title);
    lb_buf_adds(b, "</h1>\n");
    if (last == NULL) {
        lb_buf_adds(b, "<p class=\"none\">No drill of this scenario has run.</p>\n"
                       "</body>\n</html>\n");
        return;
    }
    lb_buf_adds(b, "<p>Scenario <code>");
    html_text(b, last->scenario_id);
    lb_buf_printf(b, "</code>: %zu run%s. Latest run <code>", t->n, t->n == 1 ? "" : "s");
    html_text(b, last->id);
    lb_buf_adds(b, "</code>: <span class=\"trend trend-");
    lb_report_class_token(b, t->verdict);
    lb_buf_printf(b, "\">%s</span> ", t->verdict);
    html_text(b, t->reason);
    lb_buf_adds(b, "</p>\n<h2>RTO and RPO against objectives</h2>\n");
    trend_chart(t, 0, b);
    trend_chart(t, 1, b);
    lb_buf_adds(b, "<h2>Runs</h2>\n<table class=\"runs\"><thead><tr><th>#</th><th>run</th>"
                   "<th>started</th><th>verdict</th><th>RTO</th><th>objective</th><th></th>"
                   "<th>RPO</th><th>objective</th><th></th><th>gaps c/M/m</th>"
                   "<th>scenario</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct lb_run_view *v = t->runs[i];
        char at[40];
        size_t c[4];
        lb_report_fmt_wall(v->started_at, at, sizeof at);
        lb_report_gap_counts(v, c);
        lb_buf_printf(b, "<tr class=\"run\"><td class=\"num\">%zu</td><td><a href=\"", i + 1);
        lb_report_xml_attr(b, v->id);
        lb_buf_adds(b, ".html\"><code>");
        html_text(b, v->id);
        lb_buf_printf(b, "</code></a></td><td>%s</td><td class=\"%s\">%s</td>", at,
                      is_passed(v) ? "ok" : "bad", lb_report_verdict(v));
        html_objective_cells(b, v->rto_objective_ms, v->rto_ms);
        html_objective_cells(b, v->rpo_objective_ms, v->rpo_ms);
        lb_buf_printf(b, "<td>%zu/%zu/%zu</td><td><code>", c[0], c[1], c[2]);
        if (v->scenario_sha256 != NULL) {
            char sha[16];
            snprintf(sha, sizeof sha, "%.8s", v->scenario_sha256);
            html_text(b, sha);
        }
        lb_buf_adds(b, "</code></td></tr>\n");
    }
    lb_buf_adds(b, "</tbody></table>\n<h2>Recurring gaps</h2>\n");
    if (t->ngaps == 0) {
        lb_buf_adds(b, "<p class=\"none\">No gap was recorded in more than one run.</p>\n");
    } else {
        lb_buf_adds(b, "<ul class=\"recurring-gaps\">\n");
        for (size_t i = 0; i < t->ngaps; i++) {
            const struct recurring *r = &t->gaps[i];
            static const char *const sev[] = {"critical", "major", "minor", "other"};
            lb_buf_printf(b, "<li class=\"recurring\"><strong>%s</strong> ", sev[r->worst]);
            html_text(b, r->latest->category);
            lb_buf_adds(b, ": ");
            html_text(b, r->latest->title);
            lb_buf_printf(b, " &mdash; in %zu runs, %s</li>\n", r->runs,
                          r->in_latest ? "<strong>still in the latest</strong>"
                                       : "not in the latest");
        }
        lb_buf_adds(b, "</ul>\n");
    }
    lb_buf_adds(b, "</body>\n</html>\n");
}

/* ---- entry points ------------------------------------------------------ */

void lb_report_trend_render(const struct lb_run_view *const *runs, size_t n,
                            enum lb_report_format format, struct lb_buf *b)
{
    struct trend t;
    trend_init(&t, runs, n);
    if (format == LB_REPORT_JSON)
        trend_json(&t, b);
    else if (format == LB_REPORT_HTML)
        trend_html(&t, b);
    else
        trend_md(&t, b);
    trend_free(&t);
}

int lb_report_trend(struct lb_store *s, const char *scenario_id,
                    enum lb_report_format format, struct lb_buf *b, struct lb_err *err)
{
    struct lb_run_view **heads = NULL, **full = NULL;
    size_t n = 0, loaded = 0;
    int rc;

    if (format != LB_REPORT_MD && format != LB_REPORT_JSON && format != LB_REPORT_HTML)
        return lb_err_set(err, LB_EINVAL, "trend: format must be md, html or json");
    rc = lb_store_list_runs(s, scenario_id, -1, &heads, &n, err);
    if (rc != 0)
        goto out;
    if (n == 0) {
        rc = lb_err_set(err, LB_ENOTFOUND, "no run of scenario '%s' in the store",
                        scenario_id);
        goto out;
    }
    full = lb_xcalloc(n, sizeof *full);
    for (; loaded < n; loaded++) {
        rc = lb_store_load_run(s, heads[loaded]->id, &full[loaded], err);
        if (rc != 0)
            goto out;
    }
    lb_report_trend_render((const struct lb_run_view *const *)full, n, format, b);
out:
    lb_run_list_free(full, loaded);
    lb_run_list_free(heads, n);
    return rc;
}
