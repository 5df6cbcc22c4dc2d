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

/*
 * Take a baseline through `c`. Caller frees with lb_baseline_free.
 *
 * Tables: opts->tables (each resolved like the server would, "inventory" or
 * "public.inventory", or exactly as "schema.table"; one that does not exist
 * gets rows = -1 and no fingerprints; a name the server cannot parse or that
 * names a sequence/index is LB_EINVAL), or every user table (relkind 'r',
 * not temporary, outside pg_catalog, information_schema and pg_toast*).
 * lifeboat_* tables are skipped in both cases. Result sorted by name
 * (byte order), duplicates merged.
 *
 * Everything is read in one REPEATABLE READ READ ONLY transaction on `c`
 * (lb_validate_begin/lb_validate_end), so `c` must not be inside a
 * transaction. opts->deadline_ms is monotonic; 0 means none. Rows of an
 * inheritance parent are its own (FROM ONLY); a partitioned table named in
 * opts->tables counts all its partitions. On error nothing is returned and
 * the transaction is rolled back.
 */
int lb_validate_baseline(struct lb_pg *c, const struct lb_baseline_opts *opts,
                         struct lb_baseline **out, struct lb_err *err);
/* NULL is a no-op. */
void lb_baseline_free(struct lb_baseline *b);
/* Borrowed lookup by name: an exact match first; an unqualified name
 * ("inventory") matches "public.inventory", else the first "x.inventory";
 * a qualified name matches an entry recorded unqualified (a table that was
 * missing when named). NULL if none. */
const struct lb_table_fp *lb_baseline_find(const struct lb_baseline *b,
                                           const char *name);

/*
 * The pieces lb_validate_baseline is made of, for callers that spread the
 * tables over several connections.
 *
 * lb_validate_begin opens the snapshot transaction on `c` (REPEATABLE READ
 * READ ONLY) and pins the session settings that fingerprints depend on
 * (search_path = pg_catalog so that definitions come out schema-qualified,
 * TimeZone UTC, DateStyle ISO, IntervalStyle, extra_float_digits,
 * bytea_output, lc_monetary), all SET LOCAL. lb_validate_end commits
 * (commit=1) or rolls back (commit=0; errors ignored, always returns 0).
 */
int lb_validate_begin(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err);
int lb_validate_end(struct lb_pg *c, int commit, int64_t deadline_ms,
                    struct lb_err *err);

/*
 * Fingerprint one table, `schema`.`table` (exact catalog names, unquoted),
 * through `c` inside a transaction opened with lb_validate_begin. One scan:
 * exact count(*) and, when `fingerprint`, the content fingerprint: the sum
 * over rows of hashint8extended(hash_record_extended(ROW(...), 0), 0),
 * where columns whose type has no extended hash function (json, xml, point,
 * money, composites, ...; decided from the default hash opclass, through
 * domains, arrays and ranges) are cast to text. Also the schema fingerprint
 * (md5 of columns, constraints, indexes, triggers), has_pk, nfks and
 * pg_table_size. A table that does not exist gets rows = -1 and NULL
 * fingerprints. *out is overwritten (its strings are the caller's: free
 * with lb_table_fp_clear). deadline_ms: monotonic, 0 = none.
 */
int lb_validate_table(struct lb_pg *c, const char *schema, const char *table,
                      int fingerprint, int64_t deadline_ms,
                      struct lb_table_fp *out, struct lb_err *err);
/* Free the strings of one entry and zero it. NULL is a no-op. */
void lb_table_fp_clear(struct lb_table_fp *t);

/*
 * The content fingerprint's text form: the exact decimal sum the server
 * returns (may be negative, may exceed 64 bits; NULL or "" = empty table)
 * folded modulo 2^64 into 16 lowercase hex digits. Returns 0, or LB_EINVAL
 * if `decimal` is not an integer.
 */
int lb_validate_fold_sum(const char *decimal, char out[17]);

/* Severity of a finding's gap. */
enum lb_severity { LB_SEV_NONE = 0, LB_SEV_MINOR, LB_SEV_MAJOR, LB_SEV_CRITICAL };
/* "none", "minor", "major", "critical". */
const char *lb_severity_name(enum lb_severity s);

/* One check (and maybe a gap) that a comparison produced. Names of tables
 * in the "public" schema are shown unqualified in check names and titles. */
struct lb_finding {
    char *check_name;      /* "inventory: rows" */
    char *table;           /* "public.inventory"; NULL for the whole baseline */
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
/* Frees the items and zeroes *f. NULL is a no-op. */
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
 *
 * Per table of `before` (looked up in `after` with lb_baseline_find):
 *  - "<t>: rows": expected/observed counts ("missing" for rows = -1); ok
 *    when |after - before| <= tolerance * before (exact when 0). A table
 *    already missing in `before` fails (critical: nothing was compared).
 *  - "<t>: content", when opts->fingerprint and both sides have one: ok
 *    when equal. A difference with equal counts is a critical gap; with
 *    counts out of tolerance the check fails without a second gap; with
 *    counts that differ within a nonzero tolerance no content check is
 *    made (the fingerprints cannot match and the caller accepted drift).
 *  - "<t>: schema", when both sides have one: a difference is major,
 *    titled after a lost primary key or lost foreign keys when that is it.
 * No content/schema check for a table missing after. A baseline with no
 * rows in any table adds a failed check "baseline" with the critical gap
 * "baseline is empty: nothing to validate". after NULL: every table is
 * missing; opts NULL: tolerance 0, fingerprint 1. out->ok = 1 only when
 * every check passed. Caller frees with lb_findings_free. Returns 0, or
 * LB_EINVAL when before or out is NULL.
 */
int lb_validate_findings(const struct lb_baseline *before,
                         const struct lb_baseline *after,
                         const struct lb_compare_opts *opts,
                         struct lb_findings *out);

#endif
