/*
 * validate: proves restored data is really there. Per table: exact row
 * count, an order-independent content fingerprint of every row's full
 * content, and a schema fingerprint (columns, indexes, constraints,
 * triggers); then the comparison of a baseline with what a target holds now,
 * turned into findings (checks and gaps) by a pure function.
 *
 * Works over pg connections; knows nothing of Lua or the store. The Lua
 * binding (target:baseline / target:compare) records what comes back.
 * lifeboat's own tables (lifeboat_*) are never part of a baseline.
 */
#ifndef LIFEBOAT_VALIDATE_H
#define LIFEBOAT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_pg;

struct lb_table_fp {
    char *name;            /* "schema.table" ("public.inventory") */
    int64_t rows;          /* exact count; -1 if the table does not exist */
    char *fingerprint;     /* content fingerprint (hex), NULL if not taken */
    char *schema_fp;       /* schema fingerprint (hex) */
    int has_pk;            /* 1 if it has a primary key */
    int nfks;              /* foreign keys declared on it */
    int64_t bytes;         /* pg_table_size at the time, for ordering work */
};

struct lb_baseline {
    struct lb_table_fp *tables;
    size_t ntables;
    int64_t taken_at;      /* wall ms */
};

struct lb_baseline_opts {
    const char *const *tables;  /* NULL-ended list of names, or NULL for every user table */
    int fingerprint;            /* 1: content fingerprints (default in callers) */
    int64_t deadline_ms;
};

/* Take a baseline through `c`. Caller frees with lb_baseline_free. */
int lb_validate_baseline(struct lb_pg *c, const struct lb_baseline_opts *opts,
                         struct lb_baseline **out, struct lb_err *err);
void lb_baseline_free(struct lb_baseline *b);
/* Borrowed lookup by name ("inventory" matches "public.inventory"). */
const struct lb_table_fp *lb_baseline_find(const struct lb_baseline *b,
                                           const char *name);

/* Severity of a finding's gap. */
enum lb_severity { LB_SEV_NONE = 0, LB_SEV_MINOR, LB_SEV_MAJOR, LB_SEV_CRITICAL };
const char *lb_severity_name(enum lb_severity s);

/* One check (and maybe a gap) that a comparison produced. */
struct lb_finding {
    char *check_name;      /* "inventory: rows" */
    char *table;
    int ok;
    char *expected;
    char *observed;
    enum lb_severity severity;  /* gap severity when !ok; NONE for no gap */
    char *gap_category;    /* "validation" */
    char *gap_title;       /* "inventory: 0 rows restored, 20000 expected" */
};

struct lb_findings {
    struct lb_finding *items;
    size_t n;
    int ok;                /* every check passed */
};
void lb_findings_free(struct lb_findings *f);

struct lb_compare_opts {
    double tolerance;      /* allowed relative row-count difference; 0 = exact */
    int fingerprint;       /* compare content fingerprints (needs them in the baseline) */
};

/*
 * Pure: compare `before` with `after` (after is a fresh baseline of the
 * same tables) and produce one check per table for count, content and
 * schema, plus gaps: a table missing or empty after restore that was not
 * empty before is critical; a lost primary key or foreign key is major;
 * a count outside tolerance or a changed fingerprint is critical.
 */
int lb_validate_findings(const struct lb_baseline *before,
                         const struct lb_baseline *after,
                         const struct lb_compare_opts *opts,
                         struct lb_findings *out);

#endif
