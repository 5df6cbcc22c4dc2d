/*
 * validate/baseline: which tables, one snapshot, one fingerprint per table.
 */
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "lifeboat/validate.h"

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

/* One table to fingerprint: catalog names, or only the name as given. */
struct want {
    char *schema;   /* NULL: missing */
    char *table;
    char *name;     /* "schema.table", or the name as given when missing */
};

struct wants {
    struct want *items;
    size_t n, cap;
};

static void wants_add(struct wants *w, const char *schema, const char *table,
                      const char *given)
{
    struct want *it;

    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->items = lb_xrealloc(w->items, w->cap * sizeof(*w->items));
    }
    it = &w->items[w->n++];
    it->schema = lb_xstrdup(schema);
    it->table = lb_xstrdup(table);
    it->name = schema != NULL ? lb_xasprintf("%s.%s", schema, table) : lb_xstrdup(given);
}

static void wants_free(struct wants *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        free(w->items[i].schema);
        free(w->items[i].table);
        free(w->items[i].name);
    }
    free(w->items);
    memset(w, 0, sizeof(*w));
}

static int is_own_table(const char *table)
{
    return table != NULL && lb_str_starts(table, "lifeboat_");
}

/* Resolve one name the user gave into a want (or none for lifeboat_*). */
static int resolve(struct lb_pg *c, const char *given, int64_t deadline,
                   struct wants *w, struct lb_err *err)
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
            wants_add(w, NULL, NULL, given);
        goto out;
    }
    relkind = lb_pg_value(&r, 0, 2);
    if (relkind == NULL || relkind[0] == '\0' || strchr("rpvmf", relkind[0]) == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "'%s' is not a table (relkind %s)", given,
                        relkind != NULL ? relkind : "?");
        goto out;
    }
    if (!is_own_table(lb_pg_value(&r, 0, 1)))
        wants_add(w, lb_pg_value(&r, 0, 0), lb_pg_value(&r, 0, 1), given);

out:
    lb_pg_result_free(&r);
    free(schema);
    return rc;
}

static int list_user_tables(struct lb_pg *c, int64_t deadline, struct wants *w,
                            struct lb_err *err)
{
    struct lb_pg_result r = {0};
    int rc, i;

    rc = lb_pg_query(c, USER_TABLES_SQL, 0, NULL, deadline, &r, err);
    if (rc != 0)
        return lb_err_prefix(err, "list user tables");
    for (i = 0; i < r.nrows; i++)
        wants_add(w, lb_pg_value(&r, i, 0), lb_pg_value(&r, i, 1), NULL);
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

static int by_name(const void *a, const void *b)
{
    const struct lb_table_fp *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int lb_validate_baseline(struct lb_pg *c, const struct lb_baseline_opts *opts,
                         struct lb_baseline **out, struct lb_err *err)
{
    struct wants w = {0};
    struct lb_baseline *b = NULL;
    int64_t deadline;
    int in_txn = 0, fingerprint, rc = 0;
    size_t i, kept;

    if (out != NULL)
        *out = NULL;
    if (c == NULL || opts == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "baseline: missing argument");
    deadline = opts->deadline_ms > 0 ? opts->deadline_ms : LB_NO_DEADLINE;
    fingerprint = opts->fingerprint != 0;

    b = lb_xcalloc(1, sizeof(*b));
    b->taken_at = lb_wall_ms();

    /* Names resolve against the caller's search_path, before the snapshot
     * pins it; inside, each table is looked up again by its catalog names,
     * so one dropped in between comes out missing. */
    for (i = 0; opts->tables != NULL && opts->tables[i] != NULL; i++) {
        rc = resolve(c, opts->tables[i], deadline, &w, err);
        if (rc != 0)
            goto out;
    }
    rc = lb_validate_begin(c, deadline, err);
    if (rc != 0)
        goto out;
    in_txn = 1;
    if (opts->tables == NULL) {
        rc = list_user_tables(c, deadline, &w, err);
        if (rc != 0)
            goto out;
    }

    b->tables = lb_xcalloc(w.n ? w.n : 1, sizeof(*b->tables));
    for (i = 0; i < w.n; i++) {
        struct lb_table_fp *t = &b->tables[b->ntables];
        if (w.items[i].schema == NULL) {
            t->name = lb_xstrdup(w.items[i].name);
            t->rows = -1;
        } else {
            rc = lb_validate_table(c, w.items[i].schema, w.items[i].table, fingerprint,
                                   deadline, t, err);
            if (rc != 0)
                goto out;
        }
        b->ntables++;
    }
    rc = lb_validate_end(c, 1, deadline, err);
    in_txn = 0;
    if (rc != 0)
        goto out;

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

out:
    if (in_txn)
        lb_validate_end(c, 0, deadline, NULL);
    if (rc != 0) {
        lb_baseline_free(b);
        b = NULL;
        lb_err_prefix(err, "baseline");
    }
    wants_free(&w);
    *out = b;
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
