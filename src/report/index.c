/*
 * The drill index of a period (`lifeboat report --all-since DATE`): every
 * run since a date with its verdict, RTO/RPO against objectives and gaps,
 * linking to each run's report, which is written beside it. What a team
 * brings to the quarterly review.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report_int.h"

int lb_report_parse_since(const char *text, int64_t *out_ms, struct lb_err *err)
{
    char buf[64];
    int year, quarter;
    char tail;

    if (text == NULL || text[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "no date given (YYYY-MM-DD or YYYY-Qn)");
    if (sscanf(text, "%4d-%*1[Qq]%1d%c", &year, &quarter, &tail) == 2 && strlen(text) == 7 &&
        isdigit((unsigned char)text[0]) && quarter >= 1 && quarter <= 4) {
        snprintf(buf, sizeof buf, "%04d-%02d-01T00:00:00Z", year, (quarter - 1) * 3 + 1);
        if (lb_wall_parse(buf, out_ms) == 0)
            return 0;
    }
    if (strlen(text) == 10) {
        snprintf(buf, sizeof buf, "%sT00:00:00Z", text);
        if (lb_wall_parse(buf, out_ms) == 0)
            return 0;
    }
    if (lb_wall_parse(text, out_ms) == 0)
        return 0;
    return lb_err_set(err, LB_EINVAL,
                      "'%s' is not a date (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or YYYY-Qn)", text);
}

/* A run id that can name a report file and sit in a link as it is. */
static int plain_id(const char *id)
{
    if (id == NULL || id[0] == '\0' || id[0] == '.')
        return 0;
    for (const char *p = id; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    }
    return 1;
}

/* The report a row links to: the first of html, md, json written. */
static const char *link_ext(unsigned formats, unsigned preferred)
{
    if (formats & preferred)
        return lb_report_extension((enum lb_report_format)preferred);
    if (formats & LB_REPORT_HTML)
        return "html";
    if (formats & LB_REPORT_MD)
        return "md";
    if (formats & LB_REPORT_JSON)
        return "json";
    return "junit.xml";
}

struct tally {
    size_t passed, other, rto_met, rto_measured, rpo_met, rpo_measured;
};

static void tally_runs(const struct lb_run_view *const *runs, size_t n, struct tally *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        if (v->status != NULL && strcmp(v->status, "passed") == 0)
            t->passed++;
        else
            t->other++;
        t->rto_measured += v->rto_ms >= 0;
        t->rpo_measured += v->rpo_ms >= 0;
        t->rto_met += strcmp(lb_report_objective_result(v->rto_objective_ms, v->rto_ms),
                             "met") == 0;
        t->rpo_met += strcmp(lb_report_objective_result(v->rpo_objective_ms, v->rpo_ms),
                             "met") == 0;
    }
}

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
        case '[': lb_buf_adds(b, "\\["); break;
        case ']': lb_buf_adds(b, "\\]"); break;
        case '`': lb_buf_adds(b, "\\`"); break;
        case '\r': case '\n': lb_buf_addc(b, ' '); break;
        default: lb_buf_addc(b, *s); break;
        }
    }
}

static void objective_text(char *out, size_t n, int64_t objective, int64_t measured)
{
    char got[32], target[32];
    lb_report_fmt_duration(measured, got, sizeof got);
    lb_report_fmt_duration(objective, target, sizeof target);
    snprintf(out, n, "%s / %s (%s)", got, target,
             lb_report_objective_result(objective, measured));
}

static void index_md(const struct lb_run_view *const *runs, size_t n, const char *since,
                     unsigned formats, struct lb_buf *b)
{
    struct tally t;
    const char *ext = link_ext(formats, LB_REPORT_MD);

    tally_runs(runs, n, &t);
    lb_buf_printf(b, "# Drill index since %s\n\n", since);
    lb_buf_printf(b, "%zu run%s: %zu passed, %zu did not. RTO met in %zu of %zu measured, "
                     "RPO met in %zu of %zu measured.\n\n",
                  n, n == 1 ? "" : "s", t.passed, t.other, t.rto_met, t.rto_measured,
                  t.rpo_met, t.rpo_measured);
    if (n == 0)
        return;
    lb_buf_adds(b, "| started | run | scenario | verdict | RTO / objective | "
                   "RPO / objective | gaps (critical/major/minor) |\n"
                   "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        char at[40], rto[96], rpo[96];
        size_t c[4];
        lb_report_fmt_wall(v->started_at, at, sizeof at);
        objective_text(rto, sizeof rto, v->rto_objective_ms, v->rto_ms);
        objective_text(rpo, sizeof rpo, v->rpo_objective_ms, v->rpo_ms);
        lb_report_gap_counts(v, c);
        lb_buf_printf(b, "| %s | ", at);
        if (plain_id(v->id))
            lb_buf_printf(b, "[`%s`](%s.%s)", v->id, v->id, ext);
        else
            md_cell(b, v->id);
        lb_buf_adds(b, " | ");
        md_cell(b, v->scenario_id);
        lb_buf_printf(b, " | %s | %s | %s | %zu/%zu/%zu |\n", lb_report_verdict(v), rto, rpo,
                      c[0], c[1], c[2]);
    }
}

static void index_html(const struct lb_run_view *const *runs, size_t n, const char *since,
                       unsigned formats, struct lb_buf *b)
{
    struct tally t;
    const char *ext = link_ext(formats, LB_REPORT_HTML);

    tally_runs(runs, n, &t);
    lb_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<title>Drill index since %s \xe2\x80\x94 lifeboat</title>\n<style>"
                     "body{margin:0 auto;max-width:1100px;padding:0 20px 30px;"
                     "font:14px/1.45 system-ui,'DejaVu Sans',sans-serif;color:#1d2125}"
                     "table{border-collapse:collapse;width:100%%}th,td{border-bottom:1px solid "
                     "#dfe3e8;padding:4px 8px;text-align:left}th{background:#f6f8fa}"
                     ".bad{color:#c92a2a;font-weight:700}.ok{color:#2b8a3e}"
                     "code{font-family:'DejaVu Sans Mono',monospace;font-size:12px}"
                     "@page{size:A4 landscape;margin:12mm}</style>\n</head>\n<body>\n"
                     "<h1>Drill index since %s</h1>\n",
                  since, since);
    lb_buf_printf(b, "<p>%zu run%s: %zu passed, %zu did not. RTO met in %zu of %zu measured, "
                     "RPO met in %zu of %zu measured.</p>\n",
                  n, n == 1 ? "" : "s", t.passed, t.other, t.rto_met, t.rto_measured,
                  t.rpo_met, t.rpo_measured);
    lb_buf_adds(b, "<table class=\"index\"><thead><tr><th>started</th><th>run</th>"
                   "<th>scenario</th><th>verdict</th><th>RTO / objective</th>"
                   "<th>RPO / objective</th><th>gaps c/M/m</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        char at[40], rto[96], rpo[96];
        size_t c[4];
        int passed = v->status != NULL && strcmp(v->status, "passed") == 0;
        lb_report_fmt_wall(v->started_at, at, sizeof at);
        objective_text(rto, sizeof rto, v->rto_objective_ms, v->rto_ms);
        objective_text(rpo, sizeof rpo, v->rpo_objective_ms, v->rpo_ms);
        lb_report_gap_counts(v, c);
        lb_buf_printf(b, "<tr class=\"run\"><td>%s</td><td>", at);
        if (plain_id(v->id))
            lb_buf_printf(b, "<a href=\"%s.%s\"><code>%s</code></a>", v->id, ext, v->id);
        else
            lb_report_xml_text(b, v->id);
        lb_buf_adds(b, "</td><td>");
        lb_report_xml_text(b, v->scenario_id);
        lb_buf_printf(b, "</td><td class=\"%s\">%s</td><td>%s</td><td>%s</td>"
                         "<td>%zu/%zu/%zu</td></tr>\n",
                      passed ? "ok" : "bad", lb_report_verdict(v), rto, rpo, c[0], c[1], c[2]);
    }
    lb_buf_adds(b, "</tbody></table>\n</body>\n</html>\n");
}

/* Milliseconds exactly, null when unset. */
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

static void index_json(const struct lb_run_view *const *runs, size_t n, const char *since,
                       unsigned formats, struct lb_buf *b)
{
    static const struct {
        enum lb_report_format format;
        const char *key;
    } kinds[] = {{LB_REPORT_MD, "md"},
                 {LB_REPORT_HTML, "html"},
                 {LB_REPORT_JSON, "json"},
                 {LB_REPORT_JUNIT, "junit"}};
    cJSON *root = cJSON_CreateObject(), *arr;
    char *text;

    cJSON_AddStringToObject(root, "format", "lifeboat.index");
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "since", since);
    arr = cJSON_AddArrayToObject(root, "runs");
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        cJSON *o = cJSON_CreateObject(), *rep;
        char iso[40];
        size_t c[4];
        lb_wall_format(v->started_at >= 0 ? v->started_at : 0, iso, sizeof iso);
        cJSON_AddStringToObject(o, "id", v->id != NULL ? v->id : "");
        cJSON_AddStringToObject(o, "scenario_id", v->scenario_id != NULL ? v->scenario_id : "");
        cJSON_AddStringToObject(o, "started_at", iso);
        cJSON_AddStringToObject(o, "verdict", lb_report_verdict(v));
        json_ms(o, "rto_ms", v->rto_ms);
        json_ms(o, "rto_objective_ms", v->rto_objective_ms);
        json_ms(o, "rpo_ms", v->rpo_ms);
        json_ms(o, "rpo_objective_ms", v->rpo_objective_ms);
        lb_report_gap_counts(v, c);
        cJSON_AddNumberToObject(o, "gaps_critical", (double)c[0]);
        cJSON_AddNumberToObject(o, "gaps_major", (double)c[1]);
        cJSON_AddNumberToObject(o, "gaps_minor", (double)c[2]);
        rep = cJSON_AddObjectToObject(o, "reports");
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && plain_id(v->id); k++) {
            char *name;
            if ((formats & kinds[k].format) == 0)
                continue;
            name = lb_xasprintf("%s.%s", v->id, lb_report_extension(kinds[k].format));
            cJSON_AddStringToObject(rep, kinds[k].key, name);
            free(name);
        }
        cJSON_AddItemToArray(arr, o);
    }
    text = cJSON_Print(root);
    if (text != NULL) {
        lb_buf_adds(b, text);
        lb_buf_addc(b, '\n');
        cJSON_free(text);
    }
    cJSON_Delete(root);
}

static int write_one(const char *outdir, const char *name, const struct lb_buf *b,
                     char ***paths, size_t *n, struct lb_err *err)
{
    char *path = lb_path_join(outdir, name);
    int rc = lb_file_write(path, b->data != NULL ? b->data : "", b->len, err);
    if (rc != 0) {
        free(path);
        return rc;
    }
    *paths = lb_xrealloc(*paths, (*n + 1) * sizeof **paths);
    (*paths)[(*n)++] = path;
    return 0;
}

int lb_report_index(struct lb_store *s, int64_t since_ms, unsigned formats,
                    const char *outdir, char **paths_out[], size_t *npaths_out,
                    struct lb_err *err)
{
    struct lb_run_view **heads = NULL, **full = NULL;
    const struct lb_run_view **sorted = NULL;
    char **paths = NULL, **run_paths = NULL;
    size_t n = 0, loaded = 0, nsorted = 0, npaths = 0, nrun = 0;
    struct lb_buf b = {0};
    char since[40];
    int rc;

    *paths_out = NULL;
    *npaths_out = 0;
    if ((formats & LB_REPORT_ALL) == 0)
        return lb_err_set(err, LB_EINVAL, "report: no format chosen (md, html, json, junit)");
    lb_wall_format(since_ms, since, sizeof since);
    since[10] = '\0';
    rc = lb_store_list_runs(s, NULL, -1, &heads, &n, err);
    if (rc != 0)
        goto out;
    rc = lb_mkdirs(outdir, 0755, err);
    if (rc != 0)
        goto out;
    full = lb_xcalloc(n + 1, sizeof *full);
    for (size_t i = 0; i < n; i++) {
        if (heads[i]->started_at < since_ms)
            continue;
        rc = lb_store_load_run(s, heads[i]->id, &full[loaded], err);
        if (rc != 0)
            goto out;
        loaded++;
    }
    sorted = lb_report_sorted_runs((const struct lb_run_view *const *)full, loaded, 0,
                                   &nsorted);

    if (formats & LB_REPORT_MD) {
        lb_buf_reset(&b);
        index_md(sorted, nsorted, since, formats, &b);
        if ((rc = write_one(outdir, "index.md", &b, &paths, &npaths, err)) != 0)
            goto out;
    }
    if (formats & LB_REPORT_HTML) {
        lb_buf_reset(&b);
        index_html(sorted, nsorted, since, formats, &b);
        if ((rc = write_one(outdir, "index.html", &b, &paths, &npaths, err)) != 0)
            goto out;
    }
    if (formats & LB_REPORT_JSON) {
        lb_buf_reset(&b);
        index_json(sorted, nsorted, since, formats, &b);
        if ((rc = write_one(outdir, "index.json", &b, &paths, &npaths, err)) != 0)
            goto out;
    }
    if (formats & LB_REPORT_JUNIT) {
        lb_buf_reset(&b);
        lb_report_junit(sorted, nsorted, &b);
        if ((rc = write_one(outdir, "index.junit.xml", &b, &paths, &npaths, err)) != 0)
            goto out;
    }
    for (size_t i = 0; i < nsorted; i++) {
        if (!plain_id(sorted[i]->id))
            continue;    /* listed in the index, without a report of its own */
        rc = lb_report_write_files(s, sorted[i]->id, formats, outdir, &run_paths, &nrun, err);
        if (rc != 0)
            goto out;
        for (size_t k = 0; k < nrun; k++) {
            paths = lb_xrealloc(paths, (npaths + 1) * sizeof *paths);
            paths[npaths++] = run_paths[k];
        }
        free(run_paths);
        run_paths = NULL;
        nrun = 0;
    }
out:
    lb_buf_free(&b);
    free(sorted);
    lb_run_list_free(full, loaded);
    lb_run_list_free(heads, n);
    if (rc != 0) {
        lb_report_paths_free(paths, npaths);
        return rc;
    }
    *paths_out = paths;
    *npaths_out = npaths;
    return 0;
}
