/*
 * assess: what the audit concludes from a layer's files (exists, readable,
 * fresh, from the pinned source, not empty) and from a restore of it (row
 * counts against the live source and the provenance, schema, foreign
 * keys). Pure functions: no I/O, no clock; the numbers go into the titles.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/audit.h"
#include "lifeboat/backup.h"
#include "lifeboat/pg.h"

/* A snapshot time this far ahead of the clock is not believed. */
#define FUTURE_SLACK_MS (60 * 1000)

void lb_audit_findings_free(struct lb_audit_findings *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->n; i++) {
        struct lb_audit_finding *x = &f->items[i];

        free(x->check);
        free(x->table);
        free(x->expected);
        free(x->observed);
        free(x->category);
        free(x->title);
        free(x->detail);
    }
    free(f->items);
    memset(f, 0, sizeof(*f));
}

/* One finding. Takes ownership of expected, observed, title and detail;
 * no gap when sev is LB_SEV_NONE (title and detail are then freed). */
static void add(struct lb_audit_findings *f, const char *layer, const char *what,
                const char *table, int ok, char *expected, char *observed,
                enum lb_severity sev, const char *category, char *title, char *detail)
{
    struct lb_audit_finding *x;

    f->items = lb_xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
    x = &f->items[f->n++];
    memset(x, 0, sizeof(*x));
    x->check = lb_xasprintf("%s: %s", layer, what);
    x->table = lb_xstrdup(table);
    x->ok = ok;
    x->expected = expected;
    x->observed = observed;
    if (sev != LB_SEV_NONE && title != NULL) {
        x->severity = sev;
        x->category = lb_xstrdup(category);
        x->title = title;
        x->detail = detail;
    } else {
        free(title);
        free(detail);
    }
}

static char *duration_text(int64_t ms)
{
    char d[32];

    lb_duration_format(ms < 0 ? 0 : ms, d, sizeof(d));
    return lb_xstrdup(d);
}

/* Tolerance as people write it: 0.05 → "5%". */
static void tolerance_text(double tol, char *out, size_t outsz)
{
    snprintf(out, outsz, "%g%%", tol * 100.0);
}

/* "inventory" for "public.inventory": how tables read in titles. */
static const char *display(const char *name)
{
    return lb_str_starts(name, "public.") ? name + strlen("public.") : name;
}

/* The declared target pinned to system identifier `sysid`, or NULL. */
static const struct lb_env_target *target_pinned_to(const struct lb_env *env,
                                                    const char *sysid)
{
    size_t i;

    for (i = 0; i < env->ntargets; i++)
        if (env->targets[i].system_identifier != NULL &&
            strcmp(env->targets[i].system_identifier, sysid) == 0)
            return &env->targets[i];
    return NULL;
}

static int64_t prov_rows(const struct lb_provenance *p)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < p->ntables; i++)
        if (p->tables[i].rows > 0)
            total += p->tables[i].rows;
    return total;
}

/* Kinds whose artifact audit cannot inspect yet: one minor gap each. */
static int assess_uninspectable(const struct lb_env_backup *b, struct lb_audit_findings *out)
{
    int pgbackrest = strcmp(b->kind, "pgbackrest") == 0;

    /* A pgBackRest layer without a path still restores (audit --restore,
     * with pgBackRest's default configuration): only its files are unseen. */
    add(out, b->name, "inspected", NULL, 0,
        lb_xasprintf("existence, age and source of the %s layer checked", b->kind),
        lb_xstrdup("not implemented yet"), LB_SEV_MINOR, "backup",
        lb_xasprintf("%s: audit of kind %s not implemented yet: its existence, age%s "
                     "unchecked", b->name, b->kind,
                     pgbackrest ? " and source are" : ", source and restore are"),
        lb_xstrdup(pgbackrest ? "declare the layer's path (its pgbackrest.conf, with the "
                                "repository and provenance beside it) so lifeboat can inspect "
                                "it; audit --restore restores it with pgBackRest's default "
                                "configuration"
                              : "lifeboat can only inspect layers with a path (pg_dump, "
                                "basebackup, pgbackrest); a command layer is opaque to it"));
    return 0;
}

/* Exists, non-empty file, readable archive. Returns 1 when nothing more can
 * be checked (the artifact is missing). */
static int assess_artifact(const struct lb_env_backup *b, const struct lb_audit_artifact *a,
                           struct lb_audit_findings *out)
{
    const char *path = a->path != NULL ? a->path : b->path;

    if (!a->exists) {
        add(out, b->name, "exists", NULL, 0, lb_xstrdup(path), lb_xstrdup("missing"),
            LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s: %s does not exist", b->name, path),
            lb_xstrdup("there is nothing to restore from this layer"));
        return 1;
    }
    add(out, b->name, "exists", NULL, 1, lb_xstrdup(path),
        a->size >= 0 ? lb_xasprintf("present, %" PRId64 " bytes", a->size) : lb_xstrdup("present"),
        LB_SEV_NONE, NULL, NULL, NULL);
    if (a->size == 0) {
        add(out, b->name, "not an empty file", NULL, 0, lb_xstrdup("> 0 bytes"),
            lb_xstrdup("0 bytes"), LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s: %s is an empty file (0 bytes)", b->name, path), NULL);
    }
    if (a->readable_checked) {
        int ok = a->readable_error == NULL;

        /* An empty file already has its critical gap. */
        add(out, b->name, "readable archive", NULL, ok,
            lb_xstrdup("a table of contents pg_restore can list"),
            lb_xstrdup(ok ? "readable" : a->readable_error),
            ok || a->size == 0 ? LB_SEV_NONE : LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s: %s is not a readable pg_dump archive: %s", b->name, path,
                         ok ? "" : a->readable_error),
            NULL);
    }
    return 0;
}

/* Provenance present and readable. */
static void assess_provenance(const struct lb_env_backup *b, const struct lb_audit_artifact *a,
                              struct lb_audit_findings *out)
{
    char *ppath = lb_provenance_path(a->path != NULL ? a->path : b->path);

    if (a->prov != NULL) {
        add(out, b->name, "provenance", NULL, 1, lb_xstrdup(ppath), lb_xstrdup("present"),
            LB_SEV_NONE, NULL, NULL, NULL);
    } else if (a->prov_error == NULL) {
        add(out, b->name, "provenance", NULL, 0, lb_xstrdup(ppath), lb_xstrdup("missing"),
            LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s has no provenance: its source and snapshot time cannot be proven",
                         b->name),
            lb_xasprintf("no %s; lifeboat writes one next to every backup it takes "
                         "(backupctl, sandbox). Its age is taken from the file's mtime.",
                         ppath));
    } else {
        add(out, b->name, "provenance", NULL, 0, lb_xstrdup(ppath),
            lb_xasprintf("unreadable: %s", a->prov_error), LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s: its provenance is unreadable, so its source and snapshot time "
                         "cannot be proven: %s", b->name, a->prov_error),
            NULL);
    }
    free(ppath);
}

/* Age against max_age: from the provenance's snapshot time, else the mtime. */
static void assess_age(const struct lb_env_backup *b, const struct lb_audit_artifact *a,
                       int64_t now_ms, struct lb_audit_findings *out)
{
    int from_prov = a->prov != NULL && a->prov->taken_at > 0;
    int64_t at = from_prov ? a->prov->taken_at : a->mtime_ms;
    const char *basis = from_prov ? "snapshot time from its provenance"
                                  : "file mtime: no snapshot time in a provenance";
    char when[40];
    char *age = NULL, *max = NULL;

    if (at <= 0) {
        add(out, b->name, "fresh", NULL, 0, NULL, lb_xstrdup("age unknown"), LB_SEV_MAJOR,
            "backup", lb_xasprintf("%s: its age cannot be told (no snapshot time, no mtime)",
                                   b->name), NULL);
        return;
    }
    lb_wall_format(at, when, sizeof(when));
    if (at - now_ms > FUTURE_SLACK_MS) {
        char *ahead = duration_text(at - now_ms);

        add(out, b->name, "fresh", NULL, 0, lb_xstrdup("a time in the past"),
            lb_xasprintf("%s (%s)", when, basis), LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s: its time %s is %s ahead of this host's clock: its age cannot "
                         "be trusted", b->name, when, ahead), NULL);
        free(ahead);
        return;
    }
    age = duration_text(now_ms - at);
    if (b->max_age_ms < 0) {
        add(out, b->name, "fresh", NULL, 0, lb_xstrdup("a declared max_age"),
            lb_xasprintf("%s old (%s)", age, basis), LB_SEV_MINOR, "backup",
            lb_xasprintf("%s declares no max_age: its age (%s, taken %s) is not checked",
                         b->name, age, when), NULL);
        free(age);
        return;
    }
    max = duration_text(b->max_age_ms);
    if (now_ms - at <= b->max_age_ms)
        add(out, b->name, "fresh", NULL, 1, lb_xasprintf("at most %s old", max),
            lb_xasprintf("%s old (%s)", age, basis), LB_SEV_NONE, NULL, NULL, NULL);
    else
        add(out, b->name, "fresh", NULL, 0, lb_xasprintf("at most %s old", max),
            lb_xasprintf("%s old (%s)", age, basis), LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s is stale: taken %s ago (%s), max_age %s%s", b->name, age, when,
                         max, from_prov ? "" : " (by the file's mtime)"),
            lb_xasprintf("age from the %s", basis));
    free(age);
    free(max);
}

/* The provenance's source against the pin of the target the layer claims. */
static void assess_source(const struct lb_env *env, const struct lb_env_backup *b,
                          const struct lb_audit_artifact *a, struct lb_audit_findings *out)
{
    const struct lb_env_target *t = b->source != NULL ? lb_env_target(env, b->source) : NULL;
    const struct lb_provenance *p = a->prov;
    const struct lb_env_target *other;
    char *want_db = NULL;
    struct lb_buf from = {0};

    if (b->source == NULL || t == NULL) {
        add(out, b->name, "source", NULL, 0, lb_xstrdup("a declared source target"),
            lb_xstrdup(b->source != NULL ? b->source : "none"), LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s declares no source target: what it backs up cannot be checked",
                         b->name), NULL);
        return;
    }
    if (t->system_identifier == NULL || t->system_identifier[0] == '\0') {
        add(out, b->name, "source", NULL, 0, lb_xasprintf("the pin of target '%s'", t->name),
            lb_xstrdup("no pin"), LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s: target '%s' has no pinned system_identifier to compare its "
                         "source with", b->name, t->name), NULL);
        return;
    }
    if (p == NULL) {
        /* The missing or unreadable provenance has its own gap. */
        add(out, b->name, "source", NULL, 0,
            lb_xasprintf("system_identifier %s (target '%s')", t->system_identifier, t->name),
            lb_xstrdup("unknown: no provenance"), LB_SEV_NONE, NULL, NULL, NULL);
        return;
    }
    if (p->source_system_identifier == NULL) {
        add(out, b->name, "source", NULL, 0,
            lb_xasprintf("system_identifier %s (target '%s')", t->system_identifier, t->name),
            lb_xstrdup("unknown"), LB_SEV_MAJOR, "backup",
            lb_xasprintf("%s: its provenance names no source system_identifier", b->name),
            NULL);
        return;
    }
    lb_buf_printf(&from, "system_identifier %s", p->source_system_identifier);
    other = target_pinned_to(env, p->source_system_identifier);
    if (p->source_cluster_name != NULL || other != NULL) {
        lb_buf_adds(&from, " (");
        if (p->source_cluster_name != NULL)
            lb_buf_printf(&from, "cluster %s", p->source_cluster_name);
        if (other != NULL)
            lb_buf_printf(&from, "%starget '%s'", p->source_cluster_name != NULL ? ", " : "",
                          other->name);
        lb_buf_adds(&from, ")");
    }
    if (strcmp(p->source_system_identifier, t->system_identifier) != 0) {
        add(out, b->name, "source", NULL, 0,
            lb_xasprintf("system_identifier %s (target '%s')", t->system_identifier, t->name),
            lb_xstrdup(from.data), LB_SEV_CRITICAL, "backup",
            lb_xasprintf("backup source is not the pinned target: %s comes from %s, %s is "
                         "pinned to %s", b->name, from.data, t->name, t->system_identifier),
            lb_xasprintf("the layer says `source = \"%s\"`, but its provenance says it was "
                         "taken from another cluster: restoring it would not bring %s back",
                         t->name, t->name));
        goto out;
    }
    add(out, b->name, "source", NULL, 1,
        lb_xasprintf("system_identifier %s (target '%s')", t->system_identifier, t->name),
        lb_xstrdup(from.data), LB_SEV_NONE, NULL, NULL, NULL);
    /* Same cluster: the database must be the one the target names too. */
    want_db = t->conninfo != NULL ? lb_pg_conninfo_get(t->conninfo, "dbname") : NULL;
    if (want_db != NULL && p->database != NULL) {
        int ok = strcmp(want_db, p->database) == 0;

        add(out, b->name, "source database", NULL, ok, lb_xstrdup(want_db),
            lb_xstrdup(p->database), ok ? LB_SEV_NONE : LB_SEV_CRITICAL, "backup",
            lb_xasprintf("backup source is not the pinned target: %s comes from database "
                         "'%s' of %s, %s is database '%s'", b->name, p->database, from.data,
                         t->name, want_db), NULL);
    }
out:
    free(want_db);
    lb_buf_free(&from);
}

/* What the provenance says the backup holds. */
static void assess_contents(const struct lb_env_backup *b, const struct lb_provenance *p,
                            struct lb_audit_findings *out)
{
    int64_t rows;

    if (p == NULL)
        return;
    if (p->ntables == 0) {
        add(out, b->name, "not empty", NULL, 0, lb_xstrdup("> 0 rows"),
            lb_xstrdup("no tables"), LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s is empty: its provenance records no tables", b->name), NULL);
        return;
    }
    rows = prov_rows(p);
    add(out, b->name, "not empty", NULL, rows > 0, lb_xstrdup("> 0 rows"),
        lb_xasprintf("%" PRId64 " rows in %zu tables", rows, p->ntables),
        rows > 0 ? LB_SEV_NONE : LB_SEV_CRITICAL, "backup",
        lb_xasprintf("%s is empty: its provenance records 0 rows in %zu tables", b->name,
                     p->ntables),
        lb_xstrdup("a restore of it brings back tables without data"));
}

int lb_audit_assess(const struct lb_env *env, const struct lb_env_backup *b,
                    const struct lb_audit_artifact *a, int64_t now_ms,
                    struct lb_audit_findings *out)
{
    if (env == NULL || b == NULL || a == NULL || out == NULL)
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (b->path == NULL)
        return assess_uninspectable(b, out);
    if (assess_artifact(b, a, out))
        return 0;
    assess_provenance(b, a, out);
    assess_age(b, a, now_ms, out);
    assess_source(env, b, a, out);
    assess_contents(b, a->prov, out);
    return 0;
}

/* ---- restore findings ---------------------------------------------------- */

/* A layer restored as a cluster (lb_audit_compare holds its provenance to
 * the tolerance). */
static int physical_kind(const char *kind)
{
    return kind != NULL && (strcmp(kind, "basebackup") == 0 || strcmp(kind, "pgbackrest") == 0);
}

static int64_t baseline_rows(const struct lb_baseline *bl)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < bl->ntables; i++)
        if (bl->tables[i].rows > 0)
            total += bl->tables[i].rows;
    return total;
}

static char *rows_text(int64_t rows)
{
    return rows < 0 ? lb_xstrdup("missing") : lb_xasprintf("%" PRId64, rows);
}

/* One table of the live source against the restore. */
static void compare_table(const struct lb_env_backup *b, const struct lb_table_fp *l,
                          const struct lb_table_fp *r, int empty,
                          struct lb_audit_findings *out)
{
    const char *t = display(l->name);
    enum lb_severity gap = empty ? LB_SEV_NONE : LB_SEV_CRITICAL;
    char tol[32], what[300], pct[32];
    int ok;

    tolerance_text(b->tolerance, tol, sizeof(tol));
    snprintf(what, sizeof(what), "%s: rows", t);
    if (r == NULL || r->rows < 0) {
        add(out, b->name, what, l->name, 0, rows_text(l->rows), lb_xstrdup("missing"), gap,
            "validation",
            lb_xasprintf("%s: %s is missing from the restore (%" PRId64 " rows live)", b->name,
                         t, l->rows), NULL);
        return;
    }
    if (l->rows > 0) {
        int64_t diff = r->rows - l->rows;
        double off = (double)diff / (double)l->rows;

        ok = (double)(diff < 0 ? -diff : diff) <= b->tolerance * (double)l->rows;
        /* One decimal, unless rounding would make a miss read like a pass. */
        snprintf(pct, sizeof(pct), "%+.1f%%", off * 100.0);
        if (!ok && (off < 0 ? -off : off) * 100.0 < b->tolerance * 100.0 + 0.05)
            snprintf(pct, sizeof(pct), "%+.3f%%", off * 100.0);
        add(out, b->name, what, l->name, ok,
            lb_xasprintf("%" PRId64 " (within %s)", l->rows, tol), rows_text(r->rows),
            ok ? LB_SEV_NONE : gap, "validation",
            lb_xasprintf("%s: %s: %" PRId64 " rows restored, %" PRId64 " live (%s, "
                         "tolerance %s)", b->name, t, r->rows, l->rows, pct, tol),
            NULL);
    } else {
        ok = r->rows == 0;
        add(out, b->name, what, l->name, ok, lb_xstrdup("0"), rows_text(r->rows),
            ok ? LB_SEV_NONE : gap, "validation",
            lb_xasprintf("%s: %s: %" PRId64 " rows restored, 0 live (tolerance %s)", b->name,
                         t, r->rows, tol), NULL);
    }
    if (l->schema_fp != NULL && r->schema_fp != NULL) {
        ok = strcmp(l->schema_fp, r->schema_fp) == 0;
        snprintf(what, sizeof(what), "%s: schema", t);
        add(out, b->name, what, l->name, ok, lb_xstrdup(l->schema_fp),
            lb_xstrdup(r->schema_fp), ok ? LB_SEV_NONE : LB_SEV_MAJOR, "validation",
            lb_xasprintf("%s: %s: schema differs from %s now (columns, constraints, indexes "
                         "or triggers)", b->name, t, b->source != NULL ? b->source : "the source"),
            NULL);
    }
    if (l->nfks > 0) {
        ok = r->nfks >= l->nfks;
        /* Not "...: foreign keys": reports read such checks as violation counts. */
        snprintf(what, sizeof(what), "%s: foreign keys kept", t);
        add(out, b->name, what, l->name, ok, lb_xasprintf("%d", l->nfks),
            lb_xasprintf("%d", r->nfks), ok ? LB_SEV_NONE : LB_SEV_MAJOR, "validation",
            lb_xasprintf("%s: %s came back with %d of its %d foreign keys", b->name, t, r->nfks,
                         l->nfks), NULL);
    }
}

int lb_audit_compare(const struct lb_env_backup *b, const struct lb_baseline *live,
                     const struct lb_baseline *restored, const struct lb_provenance *prov,
                     int64_t fk_not_validated, struct lb_audit_findings *out)
{
    int64_t total;
    int empty;
    size_t i;

    if (b == NULL || restored == NULL || out == NULL)
        return LB_EINVAL;
    memset(out, 0, sizeof(*out));
    total = baseline_rows(restored);
    empty = total == 0;
    if (live != NULL)
        add(out, b->name, "restore not empty", NULL, !empty, lb_xstrdup("> 0 rows"),
            lb_xasprintf("%" PRId64 " rows in %zu tables", total, restored->ntables),
            empty ? LB_SEV_CRITICAL : LB_SEV_NONE, "validation",
            lb_xasprintf("restore is empty: %s restored 0 rows in %zu tables, %s holds %" PRId64
                         " rows now", b->name, restored->ntables,
                         b->source != NULL ? b->source : "the source", baseline_rows(live)),
            lb_xstrdup("an empty restore is never a pass"));
    else
        add(out, b->name, "restore not empty", NULL, !empty, lb_xstrdup("> 0 rows"),
            lb_xasprintf("%" PRId64 " rows in %zu tables", total, restored->ntables),
            empty ? LB_SEV_CRITICAL : LB_SEV_NONE, "validation",
            lb_xasprintf("restore is empty: %s restored 0 rows in %zu tables", b->name,
                         restored->ntables),
            lb_xstrdup("an empty restore is never a pass"));

    for (i = 0; live != NULL && i < live->ntables; i++)
        compare_table(b, &live->tables[i], lb_baseline_find(restored, live->tables[i].name),
                      empty, out);
    for (i = 0; live != NULL && i < restored->ntables; i++) {
        const struct lb_table_fp *r = &restored->tables[i];
        char what[300];

        if (lb_baseline_find(live, r->name) != NULL)
            continue;
        snprintf(what, sizeof(what), "%s: rows", display(r->name));
        add(out, b->name, what, r->name, 0, lb_xstrdup("not on the source"), rows_text(r->rows),
            LB_SEV_MINOR, "validation",
            lb_xasprintf("%s: %s is in the backup but not on %s now (%" PRId64 " rows)",
                         b->name, display(r->name), b->source != NULL ? b->source : "the source",
                         r->rows), NULL);
    }
    for (i = 0; prov != NULL && i < prov->ntables; i++) {
        const struct lb_prov_table *p = &prov->tables[i];
        const struct lb_table_fp *r = lb_baseline_find(restored, p->name);
        int64_t got = r != NULL ? r->rows : -1;
        char what[300], gotbuf[32], tol[32];
        int ok;

        if (got < 0)
            snprintf(gotbuf, sizeof(gotbuf), "no");
        else
            snprintf(gotbuf, sizeof(gotbuf), "%" PRId64, got);
        snprintf(what, sizeof(what), "%s: as its provenance records", display(p->name));
        if (!physical_kind(b->kind)) {
            /* A dump's provenance counts in the dump's own snapshot. */
            ok = got == p->rows;
            add(out, b->name, what, p->name, ok, rows_text(p->rows), rows_text(got),
                ok || empty ? LB_SEV_NONE : LB_SEV_CRITICAL, "backup",
                lb_xasprintf("%s: %s: %s rows restored, %" PRId64 " recorded in its "
                             "provenance: the archive does not hold what its provenance "
                             "claims", b->name, display(p->name), gotbuf, p->rows),
                NULL);
            continue;
        }
        /* A physical backup's provenance counts just before the backup
         * starts; its consistent point is later: the layer's tolerance. */
        tolerance_text(b->tolerance, tol, sizeof(tol));
        ok = got >= 0 && (double)(got > p->rows ? got - p->rows : p->rows - got) <=
                             b->tolerance * (double)p->rows;
        add(out, b->name, what, p->name, ok,
            lb_xasprintf("%" PRId64 " (within %s)", p->rows, tol), rows_text(got),
            ok || empty ? LB_SEV_NONE : LB_SEV_CRITICAL, "backup",
            lb_xasprintf("%s: %s: %s rows restored, %" PRId64 " recorded in its provenance "
                         "(tolerance %s): the backup does not hold what its provenance claims",
                         b->name, display(p->name), gotbuf, p->rows, tol),
            NULL);
    }
    if (fk_not_validated >= 0)
        add(out, b->name, "foreign keys validated", NULL, fk_not_validated == 0,
            lb_xstrdup("0 NOT VALID"), lb_xasprintf("%" PRId64 " NOT VALID", fk_not_validated),
            fk_not_validated == 0 ? LB_SEV_NONE : LB_SEV_MAJOR, "validation",
            lb_xasprintf("%s: %" PRId64 " foreign key(s) are NOT VALID after the restore: rows "
                         "violating them were never checked", b->name, fk_not_validated),
            NULL);
    return 0;
}
