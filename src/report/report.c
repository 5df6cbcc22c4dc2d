/*
 * Choosing formats, writing report files, and the judgements (verdict,
 * objectives, gap order, validation rows, phases) every format shares.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "lifeboat/store.h"
#include "report_int.h"

const char *lb_report_verdict(const struct lb_run_view *v)
{
    static const struct {
        const char *status, *verdict;
    } verdicts[] = {
        {"passed", "PASSED"},
        {"failed", "FAILED"},
        {"refused", "REFUSED"},
        {"aborted", "ABORTED"},
        {"interrupted", "INTERRUPTED"},
        {"rollback_failed", "ROLLBACK FAILED"},
        {"planned", "PLANNED (dry run)"},
        {"error", "ERROR"},
        {"running", "RUNNING"},
    };
    if (v->status == NULL)
        return "UNKNOWN";
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
        if (strcmp(v->status, verdicts[i].status) == 0)
            return verdicts[i].verdict;
    }
    return "UNKNOWN";
}

const char *lb_report_objective_result(int64_t objective_ms, int64_t measured_ms)
{
    if (measured_ms < 0)
        return "not measured";
    if (objective_ms < 0)
        return "no objective";
    return measured_ms <= objective_ms ? "met" : "missed";
}

int lb_report_severity_rank(const char *severity)
{
    static const char *const order[] = {"critical", "major", "minor"};
    for (int i = 0; severity != NULL && i < 3; i++) {
        if (strcmp(severity, order[i]) == 0)
            return i;
    }
    return 3;
}

void lb_report_gap_counts(const struct lb_run_view *v, size_t counts[4])
{
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
    for (size_t i = 0; i < v->ngaps; i++)
        counts[lb_report_severity_rank(v->gaps[i].severity)]++;
}

size_t lb_report_failed_checks(const struct lb_run_view *v)
{
    size_t failed = 0;
    for (size_t i = 0; i < v->nchecks; i++)
        failed += !v->checks[i].ok;
    return failed;
}

size_t *lb_report_gap_order(const struct lb_run_view *v)
{
    size_t *idx;
    if (v->ngaps == 0)
        return NULL;
    idx = lb_xcalloc(v->ngaps, sizeof *idx);
    /* Insertion sort: stable, and a run has a handful of gaps. */
    for (size_t i = 0; i < v->ngaps; i++) {
        int rank = lb_report_severity_rank(v->gaps[i].severity);
        size_t j = i;
        while (j > 0 && lb_report_severity_rank(v->gaps[idx[j - 1]].severity) > rank) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return idx;
}

static int mentions(const char *text, const char *word)
{
    return text != NULL && word != NULL && word[0] != '\0' && strstr(text, word) != NULL;
}

const struct lb_check_view *lb_report_gap_check(const struct lb_run_view *v,
                                                const struct lb_gap_view *g)
{
    const struct lb_check_view *only = NULL;
    size_t failed = 0;

    if (g->step_seq < 0)
        return NULL;
    for (size_t i = 0; i < v->nchecks; i++) {
        const struct lb_check_view *c = &v->checks[i];
        const char *t = lb_report_table_display(c->table_name);
        if (c->ok || c->step_seq != g->step_seq)
            continue;
        if (failed++ == 0)
            only = c;
        /* A gap that names the check or its table reports that check. */
        if ((c->name != NULL && g->title != NULL && strcmp(c->name, g->title) == 0) ||
            (t != NULL && (mentions(g->title, t) || mentions(g->detail, t))))
            return c;
    }
    /* A validation gap of a step with one failed check is that check's. */
    if (failed == 1 && g->category != NULL && strcmp(g->category, "validation") == 0)
        return only;
    return NULL;
}

static void objective_expectation(int64_t objective, int64_t measured, char **expected,
                                  char **observed)
{
    char d[32];
    if (objective >= 0) {
        lb_duration_format(objective, d, sizeof d);
        *expected = lb_xasprintf("at most %s", d);
    }
    if (measured >= 0) {
        lb_duration_format(measured, d, sizeof d);
        *observed = lb_xstrdup(d);
    }
}

void lb_report_gap_expectation(const struct lb_run_view *v, const struct lb_gap_view *g,
                               char **expected, char **observed)
{
    const struct lb_check_view *c = lb_report_gap_check(v, g);

    *expected = *observed = NULL;
    if (c != NULL) {
        *expected = lb_xstrdup(c->expected);
        *observed = lb_xstrdup(c->observed);
        return;
    }
    if (g->category != NULL && g->step_seq >= 0 &&
        (strcmp(g->category, "step") == 0 || strcmp(g->category, "timeout") == 0)) {
        const struct lb_step_view *st = lb_report_step(v, g->step_seq);
        if (st == NULL || st->status == NULL || strcmp(st->status, "passed") == 0)
            return;
        if (strcmp(st->status, "timeout") == 0 && st->timeout_ms >= 0) {
            char d[32];
            lb_duration_format(st->timeout_ms, d, sizeof d);
            *expected = lb_xasprintf("the step finishes within %s", d);
        } else {
            *expected = lb_xstrdup("the step passes");
        }
        *observed = st->error != NULL && st->error[0] != '\0'
                        ? lb_xasprintf("%s: %s", st->status, st->error)
                        : lb_xstrdup(st->status);
        return;
    }
    if (g->category == NULL || strcmp(g->category, "objective") != 0 || g->title == NULL)
        return;
    if (strstr(g->title, "RTO") != NULL)
        objective_expectation(v->rto_objective_ms, v->rto_ms, expected, observed);
    else if (strstr(g->title, "RPO") != NULL)
        objective_expectation(v->rpo_objective_ms, v->rpo_ms, expected, observed);
}

const struct lb_step_view *lb_report_step(const struct lb_run_view *v, int seq)
{
    /* The store numbers steps 1..n in order: look there first. */
    if (seq >= 1 && (size_t)seq <= v->nsteps && v->steps[seq - 1].seq == seq)
        return &v->steps[seq - 1];
    for (size_t i = 0; i < v->nsteps; i++) {
        if (v->steps[i].seq == seq)
            return &v->steps[i];
    }
    return NULL;
}

const struct lb_mark_view *lb_report_mark(const struct lb_run_view *v,
                                          const char *name)
{
    for (size_t i = 0; i < v->nmarks; i++) {
        if (v->marks[i].name != NULL && strcmp(v->marks[i].name, name) == 0)
            return &v->marks[i];
    }
    return NULL;
}

static void widen(int64_t t, int64_t *t0, int64_t *t1)
{
    if (t < 0)
        return;
    if (*t0 < 0 || t < *t0)
        *t0 = t;
    if (*t1 < 0 || t > *t1)
        *t1 = t;
}

void lb_report_span(const struct lb_run_view *v, int64_t *t0, int64_t *t1)
{
    *t0 = *t1 = -1;
    widen(v->started_at, t0, t1);
    widen(v->ended_at, t0, t1);
    for (size_t i = 0; i < v->nsteps; i++) {
        widen(v->steps[i].started_at, t0, t1);
        widen(v->steps[i].ended_at, t0, t1);
        if (v->steps[i].started_at >= 0 && v->steps[i].duration_ms > 0)
            widen(v->steps[i].started_at + v->steps[i].duration_ms, t0, t1);
    }
    for (size_t i = 0; i < v->nmarks; i++)
        widen(v->marks[i].at, t0, t1);
    if (*t0 >= 0 && *t1 <= *t0)
        *t1 = *t0 + 1;
}

/* ---- values ------------------------------------------------------------ */

void lb_report_fmt_duration(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else
        lb_duration_format(ms, out, n);
}

void lb_report_fmt_clock(int64_t ms, char *out, size_t n)
{
    int64_t r;
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    r = ms % 86400000;
    snprintf(out, n, "%02d:%02d:%02d.%03d", (int)(r / 3600000), (int)(r / 60000 % 60),
             (int)(r / 1000 % 60), (int)(r % 1000));
}

void lb_report_fmt_wall(int64_t ms, char *out, size_t n)
{
    char iso[40];
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    lb_wall_format(ms, iso, sizeof iso);
    /* "2026-11-26T14:57:36.123Z" -> "2026-11-26 14:57:36 UTC" */
    if (strlen(iso) >= 19)
        snprintf(out, n, "%.10s %.8s UTC", iso, iso + 11);
    else
        snprintf(out, n, "%s", iso);
}

void lb_report_fmt_number(double v, char *out, size_t n)
{
    if (isfinite(v) && v > -1e15 && v < 1e15 && v == (double)(long long)v)
        snprintf(out, n, "%lld", (long long)v);
    else
        snprintf(out, n, "%.6g", v);
}

const char *lb_report_table_display(const char *name)
{
    if (name != NULL && lb_str_starts(name, "public.") && name[7] != '\0')
        return name + 7;
    return name;
}

/* ---- escaping ---------------------------------------------------------- */

size_t lb_report_utf8_seq(const unsigned char *p)
{
    size_t n;
    unsigned cp;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

size_t lb_report_utf8_prefix(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t bytes = 0, chars = 0;
    while (p[bytes] != '\0' && chars < max) {
        size_t n = lb_report_utf8_seq(p + bytes);
        bytes += n > 0 ? n : 1;
        chars++;
    }
    return bytes;
}

size_t lb_report_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    while (*p != '\0') {
        size_t n = lb_report_utf8_seq(p);
        p += n > 0 ? n : 1;
        chars++;
    }
    return chars;
}

#define REPLACEMENT "\xef\xbf\xbd"

static void xml_escape(struct lb_buf *b, const char *s, int attr)
{
    const unsigned char *p = (const unsigned char *)s;
    if (s == NULL)
        return;
    while (*p != '\0') {
        size_t n = lb_report_utf8_seq(p);
        if (n == 0) {
            lb_buf_adds(b, REPLACEMENT);
            p++;
            continue;
        }
        if (n > 1) {
            /* U+FFFE and U+FFFF are not XML characters. */
            if (n == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
                lb_buf_adds(b, REPLACEMENT);
            else
                lb_buf_add(b, p, n);
            p += n;
            continue;
        }
        switch (*p) {
        case '&': lb_buf_adds(b, "&amp;"); break;
        case '<': lb_buf_adds(b, "&lt;"); break;
        case '>': lb_buf_adds(b, "&gt;"); break;
        case '"': lb_buf_adds(b, attr ? "&quot;" : "\""); break;
        case '\'': lb_buf_adds(b, attr ? "&#39;" : "'"); break;
        case '\n': lb_buf_adds(b, attr ? "&#10;" : "\n"); break;
        case '\r': lb_buf_adds(b, attr ? "&#13;" : "\r"); break;
        case '\t': lb_buf_adds(b, attr ? "&#9;" : "\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                lb_buf_adds(b, REPLACEMENT);
            else
                lb_buf_addc(b, (char)*p);
            break;
        }
        p++;
    }
}

void lb_report_xml_text(struct lb_buf *b, const char *s)
{
    xml_escape(b, s, 0);
}

void lb_report_xml_attr(struct lb_buf *b, const char *s)
{
    xml_escape(b, s, 1);
}

void lb_report_class_token(struct lb_buf *b, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        lb_buf_adds(b, "none");
        return;
    }
    for (; *s != '\0'; s++) {
        char c = (char)tolower((unsigned char)*s);
        lb_buf_addc(b, (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c
                                                                                    : '-');
    }
}

/* ---- phases ------------------------------------------------------------ */

int lb_report_is_phase_metric(const char *name)
{
    return name != NULL && lb_str_starts(name, LB_REPORT_PHASE_PREFIX) &&
           (lb_str_ends(name, ".start_ms") || lb_str_ends(name, ".duration_ms"));
}

/* A metric value in whole milliseconds, -1 if it is not one. */
static int64_t metric_ms(double value)
{
    if (!isfinite(value) || value < 0 || value > 1e15)
        return -1;
    return (int64_t)(value + 0.5);
}

size_t lb_report_phases(const struct lb_run_view *v, int seq,
                        struct lb_report_phase **out)
{
    struct lb_report_phase *p = NULL;
    int64_t *starts = NULL;
    size_t n = 0, kept = 0;
    int64_t end = 0;

    *out = NULL;
    for (size_t i = 0; i < v->nmetrics; i++) {
        const struct lb_metric_view *m = &v->metrics[i];
        const char *name, *suffix;
        size_t len, j;
        int is_start;
        if (m->step_seq != seq || !lb_report_is_phase_metric(m->name))
            continue;
        is_start = lb_str_ends(m->name, ".start_ms");
        suffix = is_start ? ".start_ms" : ".duration_ms";
        name = m->name + strlen(LB_REPORT_PHASE_PREFIX);
        if (strlen(name) <= strlen(suffix))
            continue;
        len = strlen(name) - strlen(suffix);
        for (j = 0; j < n; j++) {
            if (strlen(p[j].name) == len && strncmp(p[j].name, name, len) == 0)
                break;
        }
        if (j == n) {
            p = lb_xrealloc(p, (n + 1) * sizeof *p);
            starts = lb_xrealloc(starts, (n + 1) * sizeof *starts);
            p[n].name = lb_xstrndup(name, len);
            p[n].start_ms = -1;
            p[n].duration_ms = -1;
            starts[n] = -1;
            n++;
        }
        if (is_start)
            starts[j] = metric_ms(m->value);
        else
            p[j].duration_ms = metric_ms(m->value);
    }
    /* A phase without a start follows the one before it. */
    for (size_t i = 0; i < n; i++) {
        if (p[i].duration_ms < 0) {
            free(p[i].name);
            continue;
        }
        p[kept] = p[i];
        p[kept].start_ms = starts[i] >= 0 ? starts[i] : end;
        end = p[kept].start_ms + p[kept].duration_ms;
        kept++;
    }
    free(starts);
    if (kept == 0) {
        free(p);
        return 0;
    }
    *out = p;
    return kept;
}

void lb_report_phases_free(struct lb_report_phase *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].name);
    free(p);
}

/* ---- validation rows --------------------------------------------------- */

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* lb_validate_fk_findings names them "fk <constraint>". */
int lb_report_is_fk_check(const struct lb_check_view *c)
{
    return c->name != NULL && c->table_name != NULL &&
           (starts_with_ci(c->name, "fk ") || ends_with_ci(c->name, "foreign keys"));
}

/* lb_validate_findings names them "<t>: missing rows", "extra rows",
 * "changed rows". */
int lb_report_is_diff_check(const struct lb_check_view *c)
{
    return c->name != NULL && c->table_name != NULL &&
           (ends_with_ci(c->name, ": diff") || ends_with_ci(c->name, ": missing rows") ||
            ends_with_ci(c->name, ": extra rows") || ends_with_ci(c->name, ": changed rows"));
}

/* Tables are told apart by display name: "public.x" and "x" are one. */
static int same_table(const char *a, const char *b)
{
    return a != NULL && b != NULL &&
           strcmp(lb_report_table_display(a), lb_report_table_display(b)) == 0;
}

static const struct lb_table_stat_view *find_stat(const struct lb_run_view *v,
                                                  const char *phase, const char *table)
{
    const struct lb_table_stat_view *found = NULL;
    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        if (ts->phase != NULL && strcmp(ts->phase, phase) == 0 &&
            same_table(ts->table_name, table))
            found = ts;
    }
    return found;
}

static int any_failed(const struct lb_check_view **c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!c[i]->ok)
            return 1;
    }
    return 0;
}

static const char *table_result(const struct lb_report_table_row *r, int *bad)
{
    const struct lb_table_stat_view *base = r->base, *rest = r->rest;
    int checks_failed = any_failed(r->fks, r->nfks) || any_failed(r->diffs, r->ndiffs);

    *bad = 1;
    if (rest == NULL && base == NULL) {
        *bad = checks_failed;
        return checks_failed ? "check failed" : "checked";
    }
    if (rest == NULL)
        return "not restored";
    if (base == NULL) {
        *bad = 0;
        return "no baseline";
    }
    if (rest->rows == 0 && base->rows > 0)
        return "EMPTY RESTORE";
    if (rest->rows != base->rows)
        return "rows differ";
    if (base->fingerprint != NULL && rest->fingerprint != NULL &&
        strcmp(base->fingerprint, rest->fingerprint) != 0)
        return "content differs";
    if (checks_failed)
        return "check failed";
    *bad = 0;
    if (base->fingerprint == NULL || rest->fingerprint == NULL)
        return "rows match";
    return "match";
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(lb_report_table_display(((const struct lb_report_table_row *)a)->table),
                  lb_report_table_display(((const struct lb_report_table_row *)b)->table));
}

static size_t add_table(struct lb_report_table_row *rows, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++) {
        if (same_table(rows[i].table, t))
            return n;
    }
    memset(&rows[n], 0, sizeof rows[n]);
    rows[n].table = t;
    return n + 1;
}

size_t lb_report_table_rows(const struct lb_run_view *v, struct lb_report_table_row **out)
{
    struct lb_report_table_row *rows = lb_xcalloc(v->nstats + v->nchecks + 1, sizeof *rows);
    size_t n = 0;

    for (size_t i = 0; i < v->nstats; i++) {
        const struct lb_table_stat_view *ts = &v->stats[i];
        if (ts->table_name == NULL || ts->phase == NULL ||
            (strcmp(ts->phase, "baseline") != 0 && strcmp(ts->phase, "restored") != 0))
            continue;
        n = add_table(rows, n, ts->table_name);
    }
    for (size_t i = 0; i < v->nchecks; i++) {
        if (lb_report_is_fk_check(&v->checks[i]) || lb_report_is_diff_check(&v->checks[i]))
            n = add_table(rows, n, v->checks[i].table_name);
    }
    qsort(rows, n, sizeof *rows, cmp_row);
    for (size_t i = 0; i < n; i++) {
        struct lb_report_table_row *r = &rows[i];
        r->base = find_stat(v, "baseline", r->table);
        r->rest = find_stat(v, "restored", r->table);
        for (size_t j = 0; j < v->nchecks; j++) {
            const struct lb_check_view *c = &v->checks[j];
            if (!same_table(c->table_name, r->table))
                continue;
            if (lb_report_is_fk_check(c)) {
                r->fks = lb_xrealloc(r->fks, (r->nfks + 1) * sizeof *r->fks);
                r->fks[r->nfks++] = c;
            } else if (lb_report_is_diff_check(c)) {
                r->diffs = lb_xrealloc(r->diffs, (r->ndiffs + 1) * sizeof *r->diffs);
                r->diffs[r->ndiffs++] = c;
            }
        }
        r->result = table_result(r, &r->bad);
    }
    *out = rows;
    return n;
}

void lb_report_table_rows_free(struct lb_report_table_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].fks);
        free(rows[i].diffs);
    }
    free(rows);
}

int lb_report_fk_text(const struct lb_report_table_row *r, struct lb_buf *b)
{
    int failed = 0;
    if (r->nfks == 0)
        return 0;
    for (size_t i = 0; i < r->nfks; i++) {
        const struct lb_check_view *c = r->fks[i];
        if (c->ok)
            continue;
        lb_buf_printf(b, "%s%s: %s", failed++ > 0 ? "; " : "", c->name,
                      c->observed != NULL ? c->observed : "?");
    }
    if (!failed)
        lb_buf_addc(b, '0');
    return failed > 0;
}

int lb_report_diff_text(const struct lb_report_table_row *r, struct lb_buf *b)
{
    int failed = 0;
    for (size_t i = 0; i < r->ndiffs; i++) {
        const struct lb_check_view *c = r->diffs[i];
        const char *kind = strrchr(c->name, ':');
        kind = kind != NULL ? kind + 1 : c->name;
        while (*kind == ' ')
            kind++;
        lb_buf_printf(b, "%s%s: %s", i > 0 ? "; " : "", kind,
                      c->observed != NULL ? c->observed : "?");
        failed |= !c->ok;
    }
    return failed;
}

/* ---- provenance -------------------------------------------------------- */

static int secret_key(const char *k)
{
    static const char *const words[] = {"conninfo", "password", "secret", "token", "key"};
    char lower[64];
    size_t i;
    for (i = 0; k[i] != '\0' && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)k[i]);
    lower[i] = '\0';
    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strstr(lower, words[i]) != NULL)
            return 1;
    }
    return 0;
}

/* A JSON scalar as text, or NULL for objects, arrays and null. */
static char *scalar_text(const cJSON *j)
{
    char num[48];
    if (cJSON_IsString(j))
        return lb_xstrdup(j->valuestring);
    if (cJSON_IsBool(j))
        return lb_xstrdup(cJSON_IsTrue(j) ? "true" : "false");
    if (cJSON_IsNumber(j)) {
        lb_report_fmt_number(j->valuedouble, num, sizeof num);
        return lb_xstrdup(num);
    }
    return NULL;
}

size_t lb_report_targets(const char *plan_json, struct lb_report_target **out,
                         char **backups)
{
    cJSON *root = plan_json != NULL ? cJSON_Parse(plan_json) : NULL;
    const cJSON *targets, *item;
    struct lb_report_target *t = NULL;
    size_t n = 0;

    *out = NULL;
    if (backups != NULL)
        *backups = NULL;
    if (root == NULL)
        return 0;
    targets = cJSON_GetObjectItemCaseSensitive(root, "targets");
    cJSON_ArrayForEach(item, (cJSON_IsArray(targets) ? targets : NULL))
    {
        struct lb_report_target *cur;
        const cJSON *f;
        t = lb_xrealloc(t, (n + 1) * sizeof *t);
        cur = &t[n++];
        memset(cur, 0, sizeof *cur);
        if (cJSON_IsString(item)) {
            cur->name = lb_xstrdup(item->valuestring);
            continue;
        }
        cJSON_ArrayForEach(f, (cJSON_IsObject(item) ? item : NULL))
        {
            char *value;
            if (f->string == NULL || secret_key(f->string) ||
                (value = scalar_text(f)) == NULL)
                continue;
            if (strcmp(f->string, "name") == 0 && cur->name == NULL) {
                cur->name = value;
                continue;
            }
            cur->keys = lb_xrealloc(cur->keys, (cur->nfields + 1) * sizeof *cur->keys);
            cur->values = lb_xrealloc(cur->values, (cur->nfields + 1) * sizeof *cur->values);
            cur->keys[cur->nfields] = lb_xstrdup(f->string);
            cur->values[cur->nfields] = value;
            cur->nfields++;
        }
        if (cur->name == NULL)
            cur->name = lb_xstrdup("?");
    }
    if (backups != NULL) {
        const cJSON *bk = cJSON_GetObjectItemCaseSensitive(root, "backups");
        struct lb_buf b = {0};
        cJSON_ArrayForEach(item, (cJSON_IsArray(bk) ? bk : NULL))
        {
            const char *name = cJSON_IsString(item) ? item->valuestring : NULL;
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(item, "name");
            if (name == NULL && cJSON_IsString(nm))
                name = nm->valuestring;
            if (name == NULL)
                continue;
            if (b.len > 0)
                lb_buf_adds(&b, ", ");
            lb_buf_adds(&b, name);
        }
        *backups = b.len > 0 ? lb_buf_steal(&b) : NULL;
        lb_buf_free(&b);
    }
    cJSON_Delete(root);
    *out = t;
    return n;
}

void lb_report_targets_free(struct lb_report_target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < t[i].nfields; j++) {
            free(t[i].keys[j]);
            free(t[i].values[j]);
        }
        free(t[i].keys);
        free(t[i].values);
        free(t[i].name);
    }
    free(t);
}

/* ---- time axis --------------------------------------------------------- */

void lb_report_axis_init(struct lb_report_axis *a, int64_t t0, int64_t t1, double x0,
                         double x1, int max_ticks)
{
    static const int64_t steps[] = {
        1, 2, 5, 10, 20, 50, 100, 200, 500,                         /* ms */
        1000, 2000, 5000, 10000, 15000, 30000,                      /* s */
        60000, 120000, 300000, 600000, 900000, 1800000,             /* min */
        3600000, 7200000, 10800000, 21600000, 43200000,             /* h */
        86400000, 172800000, 604800000, 2592000000, 7776000000,     /* d, 30d, 90d */
        31536000000,
    };
    int64_t span;
    size_t i;

    if (t1 <= t0)
        t1 = t0 + 1;
    if (max_ticks < 1)
        max_ticks = 1;
    span = t1 - t0;
    a->t0 = t0;
    a->t1 = t1;
    a->x0 = x0;
    a->x1 = x1;
    for (i = 0; i + 1 < sizeof steps / sizeof steps[0]; i++) {
        if (span / steps[i] <= max_ticks)
            break;
    }
    a->tick = steps[i];
}

double lb_report_axis_x(const struct lb_report_axis *a, int64_t t)
{
    return a->x0 + (a->x1 - a->x0) * (double)(t - a->t0) / (double)(a->t1 - a->t0);
}

/* ---- runs -------------------------------------------------------------- */

const struct lb_run_view **lb_report_sorted_runs(const struct lb_run_view *const *runs,
                                                 size_t n, int drop_dry_runs, size_t *out_n)
{
    const struct lb_run_view **s = lb_xcalloc(n + 1, sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *r = runs[i];
        size_t j;
        if (drop_dry_runs && (r->dry_run || (r->status != NULL &&
                                             strcmp(r->status, "planned") == 0)))
            continue;
        /* Insertion sort by start time, then id: stable output. */
        for (j = k; j > 0; j--) {
            const struct lb_run_view *p = s[j - 1];
            if (p->started_at < r->started_at ||
                (p->started_at == r->started_at &&
                 strcmp(p->id != NULL ? p->id : "", r->id != NULL ? r->id : "") <= 0))
                break;
            s[j] = p;
        }
        s[j] = r;
        k++;
    }
    *out_n = k;
    return s;
}

/* ---- formats and files ------------------------------------------------- */

static const struct {
    unsigned format;
    const char *names[3];
    const char *ext;
} formats_known[] = {
    {LB_REPORT_MD, {"md", "markdown", NULL}, "md"},
    {LB_REPORT_HTML, {"html", "htm", NULL}, "html"},
    {LB_REPORT_JSON, {"json", NULL, NULL}, "json"},
    {LB_REPORT_JUNIT, {"junit", "xml", NULL}, "junit.xml"},
};

const char *lb_report_extension(enum lb_report_format f)
{
    for (size_t i = 0; i < sizeof formats_known / sizeof formats_known[0]; i++) {
        if (formats_known[i].format == (unsigned)f)
            return formats_known[i].ext;
    }
    return "txt";
}

int lb_report_parse_formats(const char *text, unsigned *out, struct lb_err *err)
{
    unsigned set = 0;
    const char *p = text;

    *out = 0;
    if (text == NULL)
        return lb_err_set(err, LB_EINVAL, "no report format given (md, html, json, junit)");
    while (*p != '\0') {
        const char *start, *end;
        size_t len;
        unsigned found = 0;
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        len = (size_t)(end - start);
        for (size_t i = 0; i < sizeof formats_known / sizeof formats_known[0] && !found;
             i++) {
            for (size_t k = 0; k < 3 && formats_known[i].names[k] != NULL; k++) {
                if (strlen(formats_known[i].names[k]) == len &&
                    strncasecmp(start, formats_known[i].names[k], len) == 0)
                    found = formats_known[i].format;
            }
        }
        if (!found)
            return lb_err_set(err, LB_EINVAL,
                              "unknown report format '%.*s' (md, html, json, junit)",
                              (int)len, start);
        set |= found;
    }
    if (set == 0)
        return lb_err_set(err, LB_EINVAL, "no report format given (md, html, json, junit)");
    *out = set;
    return 0;
}

/* A run id becomes a file name: refuse anything that would leave outdir. */
static int safe_file_stem(const char *id, struct lb_err *err)
{
    if (id == NULL || id[0] == '\0' || id[0] == '.' || strchr(id, '/') != NULL)
        return lb_err_set(err, LB_EINVAL, "report: run id '%s' cannot name a file",
                          id != NULL ? id : "");
    return 0;
}

static void render_junit_one(const struct lb_run_view *v, struct lb_buf *b)
{
    const struct lb_run_view *runs[1] = {v};
    lb_report_junit(runs, 1, b);
}

static void (*renderer(unsigned f))(const struct lb_run_view *, struct lb_buf *)
{
    switch (f) {
    case LB_REPORT_MD: return lb_report_markdown;
    case LB_REPORT_HTML: return lb_report_html;
    case LB_REPORT_JSON: return lb_report_json;
    case LB_REPORT_JUNIT: return render_junit_one;
    default: return NULL;
    }
}

void lb_report_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

int lb_report_write_files(struct lb_store *s, const char *run_id, unsigned formats,
                          const char *outdir, char ***paths, size_t *npaths,
                          struct lb_err *err)
{
    struct lb_run_view *v = NULL;
    struct lb_buf b = {0};
    char **written = NULL, *name = NULL, *path = NULL;
    size_t n = 0;
    int rc;

    *paths = NULL;
    *npaths = 0;
    if ((formats & LB_REPORT_ALL) == 0)
        return lb_err_set(err, LB_EINVAL, "report: no format chosen (md, html, json, junit)");
    rc = lb_store_load_run(s, run_id, &v, err);
    if (rc != 0)
        goto out;
    rc = safe_file_stem(v->id, err);
    if (rc != 0)
        goto out;
    rc = lb_mkdirs(outdir, 0755, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < sizeof formats_known / sizeof formats_known[0]; i++) {
        unsigned f = formats_known[i].format;
        if ((formats & f) == 0)
            continue;
        name = lb_xasprintf("%s.%s", v->id, formats_known[i].ext);
        path = lb_path_join(outdir, name);
        lb_buf_reset(&b);
        renderer(f)(v, &b);
        rc = lb_file_write(path, b.data != NULL ? b.data : "", b.len, err);
        if (rc != 0)
            goto out;
        written = lb_xrealloc(written, (n + 1) * sizeof *written);
        written[n++] = path;
        path = NULL;
        free(name);
        name = NULL;
    }
out:
    free(name);
    free(path);
    lb_buf_free(&b);
    lb_run_view_free(v);
    if (rc != 0) {
        lb_report_paths_free(written, n);
        return rc;
    }
    *paths = written;
    *npaths = n;
    return 0;
}

int lb_report_write(struct lb_store *s, const char *run_id, unsigned formats,
                    const char *outdir, char **first_path, struct lb_err *err)
{
    char **paths = NULL;
    size_t n = 0;
    int rc = lb_report_write_files(s, run_id, formats, outdir, &paths, &n, err);

    if (first_path != NULL)
        *first_path = NULL;
    if (rc != 0)
        return rc;
    if (first_path != NULL && n > 0) {
        *first_path = paths[0];
        paths[0] = NULL;
    }
    lb_report_paths_free(paths, n);
    return 0;
}
