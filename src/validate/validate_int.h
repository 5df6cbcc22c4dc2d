/*
 * Private to src/validate: the connection pool that shares one snapshot,
 * the per-table plan (hash expression, keys, how to keep detail), the
 * localisation detail a baseline keeps, and the pieces of SQL that several
 * files build.
 */
#ifndef LIFEBOAT_VALIDATE_INT_H
#define LIFEBOAT_VALIDATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"
#include "lifeboat/validate.h"

struct lb_pg;
struct lb_pg_result;

/* ---- pool: one snapshot over several connections --------------------- */

/*
 * conns[0] is the caller's connection, inside lb_validate_begin's
 * transaction; conns[1..n-1] are worker connections that imported its
 * snapshot (pg_export_snapshot) after proving they reach the same server
 * (equal system_identifier and database).
 */
struct vpool {
    struct lb_pg **conns;
    int n;
    int own_txn;              /* 1: pool_close ends the transaction on conns[0] */
    int64_t deadline;
};

/*
 * Open the snapshot on `c` (lb_validate_begin) and up to want-1 workers
 * through conninfo (none when conninfo is NULL or want <= 1). want 0 means
 * the number of online CPUs. max_useful caps the workers (no more
 * connections than tasks).
 */
int pool_open(struct lb_pg *c, const char *conninfo, int want, size_t max_useful,
              int64_t deadline, struct vpool *p, struct lb_err *err);
/* Commit (commit=1) or roll back, close the workers. Returns the commit's rc. */
int pool_close(struct vpool *p, int commit, struct lb_err *err);

/* One unit of work; run(ctx, conn, i) does item i on conn. */
typedef int (*pool_fn)(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err);
/*
 * Run items 0..n-1 (in that order of start) over every connection of the
 * pool, one thread per connection. The first error stops the others from
 * starting new items and is returned.
 */
int pool_run(struct vpool *p, size_t n, pool_fn fn, void *ctx, struct lb_err *err);

/* Number of online CPUs (at least 1). */
int pool_cpus(void);

/* ---- per-table plan --------------------------------------------------- */

enum vmode {
    VMODE_PLAIN = 0,   /* count + fingerprint only */
    VMODE_ROWS,        /* every row's (key, hash, group): exact localisation */
    VMODE_SKETCH,      /* per-cell sums over the row hash: names a bounded number */
};

#define VSKETCH_CELLS 4096
#define VMAX_KEYS 8

struct vtable {
    /* identity */
    char *schema, *table;      /* catalog names; NULL schema: missing */
    char *name;                /* "schema.table" or as given */
    int exists;
    char *oid;
    char relkind;
    /* facts */
    int64_t bytes;             /* pg_table_size */
    int64_t blocks;            /* main fork blocks */
    double est_rows;           /* planner estimate (never stands for a count) */
    int has_pk, nfks;
    char *schema_fp;
    /* SQL pieces */
    char *from;                /* "ONLY \"s\".\"t\" AS lb_t" or without ONLY */
    char *hash;                /* the row hash expression over lb_t (int8) */
    int count_only;            /* vscan_plain counts, no fingerprint */
    int nkeys;                 /* primary key columns, 0 if none */
    char *key_names[VMAX_KEYS];   /* catalog names */
    char *key_sql[VMAX_KEYS];     /* quoted "lb_t.\"id\"" */
    int keys_int;              /* every key column is int2/int4/int8 */
    char *group_name;          /* grouping column (first single-column FK) */
    char *group_sql;
    int group_int;             /* NOT NULL integer: can go into the sketch */
    /* results */
    int mode;
    int64_t rows;
    uint64_t sum;
    struct lb_table_detail *detail;
};

/* Fill identity facts and SQL pieces of t (schema/table set) through c. */
int vtable_prepare(struct lb_pg *c, struct vtable *t, int64_t deadline, struct lb_err *err);
void vtable_free(struct vtable *t);

/* ---- detail ----------------------------------------------------------- */

struct vrow {
    char *key;          /* key columns' text, joined by ", " */
    uint64_t h;
    char *group;        /* NULL if none or SQL NULL */
};

struct vcell {
    int64_t n;
    uint64_t h, chk, g;
    uint64_t k[VMAX_KEYS];
};

struct lb_table_detail {
    int mode;                  /* VMODE_ROWS or VMODE_SKETCH */
    int nkeys, keys_int, group_int;
    char *key_names;           /* "id" / "account_id, sku" */
    char *group_name;
    /* rows */
    struct vrow *rows;
    size_t nrows;
    /* sketch */
    struct vcell *cells;       /* VSKETCH_CELLS */
};

void vdetail_free(struct lb_table_detail *d);
struct lb_table_detail *vdetail_new(const struct vtable *t, int mode);

/* Queries that fill the detail (and count + fingerprint) of a table, or of
 * blocks [blk_lo, blk_hi) of it (-1: open end); see detail.c. */
int vscan_plain(struct lb_pg *c, const struct vtable *t, int64_t blk_lo, int64_t blk_hi,
                int64_t deadline, int64_t *rows, uint64_t *sum, struct lb_err *err);
/* Rows: at most limit rows are read; *overflow set when there were more. */
int vscan_rows(struct lb_pg *c, const struct vtable *t, int64_t limit, int64_t deadline,
               struct lb_table_detail *d, int *overflow, struct lb_err *err);
int vscan_sketch(struct lb_pg *c, const struct vtable *t, int64_t blk_lo, int64_t blk_hi,
                 int64_t deadline, struct vcell *cells, struct lb_err *err);

/*
 * Compare a baseline's detail with the table now (through c, inside the
 * comparison's snapshot) into a diff. Rows: the rows are read now.
 * Sketch: now_cells are the same cells taken now (vscan_sketch); the
 * decoded candidates are checked against the rows the table holds now.
 */
int vlocalise(struct lb_pg *c, const struct vtable *now, const struct lb_table_detail *before,
              const struct vcell *now_cells, int samples, int64_t deadline,
              struct lb_table_diff **out, struct lb_err *err);
/* A diff that names nothing, with why. */
struct lb_table_diff *vdiff_none(const char *why);

/* Pure: the candidates a sketch difference decodes to (tests use it). */
struct velem {
    int sign;           /* -1: in the baseline only, +1: now only */
    uint64_t h, chk, g;
    uint64_t k[VMAX_KEYS];
};
/* Returns the number of cells that differ and could not be decoded. */
size_t vsketch_decode(const struct vcell *before, const struct vcell *now, int nkeys,
                      struct velem **out, size_t *nout);

/* ---- names ------------------------------------------------------------ */

struct vname {
    char *schema;   /* NULL: missing */
    char *table;
    char *name;     /* "schema.table", or the name as given when missing */
};
/* Resolve names as lb_validate_baseline does (before its snapshot pins
 * search_path); lifeboat_* tables are left out. Caller frees with
 * vnames_free. */
int vresolve_names(struct lb_pg *c, const char *const *names, int64_t deadline,
                   struct vname **out, size_t *n, struct lb_err *err);
void vnames_free(struct vname *v, size_t n);

/* ---- foreign keys ------------------------------------------------------ */

#define VFK_MAX_PIECES 64

struct vfk {
    char *oid;                 /* constraint oid */
    char *child_oid;
    char *from_child;          /* "ONLY \"s\".\"t\" AS lb_c" */
    char *from_parent;         /* "... AS lb_p" */
    char *join;                /* "lb_p.\"id\" OPERATOR(pg_catalog.=) lb_c.\"acct\" AND ..." */
    char *complete;            /* rows whose key must have a parent */
    char *keys_sql;            /* child columns as text, ", "-joined ("lb_c.\"a\"::text, ...") */
    char *order_sql;           /* the same columns as they are, to order by */
    char *quoted;              /* the child columns' quoted names, each NUL-ended */
    char *parent_col;          /* single column: the parent's quoted column */
    int ncols;
    int int_key;               /* one column, an integer on both sides */
    int64_t child_bytes, parent_bytes;
    int indexed;               /* the child's columns lead one of its indexes */
    /* set by vfk_prepare */
    int merge;                 /* count with a merge anti-join */
    int npieces;               /* key ranges counted apart (1: the whole table) */
    int64_t bounds[VFK_MAX_PIECES + 1];
    int64_t counts[VFK_MAX_PIECES];
    char *sample_inner, *sample_outer, *sample_order;
    int nsample;
    struct lb_fk_violation v;  /* the result */
};
/* The constraints on or referencing the (existing) tables, or every one
 * when scope is NULL; sorted largest child first. */
int vfk_list(struct lb_pg *c, const struct vname *scope, size_t nscope, int64_t deadline,
             struct vfk **out, size_t *n, struct lb_err *err);
/* Decide how to count (merge or hash, key ranges for a pool of nconns)
 * and what samples name. merge: as lb_fk_opts. */
int vfk_prepare(struct lb_pg *c, struct vfk *fk, int merge, int nconns, int64_t piece_bytes,
                int64_t deadline, struct lb_err *err);
/* Count piece `piece` of a prepared constraint into fk->counts[piece]. */
int vfk_count(struct lb_pg *c, struct vfk *fk, int piece, int nconns, int64_t deadline,
              struct lb_err *err);
/* With fk->v.count set: the sample child keys and the missing parents. */
int vfk_samples(struct lb_pg *c, struct vfk *fk, int samples, int64_t deadline,
                struct lb_err *err);
/* Check every constraint over the pool: prepare, count (pieces largest
 * first), samples of the violated ones. */
int vfk_run(struct vpool *pool, struct vfk *fks, size_t n, int samples, int merge,
            int64_t piece_bytes, int64_t deadline, struct lb_err *err);
/* Move the results into a report (sorted by table, constraint); frees fks. */
void vfk_report(struct vfk *fks, size_t n, struct lb_fk_report *out);

/* ---- small shared helpers ------------------------------------------- */

/* Parse a decimal (NULL or "" = 0) modulo 2^64. */
int vparse_u64(const char *decimal, uint64_t *out);
/* Text of a signed 64-bit value held in a uint64. */
void vfmt_i64(uint64_t v, char out[24]);
/* "{1,2,3}" */
char *varray_literal(const uint64_t *v, size_t n, size_t stride);
/* "public.x" -> "x" for display. */
const char *vdisplay_name(const char *name);
/* The rows of a result column-joined: values of columns [from, to) of row i
 * as text joined by ", " (NULL shown as "NULL"). Caller frees. */
char *vjoin_row(const struct lb_pg_result *r, int row, int from, int to);

#endif
