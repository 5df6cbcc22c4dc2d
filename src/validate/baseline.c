/*
 * validate/baseline: which tables, one snapshot shared by several
 * connections, the work spread over them (largest first, large tables in
 * block ranges), and the comparison of a baseline with the tables now.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "validate_int.h"

/* Settings every text form in a fingerprint depends on, pinned so that a
 * baseline and its comparison agree whatever the sessions were set to. */
static const char BEGIN_SQL[] =
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
    "SET LOCAL search_path = pg_catalog;"
    "SET LOCAL TimeZone = 'UTC';"
    "SET LOCAL DateStyle = 'ISO, YMD';"
    "SET LOCAL IntervalStyle = 'postgres';"
    "SET LOCAL extra_float_digits = 1;"
    "SET LOCAL bytea_output = 'hex';"
    "SET LOCAL lc_monetary = 'C';";

static const char USER_TABLES_SQL[] =
    "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND c.relpersistence <> 't'"
    "   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    "   AND n.nspname NOT LIKE 'pg\\_toast%'"
    "   AND c.relname NOT LIKE 'lifeboat\\_%'";

/* A name as written, exactly: "schema.table" split at the first dot, or an
 * unqualified name visible on the search_path. */
static const char RESOLVE_EXACT_SQL[] =
    "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE ($1::pg_catalog.text IS NOT NULL AND n.nspname = $1 AND c.relname = $2)"
    "    OR ($1::pg_catalog.text IS NULL AND c.relname = $2"
    "        AND pg_catalog.pg_table_is_visible(c.oid))";

/* A name as SQL would read it ("Inventory", "\"My Table\"", ...). */
static const char RESOLVE_REGCLASS_SQL[] =
    "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.oid = pg_catalog.to_regclass($1)";

/* ---- names -------------------------------------------------------------- */

struct names {
    struct vname *items;
    size_t n, cap;
};

static void names_add(struct names *w, const char *schema, const char *table, const char *given)
{
    struct vname *it;
    size_t i;

    /* Several spellings of one table are one table. */
    if (schema != NULL)
        for (i = 0; i < w->n; i++)
            if (w->items[i].schema != NULL && strcmp(w->items[i].schema, schema) == 0 &&
                strcmp(w->items[i].table, table) == 0)
                return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->items = lb_xrealloc(w->items, w->cap * sizeof(*w->items));
    }
    it = &w->items[w->n++];
    it->schema = lb_xstrdup(schema);
    it->table = lb_xstrdup(table);
    it->name = schema != NULL ? lb_xasprintf("%s.%s", schema, table) : lb_xstrdup(given);
}

void vnames_free(struct vname *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i].schema);
        free(v[i].table);
        free(v[i].name);
    }
    free(v);
}

static int is_own_table(const char *table)
{
    return table != NULL && lb_str_starts(table, "lifeboat_");
}

/* Resolve one name the user gave (or none for lifeboat_*). */
static int resolve(struct lb_pg *c, const char *given, int64_t deadline, struct names *w,
                   struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct lb_err e = {0};
    const char *params[2];
    const char *dot = strchr(given, '.');
    char *schema = NULL;
    const char *relkind;
    int rc;

    if (*given == '\0')
        return lb_err_set(err, LB_EINVAL, "empty table name");
    if (dot != NULL)
        schema = lb_xstrndup(given, (size_t)(dot - given));
    params[0] = schema;
    params[1] = dot != NULL ? dot + 1 : given;
    rc = lb_pg_query(c, RESOLVE_EXACT_SQL, 2, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows == 0) {
        lb_pg_result_free(&r);
        params[0] = given;
        rc = lb_pg_query(c, RESOLVE_REGCLASS_SQL, 1, params, deadline, &r, &e);
        if (rc == LB_EDB && lb_pg_classify(e.sqlstate) != LB_PG_ERR_CONNECTION) {
            /* The server could not parse it as a name: the scenario's error. */
            rc = lb_err_set(err, LB_EINVAL, "table name '%s': %s", given, e.msg);
            goto out;
        }
        if (rc != 0) {
            if (err != NULL)
                *err = e;
            goto out;
        }
    }
    if (r.nrows == 0) {
        if (!is_own_table(dot != NULL ? dot + 1 : given))
            names_add(w, NULL, NULL, given);
        goto out;
    }
    relkind = lb_pg_value(&r, 0, 2);
    if (relkind == NULL || relkind[0] == '\0' || strchr("rpvmf", relkind[0]) == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "'%s' is not a table (relkind %s)", given,
                        relkind != NULL ? relkind : "?");
        goto out;
    }
    if (!is_own_table(lb_pg_value(&r, 0, 1)))
        names_add(w, lb_pg_value(&r, 0, 0), lb_pg_value(&r, 0, 1), given);

out:
    lb_pg_result_free(&r);
    free(schema);
    return rc;
}

int vresolve_names(struct lb_pg *c, const char *const *names, int64_t deadline,
                   struct vname **out, size_t *n, struct lb_err *err)
{
    struct names w = {0};
    size_t i;
    int rc = 0;

    for (i = 0; names != NULL && names[i] != NULL && rc == 0; i++)
        rc = resolve(c, names[i], deadline, &w, err);
    if (rc != 0) {
        vnames_free(w.items, w.n);
        w.items = NULL;
        w.n = 0;
    }
    *out = w.items;
    *n = w.n;
    return rc;
}

static int list_user_tables(struct lb_pg *c, int64_t deadline, struct names *w,
                            struct lb_err *err)
{
    struct lb_pg_result r = {0};
    int rc, i;

    rc = lb_pg_query(c, USER_TABLES_SQL, 0, NULL, deadline, &r, err);
    if (rc != 0)
        return lb_err_prefix(err, "list user tables");
    for (i = 0; i < r.nrows; i++)
        names_add(w, lb_pg_value(&r, i, 0), lb_pg_value(&r, i, 1), NULL);
    lb_pg_result_free(&r);
    return 0;
}

int lb_validate_begin(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err)
{
    int rc;

    if (deadline_ms <= 0)
        deadline_ms = LB_NO_DEADLINE;
    rc = lb_pg_exec_script(c, BEGIN_SQL, deadline_ms, err);
    if (rc != 0) {
        lb_err_prefix(err, "begin the baseline snapshot");
        lb_validate_end(c, 0, deadline_ms, NULL);
    }
    return rc;
}

int lb_validate_end(struct lb_pg *c, int commit, int64_t deadline_ms, struct lb_err *err)
{
    struct lb_err ignored = {0};
    int rc;

    if (deadline_ms <= 0)
        deadline_ms = LB_NO_DEADLINE;
    if (!commit) {
        /* Best effort: a rollback after a timeout gets a short grace. */
        if (lb_pg_ok(c))
            lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 5000, &ignored);
        return 0;
    }
    rc = lb_pg_exec_script(c, "COMMIT", deadline_ms, err);
    if (rc != 0)
        lb_err_prefix(err, "end the baseline snapshot");
    return rc;
}


/* ---- work spread over the pool ---------------------------------------------- */

enum task_kind { T_PREPARE, T_PLAIN, T_ROWS, T_SKETCH, T_LOCALISE };

struct task {
    struct vtable *t;
    int kind;
    int64_t lo, hi;          /* block range, -1: open */
    int64_t weight;          /* bytes it reads, to start the largest first */
    int64_t rows;
    uint64_t sum;
    struct vcell *cells;     /* T_SKETCH */
    size_t table;            /* index of t */
};

struct work {
    struct vtable *tables;
    size_t ntables;
    struct task *tasks;
    size_t ntasks, cap;
    int nconns;
    int64_t min_piece;
    int64_t deadline;
    int64_t detail_rows;
    int detail;
    /* compare */
    const struct lb_table_detail **before_detail;   /* per table */
    struct vcell **now_cells;                        /* per table */
    struct lb_table_diff **diffs;                    /* per table */
    int samples;
};

#define LB_STR2(x) #x
#define LB_STR(x) LB_STR2(x)

/* Blocks below which splitting a table costs more than it gains (16 MB). */
#define MIN_PIECE_BLOCKS 2048
#define MAX_PIECES 64

static struct task *task_add(struct work *w, size_t table, int kind, int64_t lo, int64_t hi,
                             int64_t weight)
{
    struct task *k;

    if (w->ntasks == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 32;
        w->tasks = lb_xrealloc(w->tasks, w->cap * sizeof(*w->tasks));
    }
    k = &w->tasks[w->ntasks++];
    memset(k, 0, sizeof(*k));
    k->t = &w->tables[table];
    k->table = table;
    k->kind = kind;
    k->lo = lo;
    k->hi = hi;
    k->weight = weight;
    return k;
}

static void tasks_clear(struct work *w)
{
    size_t i;

    for (i = 0; i < w->ntasks; i++)
        free(w->tasks[i].cells);
    w->ntasks = 0;
}

static int by_weight_desc(const void *a, const void *b)
{
    const struct task *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Scan tasks of one kind for table i: in block ranges when it is larger
 * than its share of the work, else one task. */
static void add_scans(struct work *w, size_t i, int kind, int64_t piece)
{
    struct vtable *t = &w->tables[i];
    int64_t k, n;

    if (w->nconns > 1 && (t->relkind == 'r' || t->relkind == 'm') && t->blocks > piece) {
        n = (t->blocks + piece - 1) / piece;
        if (n > MAX_PIECES)
            n = MAX_PIECES;
        for (k = 0; k < n; k++) {
            int64_t lo = k == 0 ? -1 : t->blocks * k / n;
            int64_t hi = k == n - 1 ? -1 : t->blocks * (k + 1) / n;
            task_add(w, i, kind, lo, hi, t->bytes / n);
        }
        return;
    }
    task_add(w, i, kind, -1, -1, t->bytes);
}

static int64_t piece_blocks(const struct work *w, const unsigned char *want)
{
    int64_t total = 0, piece;
    size_t i;

    for (i = 0; i < w->ntables; i++)
        if (want[i])
            total += w->tables[i].blocks;
    piece = total / ((int64_t)w->nconns * 4);
    return piece < w->min_piece ? w->min_piece : piece;
}

static int task_run(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err)
{
    struct work *w = ctx;
    struct task *k = &w->tasks[i];
    struct vtable *t = k->t;
    int overflow = 0, rc = 0;

    switch (k->kind) {
    case T_PREPARE:
        rc = vtable_prepare(conn, t, w->deadline, err);
        break;
    case T_PLAIN:
        rc = vscan_plain(conn, t, k->lo, k->hi, w->deadline, &k->rows, &k->sum, err);
        break;
    case T_SKETCH:
        k->cells = lb_xcalloc(VSKETCH_CELLS, sizeof(*k->cells));
        rc = vscan_sketch(conn, t, k->lo, k->hi, w->deadline, k->cells, err);
        break;
    case T_ROWS:
        /* One task per table: t is this thread's alone. */
        t->detail = vdetail_new(t, VMODE_ROWS);
        rc = vscan_rows(conn, t, w->detail_rows, w->deadline, t->detail, &overflow, err);
        if (rc == 0 && overflow) {
            /* More rows than the estimate said: the next kind of detail. */
            vdetail_free(t->detail);
            t->detail = NULL;
            if (w->detail == LB_DETAIL_SKETCH) {
                t->detail = vdetail_new(t, VMODE_SKETCH);
                t->mode = VMODE_SKETCH;
                rc = vscan_sketch(conn, t, -1, -1, w->deadline, t->detail->cells, err);
            } else {
                t->mode = VMODE_PLAIN;
                rc = vscan_plain(conn, t, -1, -1, w->deadline, &k->rows, &k->sum, err);
                k->kind = T_PLAIN; /* merge_scans adds it up */
            }
        }
        break;
    case T_LOCALISE:
        rc = vlocalise(conn, t, w->before_detail[k->table], w->now_cells[k->table], w->samples,
                       w->deadline, &w->diffs[k->table], err);
        break;
    }
    if (rc != 0)
        lb_err_prefix(err, "%s", t->name);
    return rc;
}

static int run_tasks(struct vpool *pool, struct work *w, struct lb_err *err)
{
    qsort(w->tasks, w->ntasks, sizeof(*w->tasks), by_weight_desc);
    return pool_run(pool, w->ntasks, task_run, w, err);
}

static void work_free(struct work *w)
{
    size_t i;

    tasks_clear(w);
    free(w->tasks);
    for (i = 0; i < w->ntables; i++) {
        vtable_free(&w->tables[i]);
        if (w->now_cells != NULL)
            free(w->now_cells[i]);
        if (w->diffs != NULL)
            lb_table_diff_free(w->diffs[i]);
    }
    free(w->tables);
    free(w->now_cells);
    free(w->diffs);
    free(w->before_detail);
    memset(w, 0, sizeof(*w));
}

/* Tables from names; then every existing table's facts, in parallel. */
static int prepare_tables(struct vpool *pool, struct work *w, const struct names *nm,
                          struct lb_err *err)
{
    size_t i;
    int rc;

    w->tables = lb_xcalloc(nm->n + 1, sizeof(*w->tables));
    w->ntables = nm->n;
    for (i = 0; i < nm->n; i++) {
        w->tables[i].schema = lb_xstrdup(nm->items[i].schema);
        w->tables[i].table = lb_xstrdup(nm->items[i].table);
        w->tables[i].name = lb_xstrdup(nm->items[i].name);
        if (nm->items[i].schema != NULL)
            task_add(w, i, T_PREPARE, -1, -1, 0);
    }
    rc = pool_run(pool, w->ntasks, task_run, w, err);
    tasks_clear(w);
    return rc;
}

/* Sum what the scan tasks of each table found into the table. */
static void merge_scans(struct work *w)
{
    size_t i, c;

    for (i = 0; i < w->ntasks; i++) {
        struct task *k = &w->tasks[i];
        struct vtable *t = k->t;

        if (k->kind == T_PLAIN) {
            t->rows += k->rows;
            t->sum += k->sum;
        } else if (k->kind == T_SKETCH) {
            struct vcell *into;
            if (w->now_cells != NULL) {
                if (w->now_cells[k->table] == NULL)
                    w->now_cells[k->table] = lb_xcalloc(VSKETCH_CELLS, sizeof(struct vcell));
                into = w->now_cells[k->table];
            } else {
                into = t->detail->cells;
            }
            for (c = 0; c < VSKETCH_CELLS; c++) {
                int j;
                into[c].n += k->cells[c].n;
                into[c].h += k->cells[c].h;
                into[c].chk += k->cells[c].chk;
                into[c].g += k->cells[c].g;
                for (j = 0; j < VMAX_KEYS; j++)
                    into[c].k[j] += k->cells[c].k[j];
            }
        }
    }
}

/* A table's count and fingerprint from its detail. */
static void totals_from_detail(struct vtable *t)
{
    size_t i;

    t->rows = 0;
    t->sum = 0;
    if (t->detail->mode == VMODE_ROWS) {
        t->rows = (int64_t)t->detail->nrows;
        for (i = 0; i < t->detail->nrows; i++)
            t->sum += t->detail->rows[i].h;
    } else {
        for (i = 0; i < VSKETCH_CELLS; i++) {
            t->rows += t->detail->cells[i].n;
            t->sum += t->detail->cells[i].h;
        }
    }
}

static int by_name(const void *a, const void *b)
{
    const struct lb_table_fp *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* The baseline entries of the work's tables, sorted by name. */
static struct lb_baseline *to_baseline(struct work *w, int fingerprint, int nconns)
{
    struct lb_baseline *b = lb_xcalloc(1, sizeof(*b));
    size_t i, kept;

    b->taken_at = lb_wall_ms();
    b->connections = nconns;
    b->tables = lb_xcalloc(w->ntables + 1, sizeof(*b->tables));
    for (i = 0; i < w->ntables; i++) {
        struct vtable *t = &w->tables[i];
        struct lb_table_fp *f = &b->tables[b->ntables++];

        f->name = lb_xstrdup(t->name);
        f->rows = -1;
        if (!t->exists)
            continue;
        f->rows = t->rows;
        if (fingerprint) {
            char num[24], fp[17];
            vfmt_i64(t->sum, num);
            lb_validate_fold_sum(num, fp);
            f->fingerprint = lb_xstrdup(fp);
        }
        f->schema_fp = lb_xstrdup(t->schema_fp);
        f->has_pk = t->has_pk;
        f->nfks = t->nfks;
        f->bytes = t->bytes;
        f->detail = t->detail;
        t->detail = NULL;
        if (w->diffs != NULL) {
            f->diff = w->diffs[i];
            w->diffs[i] = NULL;
        }
    }
    qsort(b->tables, b->ntables, sizeof(*b->tables), by_name);
    for (i = 0, kept = 0; i < b->ntables; i++) {
        if (kept > 0 && strcmp(b->tables[kept - 1].name, b->tables[i].name) == 0) {
            lb_table_fp_clear(&b->tables[i]);
            continue;
        }
        if (kept != i) {
            b->tables[kept] = b->tables[i];
            memset(&b->tables[i], 0, sizeof(b->tables[i]));
        }
        kept++;
    }
    b->ntables = kept;
    return b;
}


/* Rows a table probably has, to decide its detail (never a count). */
static double estimate_rows(const struct vtable *t)
{
    if (t->est_rows >= 0 && !(t->est_rows == 0 && t->blocks > 0))
        return t->est_rows;
    return (double)t->blocks * 60.0; /* never analyzed: a guess from its size */
}

/* Per-row detail for the smallest tables with a key, within budget; a
 * sketch for the other tables with a key. */
static void choose_modes(struct work *w, const struct lb_baseline_opts *o)
{
    int64_t per_table = o->detail_rows == 0 ? LB_VALIDATE_DETAIL_ROWS : o->detail_rows;
    double budget = o->detail_budget > 0 ? (double)o->detail_budget
                                         : (double)LB_VALIDATE_DETAIL_BUDGET;
    size_t *order = lb_xcalloc(w->ntables + 1, sizeof(*order));
    size_t i, j, n = 0;

    w->detail_rows = per_table;
    w->detail = o->detail;
    for (i = 0; i < w->ntables; i++) {
        struct vtable *t = &w->tables[i];
        t->mode = VMODE_PLAIN;
        if (!t->exists || !o->fingerprint || o->detail == LB_DETAIL_NONE || t->nkeys == 0)
            continue;
        t->mode = o->detail == LB_DETAIL_SKETCH ? VMODE_SKETCH : VMODE_PLAIN;
        order[n++] = i;
    }
    /* Smallest first (insertion sort: table counts are small). */
    for (i = 1; i < n; i++) {
        size_t x = order[i];
        for (j = i; j > 0 && estimate_rows(&w->tables[order[j - 1]]) >
                                 estimate_rows(&w->tables[x]); j--)
            order[j] = order[j - 1];
        order[j] = x;
    }
    for (i = 0; i < n && per_table > 0; i++) {
        struct vtable *t = &w->tables[order[i]];
        double est = estimate_rows(t);
        if (est > (double)per_table || est > budget)
            break;
        t->mode = VMODE_ROWS;
        budget -= est > 1 ? est : 1;
    }
    free(order);
}

int lb_validate_baseline(struct lb_pg *c, const struct lb_baseline_opts *opts,
                         struct lb_baseline **out, struct lb_err *err)
{
    struct names nm = {0};
    struct work w;
    struct vpool pool;
    unsigned char *want = NULL;
    int64_t deadline, piece;
    int open = 0, fingerprint, rc = 0;
    size_t i;

    memset(&w, 0, sizeof(w));
    if (out != NULL)
        *out = NULL;
    if (c == NULL || opts == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "baseline: missing argument");
    deadline = opts->deadline_ms > 0 ? opts->deadline_ms : LB_NO_DEADLINE;
    fingerprint = opts->fingerprint != 0;
    w.deadline = deadline;
    w.min_piece = opts->piece_blocks > 0 ? opts->piece_blocks : MIN_PIECE_BLOCKS;

    /* Names resolve against the caller's search_path, before the snapshot
     * pins it; inside, each table is looked up again by its catalog names,
     * so one dropped in between comes out missing. */
    for (i = 0; opts->tables != NULL && opts->tables[i] != NULL; i++) {
        rc = resolve(c, opts->tables[i], deadline, &nm, err);
        if (rc != 0)
            goto out;
    }
    rc = pool_open(c, opts->conninfo, opts->parallel, MAX_PIECES, deadline, &pool, err);
    if (rc != 0)
        goto out;
    open = 1;
    w.nconns = pool.n;
    if (opts->tables == NULL) {
        rc = list_user_tables(c, deadline, &nm, err);
        if (rc != 0)
            goto out;
    }
    rc = prepare_tables(&pool, &w, &nm, err);
    if (rc != 0)
        goto out;
    for (i = 0; i < w.ntables; i++)
        w.tables[i].count_only = !fingerprint;
    choose_modes(&w, opts);

    want = lb_xcalloc(w.ntables + 1, 1);
    for (i = 0; i < w.ntables; i++)
        want[i] = w.tables[i].exists && w.tables[i].mode != VMODE_ROWS;
    piece = piece_blocks(&w, want);
    for (i = 0; i < w.ntables; i++) {
        struct vtable *t = &w.tables[i];
        if (!t->exists)
            continue;
        if (t->mode == VMODE_ROWS) {
            task_add(&w, i, T_ROWS, -1, -1, t->bytes);
        } else if (t->mode == VMODE_SKETCH) {
            t->detail = vdetail_new(t, VMODE_SKETCH);
            add_scans(&w, i, T_SKETCH, piece);
        } else {
            add_scans(&w, i, T_PLAIN, piece);
        }
    }
    rc = run_tasks(&pool, &w, err);
    if (rc != 0)
        goto out;
    merge_scans(&w);
    for (i = 0; i < w.ntables; i++)
        if (w.tables[i].exists && w.tables[i].detail != NULL)
            totals_from_detail(&w.tables[i]);
    open = 0;
    rc = pool_close(&pool, 1, err);
    if (rc != 0)
        goto out;
    *out = to_baseline(&w, fingerprint, w.nconns);

out:
    if (open)
        pool_close(&pool, 0, NULL);
    if (rc != 0)
        lb_err_prefix(err, "baseline");
    free(want);
    vnames_free(nm.items, nm.n);
    work_free(&w);
    return rc;
}

void lb_comparison_free(struct lb_comparison *cmp)
{
    if (cmp == NULL)
        return;
    lb_baseline_free(cmp->after);
    lb_fk_report_free(&cmp->fks);
    memset(cmp, 0, sizeof(*cmp));
}

/* Would the findings fail this table's count or content? */
static int differs(const struct lb_table_fp *b, const struct vtable *a, double tolerance,
                   int fingerprint)
{
    double diff;

    if (b->rows < 0 || !a->exists || a->rows == 0)
        return 0; /* missing or empty: the findings say it plainly */
    if (a->rows == b->rows) {
        char num[24], fp[17];
        if (!fingerprint || b->fingerprint == NULL || a->count_only)
            return 0;
        vfmt_i64(a->sum, num);
        lb_validate_fold_sum(num, fp);
        return strcmp(fp, b->fingerprint) != 0;
    }
    if (!(tolerance > 0) || b->rows == 0)
        return 1;
    diff = (double)a->rows - (double)b->rows;
    if (diff < 0)
        diff = -diff;
    return diff > tolerance * (double)b->rows;
}

int lb_validate_compare(struct lb_pg *c, const struct lb_baseline *before,
                        const struct lb_compare_opts *o, struct lb_comparison *out,
                        struct lb_err *err)
{
    struct lb_compare_opts defaults;
    struct names nm = {0};
    struct work w;
    struct vpool pool;
    struct vfk *fks = NULL;
    unsigned char *want = NULL;
    const char **names = NULL;
    size_t i, nfks = 0;
    int64_t deadline, piece;
    int open = 0, fingerprint, rc = 0;

    memset(&w, 0, sizeof(w));
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (c == NULL || before == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "compare: missing argument");
    if (o == NULL) {
        memset(&defaults, 0, sizeof(defaults));
        defaults.fingerprint = 1;
        defaults.foreign_keys = 1;
        o = &defaults;
    }
    deadline = o->deadline_ms > 0 ? o->deadline_ms : LB_NO_DEADLINE;
    fingerprint = o->fingerprint != 0;
    w.deadline = deadline;
    w.min_piece = o->piece_blocks > 0 ? o->piece_blocks : MIN_PIECE_BLOCKS;
    w.samples = o->samples > 0 ? o->samples : LB_VALIDATE_SAMPLES;

    names = lb_xcalloc(before->ntables + 1, sizeof(*names));
    for (i = 0; i < before->ntables; i++)
        names[i] = before->tables[i].name;
    for (i = 0; i < before->ntables; i++) {
        rc = resolve(c, names[i], deadline, &nm, err);
        if (rc != 0)
            goto out;
    }
    rc = pool_open(c, o->conninfo, o->parallel, MAX_PIECES, deadline, &pool, err);
    if (rc != 0)
        goto out;
    open = 1;
    w.nconns = pool.n;
    rc = prepare_tables(&pool, &w, &nm, err);
    if (rc != 0)
        goto out;

    /* Counts and fingerprints now. */
    want = lb_xcalloc(w.ntables + 1, 1);
    for (i = 0; i < w.ntables; i++) {
        want[i] = w.tables[i].exists;
        w.tables[i].count_only = !fingerprint;
    }
    piece = piece_blocks(&w, want);
    for (i = 0; i < w.ntables; i++)
        if (w.tables[i].exists)
            add_scans(&w, i, T_PLAIN, piece);
    rc = run_tasks(&pool, &w, err);
    if (rc != 0)
        goto out;
    merge_scans(&w);
    tasks_clear(&w);

    /* Where they differ: the baseline's detail taken again now. */
    w.before_detail = lb_xcalloc(w.ntables + 1, sizeof(*w.before_detail));
    w.now_cells = lb_xcalloc(w.ntables + 1, sizeof(*w.now_cells));
    w.diffs = lb_xcalloc(w.ntables + 1, sizeof(*w.diffs));
    for (i = 0; i < w.ntables; i++) {
        struct vtable *t = &w.tables[i];
        const struct lb_table_fp *b = lb_baseline_find(before, t->name);

        want[i] = 0;
        if (b == NULL || !differs(b, t, o->tolerance, fingerprint))
            continue;
        if (b->detail == NULL) {
            w.diffs[i] = vdiff_none(
                b->has_pk ? "the baseline kept no detail of its rows (it keeps them for "
                            "tables of up to " LB_STR(LB_VALIDATE_DETAIL_ROWS) " rows by "
                            "default; a baseline taken with detail = \"sketch\" can name "
                            "rows of larger tables, for a slower scan)"
                          : "it has no primary key: its rows cannot be told apart, only "
                            "counted and fingerprinted");
            continue;
        }
        w.before_detail[i] = b->detail;
        want[i] = b->detail->mode == VMODE_SKETCH;
    }
    piece = piece_blocks(&w, want);
    for (i = 0; i < w.ntables; i++)
        if (want[i] && w.tables[i].nkeys > 0)
            add_scans(&w, i, T_SKETCH, piece);
    rc = run_tasks(&pool, &w, err);
    if (rc != 0)
        goto out;
    merge_scans(&w);
    tasks_clear(&w);
    for (i = 0; i < w.ntables; i++)
        if (w.before_detail[i] != NULL)
            task_add(&w, i, T_LOCALISE, -1, -1, w.tables[i].bytes);
    rc = run_tasks(&pool, &w, err);
    if (rc != 0)
        goto out;
    tasks_clear(&w);

    if (o->foreign_keys) {
        rc = vfk_list(c, nm.items, nm.n, deadline, &fks, &nfks, err);
        if (rc != 0)
            goto out;
        rc = vfk_run(&pool, fks, nfks, w.samples, 0, 0, deadline, err);
        if (rc != 0)
            goto out;
    }
    open = 0;
    rc = pool_close(&pool, 1, err);
    if (rc != 0)
        goto out;
    out->after = to_baseline(&w, fingerprint, w.nconns);
    if (o->foreign_keys) {
        vfk_report(fks, nfks, &out->fks);
        fks = NULL;
        nfks = 0;
        out->fks_checked = 1;
    }

out:
    if (open)
        pool_close(&pool, 0, NULL);
    if (fks != NULL) {
        struct lb_fk_report discard;
        vfk_report(fks, nfks, &discard);
        lb_fk_report_free(&discard);
    }
    if (rc != 0)
        lb_err_prefix(err, "compare");
    free(want);
    free(names);
    vnames_free(nm.items, nm.n);
    work_free(&w);
    return rc;
}

void lb_baseline_free(struct lb_baseline *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->ntables; i++)
        lb_table_fp_clear(&b->tables[i]);
    free(b->tables);
    free(b);
}

/* The part after the first dot, or the whole name. */
static const char *rel_part(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot != NULL ? dot + 1 : name;
}

const struct lb_table_fp *lb_baseline_find(const struct lb_baseline *b, const char *name)
{
    const struct lb_table_fp *first = NULL;
    int qualified;
    size_t i;

    if (b == NULL || name == NULL)
        return NULL;
    for (i = 0; i < b->ntables; i++)
        if (strcmp(b->tables[i].name, name) == 0)
            return &b->tables[i];
    qualified = strchr(name, '.') != NULL;
    for (i = 0; i < b->ntables; i++) {
        const char *tn = b->tables[i].name;
        int tq = strchr(tn, '.') != NULL;
        if (!qualified && tq && strcmp(rel_part(tn), name) == 0) {
            if (lb_str_starts(tn, "public."))
                return &b->tables[i];
            if (first == NULL)
                first = &b->tables[i];
        } else if (qualified && !tq && strcmp(tn, rel_part(name)) == 0) {
            if (first == NULL)
                first = &b->tables[i];
        }
    }
    return first;
}
