/*
 * validate/fk: foreign keys that a restore broke. Each constraint is
 * checked with an anti-join (child rows whose key has no parent), under
 * the constraint's own equality operators and MATCH rule, whether or not
 * the server still enforces it (a restore with session_replication_role =
 * replica, a constraint re-added NOT VALID, triggers disabled).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "validate_int.h"

/*
 * One row per constraint column. Top-level constraints only (a
 * partitioned child's clones on its partitions have conparentid set).
 * Scope: constraints whose child or parent is among the given tables
 * ($1/$2: schema and table names), or every one when $1 is NULL.
 */
static const char LIST_SQL[] =
    "SELECT k.oid::pg_catalog.text, k.conname::pg_catalog.text,"
    " cn.nspname::pg_catalog.text, cc.relname::pg_catalog.text, cc.relkind::pg_catalog.text,"
    " pn.nspname::pg_catalog.text, pc.relname::pg_catalog.text, pc.relkind::pg_catalog.text,"
    " k.confmatchtype::pg_catalog.text, u.i::pg_catalog.text,"
    " ca.attname::pg_catalog.text, pa.attname::pg_catalog.text,"
    " opn.nspname::pg_catalog.text, op.oprname::pg_catalog.text,"
    " COALESCE(pg_catalog.pg_table_size(cc.oid), 0)::pg_catalog.text,"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_index x"
    "   WHERE x.indrelid = k.conrelid AND x.indisvalid AND x.indpred IS NULL"
    "     AND (pg_catalog.string_to_array(x.indkey::pg_catalog.text, ' ')::pg_catalog.int2[])"
    "         [1:pg_catalog.array_length(k.conkey, 1)] OPERATOR(pg_catalog.@>) k.conkey"
    " )::pg_catalog.int4::pg_catalog.text,"
    " cc.oid::pg_catalog.text"
    " FROM pg_catalog.pg_constraint k"
    " JOIN pg_catalog.pg_class cc ON cc.oid = k.conrelid"
    " JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace"
    " JOIN pg_catalog.pg_class pc ON pc.oid = k.confrelid"
    " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
    " CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey),"
    "   pg_catalog.unnest(k.conpfeqop)) WITH ORDINALITY AS u(ck, pk, eqop, i)"
    " JOIN pg_catalog.pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = u.ck"
    " JOIN pg_catalog.pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = u.pk"
    " JOIN pg_catalog.pg_operator op ON op.oid = u.eqop"
    " JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace"
    " WHERE k.contype = 'f' AND k.conparentid = 0"
    "   AND cn.nspname NOT IN ('pg_catalog', 'information_schema')"
    "   AND cc.relname NOT LIKE 'lifeboat\\_%'"
    "   AND ($1::pg_catalog.text[] IS NULL"
    "     OR (cn.nspname::pg_catalog.text, cc.relname::pg_catalog.text) IN"
    "        (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
    "                                  pg_catalog.unnest($2::pg_catalog.text[])))"
    "     OR (pn.nspname::pg_catalog.text, pc.relname::pg_catalog.text) IN"
    "        (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
    "                                  pg_catalog.unnest($2::pg_catalog.text[]))))"
    " ORDER BY pg_catalog.pg_table_size(cc.oid) DESC, cn.nspname, cc.relname, k.conname, u.i";

/* The child's primary key columns, for naming sample rows. */
static const char CHILD_KEY_SQL[] =
    "SELECT a.attname::pg_catalog.text"
    " FROM pg_catalog.pg_constraint c"
    " CROSS JOIN LATERAL pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
    " WHERE c.conrelid = $1::pg_catalog.oid AND c.contype = 'p'"
    " ORDER BY k.ord";

/* A text[] literal of names: every element double-quoted. */
static char *text_array(const struct vname *v, size_t n, int table)
{
    struct lb_buf b = {0};
    size_t i;

    lb_buf_addc(&b, '{');
    for (i = 0; i < n; i++) {
        const char *s = table ? v[i].table : v[i].schema;
        if (b.len > 1)
            lb_buf_addc(&b, ',');
        lb_buf_addc(&b, '"');
        for (; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\')
                lb_buf_addc(&b, '\\');
            lb_buf_addc(&b, *s);
        }
        lb_buf_addc(&b, '"');
    }
    lb_buf_addc(&b, '}');
    return lb_buf_steal(&b);
}

static void vfk_free_one(struct vfk *f)
{
    size_t i;

    free(f->oid);
    free(f->child_oid);
    free(f->from_child);
    free(f->from_parent);
    free(f->join);
    free(f->complete);
    free(f->keys_sql);
    free(f->order_sql);
    free(f->v.constraint);
    free(f->v.table);
    free(f->v.references);
    free(f->v.columns);
    free(f->v.ref_columns);
    free(f->v.sample_columns);
    for (i = 0; i < f->v.nsamples; i++)
        free(f->v.samples[i]);
    free(f->v.samples);
    for (i = 0; i < f->v.nmissing_refs; i++)
        free(f->v.missing_refs[i]);
    free(f->v.missing_refs);
}

void lb_fk_report_free(struct lb_fk_report *r)
{
    size_t i, j;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++) {
        struct lb_fk_violation *v = &r->items[i];
        free(v->constraint);
        free(v->table);
        free(v->references);
        free(v->columns);
        free(v->ref_columns);
        free(v->sample_columns);
        for (j = 0; j < v->nsamples; j++)
            free(v->samples[j]);
        free(v->samples);
        for (j = 0; j < v->nmissing_refs; j++)
            free(v->missing_refs[j]);
        free(v->missing_refs);
    }
    free(r->items);
    memset(r, 0, sizeof(*r));
}

/* Builders of one constraint's SQL pieces, column by column. */
struct fkbuild {
    struct lb_buf join, notnull, anynull, allnull, keys, order, cols, refcols;
    int ncols;
};

static void fkbuild_free(struct fkbuild *b)
{
    lb_buf_free(&b->join);
    lb_buf_free(&b->notnull);
    lb_buf_free(&b->anynull);
    lb_buf_free(&b->allnull);
    lb_buf_free(&b->keys);
    lb_buf_free(&b->order);
    lb_buf_free(&b->cols);
    lb_buf_free(&b->refcols);
}

static char *qualified(struct lb_pg *c, const char *schema, const char *table, int only,
                       const char *alias)
{
    char *qs = lb_pg_quote_ident(c, schema, 0), *qt = lb_pg_quote_ident(c, table, 0), *out;

    out = qs != NULL && qt != NULL
              ? lb_xasprintf("%s%s.%s AS %s", only ? "ONLY " : "", qs, qt, alias) : NULL;
    free(qs);
    free(qt);
    return out;
}

/* Finish the constraint being built from rows [first, last] of r. */
static int finish_fk(struct lb_pg *c, const struct lb_pg_result *r, int first, struct fkbuild *b,
                     struct vfk *f, struct lb_err *err)
{
    const char *match = lb_pg_value(r, first, 8);
    const char *ckind = lb_pg_value(r, first, 4), *pkind = lb_pg_value(r, first, 7);

    f->oid = lb_xstrdup(lb_pg_value(r, first, 0));
    f->child_oid = lb_xstrdup(lb_pg_value(r, first, 16));
    f->v.constraint = lb_xstrdup(lb_pg_value(r, first, 1));
    f->v.table = lb_xasprintf("%s.%s", lb_pg_value(r, first, 2), lb_pg_value(r, first, 3));
    f->v.references = lb_xasprintf("%s.%s", lb_pg_value(r, first, 5), lb_pg_value(r, first, 6));
    f->v.columns = lb_xstrdup(b->cols.data);
    f->v.ref_columns = lb_xstrdup(b->refcols.data);
    f->v.count = -1;
    if (lb_parse_int64(lb_pg_value(r, first, 14), &f->child_bytes) != 0)
        f->child_bytes = 0;
    f->indexed = lb_pg_value(r, first, 15) != NULL && strcmp(lb_pg_value(r, first, 15), "1") == 0;
    f->from_child = qualified(c, lb_pg_value(r, first, 2), lb_pg_value(r, first, 3),
                              ckind == NULL || ckind[0] != 'p', "lb_c");
    f->from_parent = qualified(c, lb_pg_value(r, first, 5), lb_pg_value(r, first, 6),
                               pkind == NULL || pkind[0] != 'p', "lb_p");
    if (f->from_child == NULL || f->from_parent == NULL)
        return lb_err_set(err, LB_EDB, "cannot quote the tables of %s", f->v.constraint);
    f->ncols = b->ncols;
    f->join = lb_xstrdup(b->join.data);
    f->keys_sql = lb_xstrdup(b->keys.data);
    f->order_sql = lb_xstrdup(b->order.data);
    /* MATCH SIMPLE: a key with a NULL column needs no parent. MATCH FULL:
     * all NULL needs none; some NULL is itself a violation. */
    if (match != NULL && match[0] == 'f' && b->ncols > 1)
        f->complete = lb_xasprintf("NOT (%s) AND ((%s) OR NOT EXISTS (SELECT 1 FROM %s WHERE %s))",
                                   b->allnull.data, b->anynull.data, f->from_parent,
                                   f->join);
    else
        f->complete = lb_xasprintf("%s AND NOT EXISTS (SELECT 1 FROM %s WHERE %s)",
                                   b->notnull.data, f->from_parent, f->join);
    return 0;
}

int vfk_list(struct lb_pg *c, const struct vname *scope, size_t nscope, int64_t deadline,
             struct vfk **out, size_t *n, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct fkbuild b;
    struct vname *live = NULL;
    const char *params[2] = {NULL, NULL};
    char *schemas = NULL, *tables = NULL;
    size_t nlive = 0, i, cap = 0;
    int first = 0, row, rc;

    *out = NULL;
    *n = 0;
    memset(&b, 0, sizeof(b));
    if (scope != NULL) {
        live = lb_xcalloc(nscope + 1, sizeof(*live));
        for (i = 0; i < nscope; i++)
            if (scope[i].schema != NULL)
                live[nlive++] = scope[i];
        if (nlive == 0) {
            free(live);
            return 0;
        }
        schemas = text_array(live, nlive, 0);
        tables = text_array(live, nlive, 1);
        params[0] = schemas;
        params[1] = tables;
    }
    rc = lb_pg_query(c, LIST_SQL, 2, params, deadline, &r, err);
    if (rc != 0) {
        lb_err_prefix(err, "list foreign keys");
        goto out;
    }
    for (row = 0; row < r.nrows; row++) {
        const char *ccol = lb_pg_value(&r, row, 10), *pcol = lb_pg_value(&r, row, 11);
        char *qc = lb_pg_quote_ident(c, ccol, 0), *qp = lb_pg_quote_ident(c, pcol, 0);
        char *qop_ns = lb_pg_quote_ident(c, lb_pg_value(&r, row, 12), 0);
        const char *sep = b.ncols > 0 ? " AND " : "";

        if (qc == NULL || qp == NULL || qop_ns == NULL) {
            free(qc);
            free(qp);
            free(qop_ns);
            rc = lb_err_set(err, LB_EDB, "cannot quote a foreign key column");
            goto out;
        }
        /* conpfeqop: PK = FK, the parent's column on the left. */
        lb_buf_printf(&b.join, "%slb_p.%s OPERATOR(%s.%s) lb_c.%s", sep, qp, qop_ns,
                      lb_pg_value(&r, row, 13), qc);
        lb_buf_printf(&b.notnull, "%slb_c.%s IS NOT NULL", sep, qc);
        lb_buf_printf(&b.anynull, "%slb_c.%s IS NULL", b.ncols > 0 ? " OR " : "", qc);
        lb_buf_printf(&b.allnull, "%slb_c.%s IS NULL", sep, qc);
        lb_buf_printf(&b.keys, "%slb_c.%s::pg_catalog.text", b.ncols > 0 ? ", " : "", qc);
        lb_buf_printf(&b.order, "%slb_c.%s", b.ncols > 0 ? ", " : "", qc);
        lb_buf_printf(&b.cols, "%s%s", b.ncols > 0 ? ", " : "", ccol);
        lb_buf_printf(&b.refcols, "%s%s", b.ncols > 0 ? ", " : "", pcol);
        b.ncols++;
        free(qc);
        free(qp);
        free(qop_ns);
        if (row + 1 == r.nrows ||
            strcmp(lb_pg_value(&r, row + 1, 0), lb_pg_value(&r, row, 0)) != 0) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = lb_xrealloc(*out, cap * sizeof(**out));
            }
            memset(&(*out)[*n], 0, sizeof(**out));
            (*n)++;
            rc = finish_fk(c, &r, first, &b, &(*out)[*n - 1], err);
            fkbuild_free(&b);
            memset(&b, 0, sizeof(b));
            if (rc != 0)
                goto out;
            first = row + 1;
        }
    }
out:
    fkbuild_free(&b);
    lb_pg_result_free(&r);
    free(schemas);
    free(tables);
    free(live);
    if (rc != 0) {
        for (i = 0; i < *n; i++)
            vfk_free_one(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int set_hashjoin(struct lb_pg *c, const char *value, int64_t deadline, char **prev,
                        struct lb_err *err)
{
    const char *params[1];

    params[0] = value;
    if (prev != NULL) {
        int rc = lb_pg_scalar(c, "SELECT pg_catalog.current_setting('enable_hashjoin')", 0, NULL,
                              deadline, prev, err);
        if (rc != 0)
            return rc;
    }
    return lb_pg_query(c, "SELECT pg_catalog.set_config('enable_hashjoin', $1, true)", 1,
                       params, deadline, NULL, err);
}

int vfk_check(struct lb_pg *c, struct vfk *fk, int samples, int merge, int64_t deadline,
              struct lb_err *err)
{
    struct lb_pg_result keys = {0}, r = {0};
    struct lb_buf sql = {0}, sample_cols = {0}, order = {0}, names = {0};
    const char *params[1];
    char lim[24], *prev = NULL;
    int use_merge = merge > 0 || (merge == 0 && fk->indexed);
    int nsample, i, rc;

    params[0] = fk->child_oid;
    rc = lb_pg_query(c, CHILD_KEY_SQL, 1, params, deadline, &keys, err);
    if (rc != 0)
        goto out;
    /* Samples name the child row by its primary key, else by the key. */
    if (keys.nrows > 0) {
        for (i = 0; i < keys.nrows; i++) {
            char *q = lb_pg_quote_ident(c, lb_pg_value(&keys, i, 0), 0);
            if (q == NULL) {
                rc = lb_err_set(err, LB_EDB, "cannot quote a column name");
                goto out;
            }
            lb_buf_printf(&sample_cols, "%slb_c.%s::pg_catalog.text", i > 0 ? ", " : "", q);
            lb_buf_printf(&order, "%slb_c.%s", i > 0 ? ", " : "", q);
            lb_buf_printf(&names, "%s%s", i > 0 ? ", " : "", lb_pg_value(&keys, i, 0));
            free(q);
        }
        nsample = keys.nrows;
    } else {
        lb_buf_adds(&sample_cols, fk->keys_sql);
        lb_buf_adds(&order, fk->order_sql);
        lb_buf_adds(&names, fk->v.columns);
        nsample = fk->ncols;
    }
    fk->v.sample_columns = lb_buf_steal(&names);

    if (use_merge) {
        /* Both sides ordered by an index: a merge anti-join reads each
         * once, in order, without building a hash table of the parent. */
        rc = set_hashjoin(c, "off", deadline, &prev, err);
        if (rc != 0)
            goto out;
        fk->v.merge = 1;
    }
    /* The first rows by key: the same samples every time. */
    lb_buf_printf(&sql, "SELECT %s, pg_catalog.count(*) OVER ()::pg_catalog.text FROM %s"
                        " WHERE %s ORDER BY %s LIMIT $1",
                  sample_cols.data, fk->from_child, fk->complete, order.data);
    snprintf(lim, sizeof(lim), "%d", samples > 0 ? samples : 1);
    params[0] = lim;
    rc = lb_pg_query(c, sql.data, 1, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    fk->v.count = 0;
    if (r.nrows > 0 && lb_parse_int64(lb_pg_value(&r, 0, nsample), &fk->v.count) != 0) {
        rc = lb_err_set(err, LB_EDB, "unexpected count");
        goto out;
    }
    if (samples > 0 && r.nrows > 0) {
        fk->v.samples = lb_xcalloc((size_t)r.nrows, sizeof(char *));
        for (i = 0; i < r.nrows; i++)
            fk->v.samples[fk->v.nsamples++] = vjoin_row(&r, i, 0, nsample);
    }
    lb_pg_result_free(&r);
    if (fk->v.count > 0 && samples > 0) {
        /* Which parent keys are missing, most rows first. */
        lb_buf_reset(&sql);
        lb_buf_printf(&sql, "SELECT %s, pg_catalog.count(*) FROM %s WHERE %s"
                            " GROUP BY %s ORDER BY pg_catalog.count(*) DESC, %s LIMIT $1",
                      fk->keys_sql, fk->from_child, fk->complete, fk->order_sql, fk->order_sql);
        rc = lb_pg_query(c, sql.data, 1, params, deadline, &r, err);
        if (rc != 0)
            goto out;
        fk->v.missing_refs = lb_xcalloc((size_t)r.nrows + 1, sizeof(char *));
        for (i = 0; i < r.nrows; i++)
            fk->v.missing_refs[fk->v.nmissing_refs++] = vjoin_row(&r, i, 0, r.ncols - 1);
    }
out:
    if (prev != NULL) {
        struct lb_err ignored = {0};
        if (rc == 0)
            rc = set_hashjoin(c, prev, deadline, NULL, err);
        else if (lb_pg_ok(c))
            set_hashjoin(c, prev, lb_mono_ms() + 5000, NULL, &ignored);
    }
    if (rc != 0)
        lb_err_prefix(err, "foreign key %s", fk->v.constraint);
    free(prev);
    lb_pg_result_free(&keys);
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    lb_buf_free(&sample_cols);
    lb_buf_free(&order);
    lb_buf_free(&names);
    return rc;
}

static int by_table_constraint(const void *a, const void *b)
{
    const struct lb_fk_violation *x = a, *y = b;
    int c = strcmp(x->table, y->table);
    return c != 0 ? c : strcmp(x->constraint, y->constraint);
}

void vfk_report(struct vfk *fks, size_t n, struct lb_fk_report *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->items = lb_xcalloc(n + 1, sizeof(*out->items));
    for (i = 0; i < n; i++) {
        out->items[out->n++] = fks[i].v;
        memset(&fks[i].v, 0, sizeof(fks[i].v));
        vfk_free_one(&fks[i]);
    }
    free(fks);
    qsort(out->items, out->n, sizeof(*out->items), by_table_constraint);
}

/* ---- the public entry point ------------------------------------------- */

struct fkctx {
    struct vfk *fks;
    int samples, merge;
    int64_t deadline;
};

static int fk_task(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err)
{
    struct fkctx *x = ctx;
    return vfk_check(conn, &x->fks[i], x->samples, x->merge, x->deadline, err);
}

int lb_validate_fk_violations(struct lb_pg *c, const struct lb_fk_opts *o,
                              struct lb_fk_report *out, struct lb_err *err)
{
    struct vname *names = NULL;
    struct vpool pool;
    struct fkctx x;
    size_t nnames = 0, nfks = 0, i;
    int64_t deadline;
    int rc, open = 0;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (c == NULL || o == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "foreign keys: missing argument");
    memset(&x, 0, sizeof(x));
    deadline = o->deadline_ms > 0 ? o->deadline_ms : LB_NO_DEADLINE;
    if (o->tables != NULL) {
        rc = vresolve_names(c, o->tables, deadline, &names, &nnames, err);
        if (rc != 0)
            goto out;
    }
    rc = pool_open(c, o->conninfo, o->parallel, 64, deadline, &pool, err);
    if (rc != 0)
        goto out;
    open = 1;
    rc = vfk_list(c, o->tables != NULL ? names : NULL, nnames, deadline, &x.fks, &nfks, err);
    if (rc != 0)
        goto out;
    x.samples = o->samples;
    x.merge = o->merge;
    x.deadline = deadline;
    rc = pool_run(&pool, nfks, fk_task, &x, err);
    if (rc != 0)
        goto out;
    open = 0;
    rc = pool_close(&pool, 1, err);
    if (rc != 0)
        goto out;
    vfk_report(x.fks, nfks, out);
    x.fks = NULL;
    nfks = 0;
out:
    if (open)
        pool_close(&pool, 0, NULL);
    for (i = 0; i < nfks; i++)
        vfk_free_one(&x.fks[i]);
    free(x.fks);
    vnames_free(names, nnames);
    if (rc != 0)
        lb_err_prefix(err, "foreign keys");
    return rc;
}
