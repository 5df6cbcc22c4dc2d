/*
 * validate/findings: the judgement. A baseline against what came back,
 * turned into checks and gaps. Pure: no connection, no clock.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/validate.h"

const char *lb_severity_name(enum lb_severity s)
{
    switch (s) {
    case LB_SEV_NONE: return "none";
    case LB_SEV_MINOR: return "minor";
    case LB_SEV_MAJOR: return "major";
    case LB_SEV_CRITICAL: return "critical";
    }
    return "unknown";
}

void lb_findings_free(struct lb_findings *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->n; i++) {
        struct lb_finding *it = &f->items[i];
        free(it->check_name);
        free(it->table);
        free(it->expected);
        free(it->observed);
        free(it->gap_category);
        free(it->gap_title);
        free(it->gap_detail);
    }
    free(f->items);
    memset(f, 0, sizeof(*f));
}

struct list {
    struct lb_findings *f;
    size_t cap;
};

/* Append one check; takes ownership of expected, observed and title. */
static struct lb_finding *add(struct list *l, const char *table, const char *display, const char *what,
                int ok, char *expected, char *observed, enum lb_severity sev, char *title)
{
    struct lb_finding *it;

    if (l->f->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->f->items = lb_xrealloc(l->f->items, l->cap * sizeof(*l->f->items));
    }
    it = &l->f->items[l->f->n++];
    memset(it, 0, sizeof(*it));
    it->check_name = display != NULL ? lb_xasprintf("%s: %s", display, what) : lb_xstrdup(what);
    it->table = lb_xstrdup(table);
    it->ok = ok;
    it->expected = expected;
    it->observed = observed;
    if (!ok && sev != LB_SEV_NONE) {
        it->severity = sev;
        it->gap_category = lb_xstrdup("validation");
        it->gap_title = title;
    } else {
        free(title);
    }
    if (!ok)
        l->f->ok = 0;
    return it;
}

static char *rows_text(int64_t rows)
{
    return rows < 0 ? lb_xstrdup("missing") : lb_xasprintf("%" PRId64, rows);
}

/* Within tolerance, relative to the count before (exact when 0). */
static int rows_within(int64_t before, int64_t after, double tolerance)
{
    double diff;

    if (before == after)
        return 1;
    if (!(tolerance > 0) || before <= 0)
        return 0;
    diff = (double)after - (double)before;
    if (diff < 0)
        diff = -diff;
    return diff <= tolerance * (double)before;
}

static void check_rows(struct list *l, const struct lb_table_fp *b, const char *disp,
                       int64_t after, double tolerance)
{
    char *title = NULL;
    enum lb_severity sev = LB_SEV_CRITICAL;
    int ok = 0;

    if (b->rows < 0) {
        title = lb_xasprintf("%s did not exist when the baseline was taken: nothing to "
                             "compare", disp);
    } else if (after < 0) {
        title = lb_xasprintf("%s is missing after restore", disp);
    } else if (after == 0 && b->rows > 0) {
        title = lb_xasprintf("%s: restore is empty (0 rows, %" PRId64 " expected)", disp,
                             b->rows);
    } else if (rows_within(b->rows, after, tolerance)) {
        ok = 1;
    } else {
        int64_t diff = after - b->rows;
        if (tolerance > 0)
            title = lb_xasprintf("%s: %" PRId64 " rows, %" PRId64 " expected (%s%" PRId64
                                 ", beyond the %g%% tolerance)",
                                 disp, after, b->rows, diff > 0 ? "+" : "", diff,
                                 tolerance * 100.0);
        else
            title = lb_xasprintf("%s: %" PRId64 " rows, %" PRId64 " expected (%s%" PRId64 ")",
                                 disp, after, b->rows, diff > 0 ? "+" : "", diff);
    }
    add(l, b->name, disp, "rows", ok, rows_text(b->rows), rows_text(after), sev, title);
}

static void check_content(struct list *l, const struct lb_table_fp *b,
                          const struct lb_table_fp *a, const char *disp, double tolerance)
{
    char *title = NULL;
    int ok = strcmp(b->fingerprint, a->fingerprint) == 0;
    enum lb_severity sev = LB_SEV_NONE;

    if (!ok && a->rows != b->rows && rows_within(b->rows, a->rows, tolerance))
        return; /* accepted drift: fingerprints cannot match, nothing to judge */
    if (!ok && a->rows == b->rows) {
        sev = LB_SEV_CRITICAL;
        title = lb_xasprintf("%s: content differs from the baseline (%" PRId64
                             " rows, fingerprint %s, expected %s)",
                             disp, a->rows, a->fingerprint, b->fingerprint);
    }
    /* With counts out of tolerance the rows gap already says it. */
    add(l, b->name, disp, "content", ok, lb_xstrdup(b->fingerprint),
        lb_xstrdup(a->fingerprint), sev, title);
}

static void check_schema(struct list *l, const struct lb_table_fp *b,
                         const struct lb_table_fp *a, const char *disp)
{
    int ok = strcmp(b->schema_fp, a->schema_fp) == 0;
    int lost_pk = b->has_pk && !a->has_pk;
    int lost_fks = a->nfks < b->nfks ? b->nfks - a->nfks : 0;
    char *title = NULL;

    if (!ok) {
        if (lost_pk && lost_fks > 0)
            title = lb_xasprintf("%s came back without its primary key and without %d "
                                 "foreign key(s)", disp, lost_fks);
        else if (lost_pk)
            title = lb_xasprintf("%s came back without its primary key", disp);
        else if (lost_fks > 0)
            title = lb_xasprintf("%s came back without %d foreign key(s)", disp, lost_fks);
        else
            title = lb_xasprintf("%s: schema differs from the baseline (columns, "
                                 "constraints, indexes or triggers)", disp);
    }
    add(l, b->name, disp, "schema", ok, lb_xstrdup(b->schema_fp), lb_xstrdup(a->schema_fp),
        LB_SEV_MAJOR, title);
}

/* Tables of the default schema read better unqualified. */
static const char *display_name(const char *name)
{
    return lb_str_starts(name, "public.") && name[7] != '\0' ? name + 7 : name;
}

/* ---- localisation ------------------------------------------------------ */

static int failed_since(const struct list *l, size_t first)
{
    size_t i;

    for (i = first; i < l->f->n; i++)
        if (!l->f->items[i].ok)
            return 1;
    return 0;
}

#define TITLE_KEYS 5

static const char *plural(int64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The sample keys of one kind: "id 17, 4242, 9001" or "(a, b) (1, x), (2, y)",
 * at most max of them, "…" when more were identified. */
static void add_keys(struct lb_buf *b, const struct lb_table_diff *d, char kind, size_t max,
                     int64_t identified)
{
    size_t i, shown = 0;
    int composite = d->key_columns != NULL && strchr(d->key_columns, ',') != NULL;

    for (i = 0; i < d->nsamples; i++) {
        const struct lb_row_diff *r = &d->samples[i];
        if (r->kind != kind || shown == max)
            continue;
        if (shown == 0)
            lb_buf_printf(b, composite ? "(%s) " : "%s ",
                          d->key_columns != NULL ? d->key_columns : "key");
        else
            lb_buf_adds(b, ", ");
        lb_buf_printf(b, composite ? "(%s)" : "%s", r->key);
        shown++;
    }
    if ((int64_t)shown < identified)
        lb_buf_adds(b, shown > 0 ? ", \xe2\x80\xa6" : "\xe2\x80\xa6");
}

static int64_t kind_count(const struct lb_table_diff *d, char kind)
{
    return kind == 'm' ? d->missing : kind == 'e' ? d->extra : d->changed;
}

/* "42 rows of inventory for account_id 1187 are missing (id 1187, 2187, …)" and
 * the like: one sentence naming what the diff found. NULL if it named nothing. */
static char *localised_title(const struct lb_table_diff *d, const char *disp)
{
    struct lb_buf b = {0};
    const char *least = d->complete ? "" : "at least ";
    int kinds = (d->missing > 0) + (d->changed > 0) + (d->extra > 0);

    if (kinds == 0)
        return NULL;
    if (kinds == 1 && d->missing > 0) {
        lb_buf_printf(&b, "%s%" PRId64 " %s of %s", least, d->missing,
                      plural(d->missing, "row", "rows"), disp);
        if (d->missing_group != NULL && d->group_column != NULL)
            lb_buf_printf(&b, " for %s %s", d->group_column, d->missing_group);
        lb_buf_printf(&b, " %s missing (", plural(d->missing, "is", "are"));
        add_keys(&b, d, 'm', TITLE_KEYS, d->missing);
        lb_buf_addc(&b, ')');
        return lb_buf_steal(&b);
    }
    if (kinds == 1 && d->changed > 0) {
        lb_buf_printf(&b, "%s: %s%" PRId64 " %s changed (", disp, least, d->changed,
                      plural(d->changed, "row", "rows"));
        add_keys(&b, d, 'c', TITLE_KEYS, d->changed);
        lb_buf_addc(&b, ')');
        return lb_buf_steal(&b);
    }
    if (kinds == 1) {
        lb_buf_printf(&b, "%s: %s%" PRId64 " %s the baseline did not have (", disp, least,
                      d->extra, plural(d->extra, "row", "rows"));
        add_keys(&b, d, 'e', TITLE_KEYS, d->extra);
        lb_buf_addc(&b, ')');
        return lb_buf_steal(&b);
    }
    lb_buf_printf(&b, "%s: %s", disp, least);
    if (d->changed > 0) {
        lb_buf_printf(&b, "%" PRId64 " %s changed (", d->changed,
                      plural(d->changed, "row", "rows"));
        add_keys(&b, d, 'c', TITLE_KEYS, d->changed);
        lb_buf_addc(&b, ')');
    }
    if (d->missing > 0) {
        lb_buf_printf(&b, "%s%" PRId64 " missing", d->changed > 0 ? "; " : "", d->missing);
        if (d->missing_group != NULL && d->group_column != NULL)
            lb_buf_printf(&b, " for %s %s", d->group_column, d->missing_group);
        lb_buf_adds(&b, " (");
        add_keys(&b, d, 'm', TITLE_KEYS, d->missing);
        lb_buf_addc(&b, ')');
    }
    if (d->extra > 0) {
        lb_buf_printf(&b, "; %" PRId64 " the baseline did not have (", d->extra);
        add_keys(&b, d, 'e', TITLE_KEYS, d->extra);
        lb_buf_addc(&b, ')');
    }
    return lb_buf_steal(&b);
}

/* "42: id 1187, 2187, … (all account_id 1187)" */
static char *kind_observed(const struct lb_table_diff *d, char kind)
{
    struct lb_buf b = {0};
    int64_t n = kind_count(d, kind);

    lb_buf_printf(&b, "%s%" PRId64 ": ", d->complete ? "" : "at least ", n);
    add_keys(&b, d, kind, d->nsamples, n);
    if (kind == 'm' && d->missing_group != NULL && d->group_column != NULL)
        lb_buf_printf(&b, " (all %s %s)", d->group_column, d->missing_group);
    return lb_buf_steal(&b);
}

/* Rewrite the table's gap after what its diff found, and add one failed
 * check per kind of difference. */
static void localise(struct list *l, const struct lb_table_fp *a, const char *disp,
                     size_t first)
{
    const struct lb_table_diff *d = a->diff;
    struct lb_finding *gap = NULL;
    struct lb_buf detail = {0};
    static const char kinds[3] = {'m', 'c', 'e'};
    static const char *const names[3] = {"missing rows", "changed rows", "extra rows"};
    static const char *const labels[3] = {"Missing", "Changed", "Extra"};
    char *title;
    size_t i;

    for (i = first; i < l->f->n; i++)
        if (l->f->items[i].severity != LB_SEV_NONE &&
            (lb_str_ends(l->f->items[i].check_name, ": rows") ||
             lb_str_ends(l->f->items[i].check_name, ": content")))
            gap = &l->f->items[i];
    if (gap == NULL) {
        /* The count check failed without a gap of its own (content with
         * counts out of tolerance): the rows check has the gap. */
        for (i = first; i < l->f->n; i++)
            if (!l->f->items[i].ok && lb_str_ends(l->f->items[i].check_name, ": rows"))
                gap = &l->f->items[i];
    }
    if (gap != NULL && gap->gap_title != NULL)
        lb_buf_printf(&detail, "%s.", gap->gap_title);
    if (strcmp(d->method, "none") == 0) {
        if (gap != NULL) {
            lb_buf_printf(&detail, " Which rows differ cannot be said: %s.",
                          d->why != NULL ? d->why : "no detail");
            free(gap->gap_detail);
            gap->gap_detail = lb_buf_steal(&detail);
        }
        lb_buf_free(&detail);
        return;
    }
    lb_buf_printf(&detail, " Localised by %s.",
                  strcmp(d->method, "rows") == 0
                      ? "comparing every row with the baseline's"
                      : "the baseline's sketch, each row checked against the table now");
    for (i = 0; i < 3; i++) {
        int64_t n = kind_count(d, kinds[i]);
        char *obs;
        if (n == 0)
            continue;
        obs = kind_observed(d, kinds[i]);
        lb_buf_printf(&detail, " %s: %s.", labels[i], obs);
        add(l, a->name, disp, names[i], 0, lb_xstrdup("0"), obs, LB_SEV_NONE, NULL);
    }
    if (d->why != NULL)
        lb_buf_printf(&detail, " Not complete: %s.", d->why);
    title = localised_title(d, disp);
    if (gap != NULL && gap->severity != LB_SEV_NONE) {
        if (title != NULL) {
            free(gap->gap_title);
            gap->gap_title = title;
            title = NULL;
        }
        free(gap->gap_detail);
        gap->gap_detail = lb_buf_steal(&detail);
    }
    free(title);
    lb_buf_free(&detail);
}

int lb_validate_findings(const struct lb_baseline *before, const struct lb_baseline *after,
                         const struct lb_compare_opts *opts, struct lb_findings *out)
{
    struct list l;
    double tolerance = 0;
    int fingerprint = 1;
    int64_t total = 0;
    size_t i;

    if (out == NULL)
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (before == NULL)
        return LB_EINVAL;
    if (opts != NULL) {
        tolerance = opts->tolerance > 0 ? opts->tolerance : 0; /* NaN too */
        fingerprint = opts->fingerprint != 0;
    }
    l.f = out;
    l.cap = 0;
    out->ok = 1;

    for (i = 0; i < before->ntables; i++)
        if (before->tables[i].rows > 0)
            total += before->tables[i].rows;
    if (total == 0)
        add(&l, NULL, NULL, "baseline", 0, lb_xstrdup("rows in at least one table"),
            lb_xasprintf("0 rows in %zu table(s)", before->ntables), LB_SEV_CRITICAL,
            lb_xstrdup("baseline is empty: nothing to validate"));

    for (i = 0; i < before->ntables; i++) {
        const struct lb_table_fp *b = &before->tables[i];
        const struct lb_table_fp *a = lb_baseline_find(after, b->name);
        const char *disp = display_name(b->name);
        int64_t arows = a != NULL ? a->rows : -1;

        size_t first = l.f->n;

        check_rows(&l, b, disp, arows, tolerance);
        if (b->rows < 0 || arows < 0)
            continue;
        if (fingerprint && b->fingerprint != NULL && a->fingerprint != NULL)
            check_content(&l, b, a, disp, tolerance);
        if (a->diff != NULL && failed_since(&l, first))
            localise(&l, a, disp, first);
        if (b->schema_fp != NULL && a->schema_fp != NULL)
            check_schema(&l, b, a, disp);
    }
    return 0;
}

/* ---- foreign keys ------------------------------------------------------ */

/* "account_id 1187" / "account_id 1187, 2187, …" */
static void add_refs(struct lb_buf *b, const struct lb_fk_violation *v, size_t max)
{
    size_t i;
    int composite = strchr(v->columns, ',') != NULL;

    for (i = 0; i < v->nmissing_refs && i < max; i++) {
        if (i == 0)
            lb_buf_printf(b, composite ? "(%s) " : "%s ", v->columns);
        else
            lb_buf_adds(b, ", ");
        lb_buf_printf(b, composite ? "(%s)" : "%s", v->missing_refs[i]);
    }
    if (v->nmissing_refs > max)
        lb_buf_adds(b, ", \xe2\x80\xa6");
}

int lb_validate_fk_findings(const struct lb_fk_report *r, struct lb_findings *out)
{
    struct list l;
    size_t i, j;

    if (r == NULL || out == NULL)
        return LB_EINVAL;
    l.f = out;
    l.cap = out->n;
    if (out->n == 0)
        out->ok = 1;
    for (i = 0; i < r->n; i++) {
        const struct lb_fk_violation *v = &r->items[i];
        const char *disp = display_name(v->table);
        struct lb_buf obs = {0}, title = {0}, detail = {0};
        char *what = lb_xasprintf("fk %s", v->constraint);
        struct lb_finding *it;
        int composite = strchr(v->sample_columns != NULL ? v->sample_columns : "", ',') != NULL;

        if (v->count < 0) {
            free(what);
            continue;
        }
        lb_buf_printf(&obs, "%" PRId64 " %s without a parent", v->count,
                      plural(v->count, "row", "rows"));
        if (v->count > 0) {
            lb_buf_printf(&title, "%s: %" PRId64 " %s %s %s rows that do not exist (%s",
                          disp, v->count, plural(v->count, "row", "rows"),
                          plural(v->count, "references", "reference"),
                          display_name(v->references), v->constraint);
            if (v->nmissing_refs > 0) {
                lb_buf_adds(&title, ": ");
                add_refs(&title, v, 3);
            }
            lb_buf_addc(&title, ')');
            if (v->nsamples > 0) {
                lb_buf_printf(&obs, composite ? ": (%s) " : ": %s ", v->sample_columns);
                for (j = 0; j < v->nsamples; j++)
                    lb_buf_printf(&obs, composite ? "%s(%s)" : "%s%s", j > 0 ? ", " : "",
                                  v->samples[j]);
                if ((int64_t)v->nsamples < v->count)
                    lb_buf_adds(&obs, ", \xe2\x80\xa6");
            }
            lb_buf_printf(&detail, "%s (%s) references %s (%s). Rows: %s.", disp, v->columns,
                          display_name(v->references), v->ref_columns, obs.data);
            if (v->nmissing_refs > 0) {
                lb_buf_adds(&detail, " Missing parents, most rows first: ");
                add_refs(&detail, v, v->nmissing_refs);
                lb_buf_addc(&detail, '.');
            }
        }
        it = add(&l, v->table, disp, what, v->count == 0, lb_xstrdup("0 rows without a parent"),
                 lb_buf_steal(&obs), LB_SEV_MAJOR,
                 v->count > 0 ? lb_buf_steal(&title) : NULL);
        if (v->count > 0)
            it->gap_detail = lb_buf_steal(&detail);
        lb_buf_free(&title);
        lb_buf_free(&detail);
        free(what);
    }
    return 0;
}
