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
    }
    free(f->items);
    memset(f, 0, sizeof(*f));
}

struct list {
    struct lb_findings *f;
    size_t cap;
};

/* Append one check; takes ownership of expected, observed and title. */
static void add(struct list *l, const char *table, const char *display, const char *what,
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

        check_rows(&l, b, disp, arows, tolerance);
        if (b->rows < 0 || arows < 0)
            continue;
        if (fingerprint && b->fingerprint != NULL && a->fingerprint != NULL)
            check_content(&l, b, a, disp, tolerance);
        if (b->schema_fp != NULL && a->schema_fp != NULL)
            check_schema(&l, b, a, disp);
    }
    return 0;
}
