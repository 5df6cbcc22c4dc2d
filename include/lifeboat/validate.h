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

/* What a baseline keeps to say where a later difference lies (opaque:
 * per-row hashes for small tables, per-cell sums for large ones). */
struct lb_table_detail;

/* One row that differs, as localisation names it. */
struct lb_row_diff {
    char kind;             /* 'm' missing (in the baseline only), 'e' extra (now only),
                              'c' changed (same key, other content) */
    char *key;             /* the key columns' text, ", "-joined: "17", "1, SKU-000001" */
    char *group;           /* the grouping column's value, NULL if none or unknown */
};

/*
 * Where a table differs from its baseline (compare fills it on the `after`
 * side for tables whose count or fingerprint differ).
 */
struct lb_table_diff {
    char *method;          /* "rows" (every row compared), "sketch" (the rows the
                              baseline's sketch can name), "none" */
    char *why;             /* method "none", or an incomplete sketch: why, else NULL */
    char *key_columns;     /* "id", "account_id, sku" */
    char *group_column;    /* "account_id" (first single-column foreign key) or NULL */
    int complete;          /* 1: every differing row is counted below */
    int64_t missing, extra, changed;     /* rows identified, by kind */
    struct lb_row_diff *samples;          /* up to `samples` of each kind, by key */
    size_t nsamples;
    char *missing_group;   /* the value every identified missing row shares, or NULL */
    int64_t unnamed;       /* rows known to differ whose key could not be named */
};
/* Frees and zeroes. NULL is a no-op. */
void lb_table_diff_free(struct lb_table_diff *d);

struct lb_table_fp {
    char *name;            /* "schema.table" ("public.inventory") */
    int64_t rows;          /* exact count; -1 if the table does not exist */
    char *fingerprint;     /* content fingerprint (hex), NULL if not taken */
    char *schema_fp;       /* schema fingerprint (hex) */
    int has_pk;            /* 1 if it has a primary key */
    int nfks;              /* foreign keys declared on it */
    int64_t bytes;         /* pg_table_size at the time, for ordering work */
    struct lb_table_detail *detail;  /* localisation detail, NULL if not kept */
    struct lb_table_diff *diff;      /* set by lb_validate_compare on `after` */
};

struct lb_baseline {
    struct lb_table_fp *tables;
    size_t ntables;
    int64_t taken_at;      /* wall ms */
    int connections;       /* connections that shared the snapshot */
};

/* Per-row detail is kept for a table of at most this many rows (default). */
#define LB_VALIDATE_DETAIL_ROWS 100000
/* ... and for at most this many rows over the whole baseline (default). */
#define LB_VALIDATE_DETAIL_BUDGET 1000000
/* Sample keys per kind of difference (default). */
#define LB_VALIDATE_SAMPLES 10

struct lb_baseline_opts {
    const char *const *tables;  /* NULL-ended list of names, or NULL for every user table */
    int fingerprint;            /* 1: content fingerprints (default in callers) */
    int64_t deadline_ms;
    /* Parallelism: worker connections are opened through `conninfo` (the
     * same server as `c`, which is verified); NULL: everything on `c`. */
    const char *conninfo;
    int parallel;               /* connections in all, `c` included; 0: online CPUs */
    int detail;                 /* enum lb_detail: what to keep to localise differences */
    int64_t detail_rows;        /* per-row detail for tables up to this many rows;
                                   0: LB_VALIDATE_DETAIL_ROWS, < 0: never */
    int64_t detail_budget;      /* per-row detail over all tables; 0: the default */
    int64_t piece_blocks;       /* a table is split into ranges of at least this many
                                   blocks; 0: 2048 (16 MB) */
};

/* Localisation detail a baseline keeps (needs fingerprints). */
enum lb_detail {
    LB_DETAIL_NONE = 0,    /* counts and fingerprints only */
    LB_DETAIL_ROWS,        /* per-row detail for the tables within detail_rows/budget */
    LB_DETAIL_SKETCH,      /* ... and a sketch for every other table with a key: the
                              scan of those tables costs about twice as much */
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
 * Everything is read in one REPEATABLE READ READ ONLY snapshot: the
 * transaction opened on `c` (lb_validate_begin; `c` must not be inside a
 * transaction), exported with pg_export_snapshot() to the worker
 * connections when opts->conninfo is set and opts->parallel allows more
 * than one connection. A worker whose server has another
 * system_identifier or database than `c` is refused (LB_ESAFETY): workers
 * only read, inside the snapshot of a connection the caller has already
 * checked. Tables are taken largest first; a table larger than its share
 * of the work is split into ranges of blocks (ctid), each a task.
 *
 * With opts->detail, tables with a primary key also keep localisation
 * detail (see docs/validation.md): per-row (key, hash, group) when a table
 * has at most detail_rows rows and the budget allows (smallest tables
 * first; a table found larger than its estimate falls back to the next
 * kind), and with LB_DETAIL_SKETCH a sketch of 4096 per-cell sums for the
 * others. opts->deadline_ms is monotonic; 0 means
 * none. Rows of an inheritance parent are its own (FROM ONLY); a
 * partitioned table named in opts->tables counts all its partitions. On
 * error nothing is returned and the transactions are rolled back.
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
/* "rows", "sketch" or NULL: the kind of detail a table's entry keeps. */
const char *lb_table_detail_kind(const struct lb_table_fp *t);

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
 * modulo 2^64 over rows of the row hash
 *   hashint8extended(c1 # c2 # ... # r, 0)
 * where ci = <type's extended hash function>(column i, i) for a column
 * whose type has one callable on it (NULL: a constant of i), and r =
 * hash_record_extended(ROW(other columns), 0) for the rest: columns whose
 * hash function takes another type (date, timestamptz, bool, ...), and
 * columns whose type has no extended hash function at all (json, xml,
 * point, money, composites, ...; decided from the default hash opclass,
 * through domains, arrays and ranges), which are cast to text. Equal
 * values as the type's hash opclass sees them hash equal (numeric 1.0 and
 * 1.00). Also the schema fingerprint (md5 of columns, constraints,
 * indexes, triggers), has_pk, nfks and pg_table_size. A table that does
 * not exist gets rows = -1 and NULL fingerprints. *out is overwritten
 * (its strings are the caller's: free with lb_table_fp_clear).
 * deadline_ms: monotonic, 0 = none.
 */
int lb_validate_table(struct lb_pg *c, const char *schema, const char *table,
                      int fingerprint, int64_t deadline_ms,
                      struct lb_table_fp *out, struct lb_err *err);
/* Free the strings (and detail, diff) of one entry and zero it. NULL is a no-op. */
void lb_table_fp_clear(struct lb_table_fp *t);

/*
 * The content fingerprint's text form: the exact decimal sum the server
 * returns (may be negative, may exceed 64 bits; NULL or "" = empty table)
 * folded modulo 2^64 into 16 lowercase hex digits. Returns 0, or LB_EINVAL
 * if `decimal` is not an integer.
 */
int lb_validate_fold_sum(const char *decimal, char out[17]);

/* ---- foreign keys ------------------------------------------------------ */

/* One foreign key constraint and the child rows that have no parent. */
struct lb_fk_violation {
    char *constraint;      /* "transactions_account_id_fkey" */
    char *table;           /* child, "public.transactions" */
    char *references;      /* parent, "public.accounts" */
    char *columns;         /* "account_id" */
    char *ref_columns;     /* "id" */
    char *sample_columns;  /* what samples name: the child's key ("id"), else columns */
    int64_t count;         /* child rows whose non-null key has no parent */
    char **samples;        /* up to `samples` child keys, ", "-joined columns */
    size_t nsamples;
    char **missing_refs;   /* up to `samples` key values without a parent, most rows first */
    size_t nmissing_refs;
    int merge;             /* 1: checked with a merge anti-join (both sides indexed) */
    int pieces;            /* ranges of the key it was counted in (1: whole) */
};

struct lb_fk_report {
    struct lb_fk_violation *items;   /* sorted by table, then constraint */
    size_t n;
};
/* Frees and zeroes. NULL is a no-op. */
void lb_fk_report_free(struct lb_fk_report *r);

struct lb_fk_opts {
    const char *const *tables;  /* NULL-ended: the constraints on these tables and those
                                   referencing them; NULL: every constraint of the database */
    int samples;                /* sample child keys per constraint; 0: none */
    int64_t deadline_ms;
    const char *conninfo;       /* workers, as lb_baseline_opts */
    int parallel;
    int merge;                  /* 0: auto (merge anti-join when the child's columns
                                   are indexed), 1: always, -1: never */
    int64_t piece_bytes;        /* a merged child of at least this size with one
                                   integer key is counted in key ranges over the
                                   connections; 0: 64 MB */
};

/*
 * Check every foreign key constraint (contype 'f', validated or not) in
 * scope with an anti-join: count the child rows whose key is complete
 * (MATCH SIMPLE: no column NULL; MATCH FULL: also the rows with some but
 * not all columns NULL) and have no parent row under the constraint's own
 * equality operators. One snapshot as lb_validate_baseline, constraints
 * spread over the connections, largest child first. A child whose key
 * columns lead one of its indexes is counted with a merge anti-join
 * (enable_hashjoin, parallel workers and JIT off for that query), a large
 * one with a single integer key in ranges of it, each a task. Names in o->tables that
 * do not exist are ignored (baseline reports them). Caller frees with
 * lb_fk_report_free.
 */
int lb_validate_fk_violations(struct lb_pg *c, const struct lb_fk_opts *o,
                              struct lb_fk_report *out, struct lb_err *err);

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
    char *gap_detail;      /* sample keys, numbers behind the title; may be NULL */
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
    /* lb_validate_compare only: */
    int foreign_keys;      /* 1: also check the foreign keys of the tables */
    int samples;           /* sample keys per kind of difference; 0: LB_VALIDATE_SAMPLES */
    const char *conninfo;  /* workers, as lb_baseline_opts */
    int parallel;
    int64_t deadline_ms;
    int64_t piece_blocks;  /* as lb_baseline_opts */
};

/* What lb_validate_compare found. */
struct lb_comparison {
    struct lb_baseline *after;   /* the same tables now; diff set where they differ */
    struct lb_fk_report fks;     /* when foreign keys were checked */
    int fks_checked;
};
/* Frees and zeroes. NULL is a no-op. */
void lb_comparison_free(struct lb_comparison *cmp);

/*
 * Take the tables of `before` again through `c` (one snapshot, spread over
 * connections as lb_validate_baseline, no detail kept) and, for every table
 * whose count or fingerprint differs and whose baseline kept detail, say
 * where: the same detail is taken now and compared (per-row: every row;
 * sketch: the rows its cells can name, each checked against the rows the
 * table holds now), giving up to o->samples keys per kind and the group
 * value all missing rows share. A table without detail gets a diff of
 * method "none" and why. With o->foreign_keys, lb_validate_fk_violations
 * for the same tables in the same snapshot. Caller frees with
 * lb_comparison_free. The judgement is lb_validate_findings and
 * lb_validate_fk_findings.
 */
int lb_validate_compare(struct lb_pg *c, const struct lb_baseline *before,
                        const struct lb_compare_opts *o, struct lb_comparison *out,
                        struct lb_err *err);

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
 *  - When the after entry has a diff naming rows: the table's critical
 *    gap is titled after them ("inventory: 3 rows changed (id 17, 4242,
 *    9001)", "42 rows of inventory for account_id 1187 are missing (id
 *    ...)"), its detail holds the counts and every sample key, and one
 *    failed check (no gap of its own) per kind found: "<t>: missing rows",
 *    "<t>: extra rows", "<t>: changed rows", observed "42: id 17, ...". A
 *    diff that names nothing adds its reason to the gap detail.
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

/*
 * Pure: append to `out` one check per constraint of `r`, "fk <constraint>"
 * (table = the child), expected "0 rows without a parent", observed the
 * count and sample keys; a violated one is a major gap titled "<child>:
 * 42 rows reference <parent> rows that do not exist (<constraint>;
 * account_id 1187)". `out` may be empty (zeroed: its ok starts at 1) or
 * hold lb_validate_findings' items; out->ok drops to 0 on a violation.
 * Returns 0 or LB_EINVAL.
 */
int lb_validate_fk_findings(const struct lb_fk_report *r, struct lb_findings *out);

#endif
