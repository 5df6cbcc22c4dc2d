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
    " cc.oid::pg_catalog.text,"
    " (ca.atttypid IN (20, 21, 23) AND pa.atttypid IN (20, 21, 23))::pg_catalog.int4::pg_catalog.text,"
    " COALESCE(pg_catalog.pg_table_size(pc.oid), 0)::pg_catalog.text"
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
    free(f->quoted);
    free(f->parent_col);
    free(f->sample_inner);
    free(f->sample_outer);
    free(f->sample_order);
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
    struct lb_buf join, notnull, anynull, allnull, keys, order, cols, refcols, quoted;
    char *parent_col;
    int ncols, all_int;
};

static void fkbuild_free(struct fkbuild *b)
{
    lb_buf_free(&b->join);
    lb_buf_free(&b->notnull);
    lb_buf_free(&b->anynull);
    lb_buf_free(&b->allnull);
    lb_buf_free(&b->keys);
    lb_buf_free(&b->order);
    lb_buf_free(&b->quoted);
    lb_buf_free(&b->cols);
    lb_buf_free(&b->refcols);
    free(b->parent_col);
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
    if (lb_parse_int64(lb_pg_value(r, first, 18), &f->parent_bytes) != 0)
        f->parent_bytes = 0;
    f->indexed = lb_pg_value(r, first, 15) != NULL && strcmp(lb_pg_value(r, first, 15), "1") == 0;
    f->from_child = qualified(c, lb_pg_value(r, first, 2), lb_pg_value(r, first, 3),
                              ckind == NULL || ckind[0] != 'p', "lb_c");
    f->from_parent = qualified(c, lb_pg_value(r, first, 5), lb_pg_value(r, first, 6),
                               pkind == NULL || pkind[0] != 'p', "lb_p");
    if (f->from_child == NULL || f->from_parent == NULL)
        return lb_err_set(err, LB_EDB, "cannot quote the tables of %s", f->v.constraint);
    f->ncols = b->ncols;
    f->int_key = b->ncols == 1 && b->all_int;
    f->parent_col = b->parent_col;
    b->parent_col = NULL;
    f->join = lb_xstrdup(b->join.data);
    f->keys_sql = lb_xstrdup(b->keys.data);
    f->order_sql = lb_xstrdup(b->order.data);
    f->quoted = lb_xcalloc(b->quoted.len + 1, 1);
    memcpy(f->quoted, b->quoted.data, b->quoted.len);
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
        /* NUL-separated: split again when samples name rows by these. */
        lb_buf_add(&b.quoted, qc, strlen(qc) + 1);
        if (b.ncols == 0) {
            b.parent_col = lb_xstrdup(qp);
            b.all_int = lb_pg_value(&r, row, 17) != NULL &&
                        strcmp(lb_pg_value(&r, row, 17), "1") == 0;
        }
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

/* How a merge count runs: no hash join, no parallel workers of the server
 * (a parallel merge anti-join reads the whole parent in every worker; the
 * pool is the parallelism), no JIT (nothing to compile in a count). */
static const char *const MERGE_NAMES[3] = {"enable_hashjoin", "max_parallel_workers_per_gather",
                                           "jit"};
static const char *const MERGE_VALUES[3] = {"off", "0", "off"};

/* Set the first nsettings of them to values (NULL: the merge values; 2
 * leaves the parallel workers out); prev, if not NULL, gets the old ones. */
static int set_merge(struct lb_pg *c, const char *const *values, int nsettings,
                     int64_t deadline, char **prev, struct lb_err *err)
{
    static const int order[3] = {0, 2, 1};
    struct lb_pg_result r = {0};
    struct lb_buf sql = {0};
    const char *params[6];
    int i, rc;

    if (prev != NULL) {
        rc = lb_pg_query(c, "SELECT pg_catalog.current_setting('enable_hashjoin'),"
                            " pg_catalog.current_setting('max_parallel_workers_per_gather'),"
                            " pg_catalog.current_setting('jit')",
                         0, NULL, deadline, &r, err);
        if (rc != 0)
            return rc;
        for (i = 0; i < 3; i++)
            prev[i] = lb_xstrdup(lb_pg_value(&r, 0, i));
        lb_pg_result_free(&r);
    }
    lb_buf_adds(&sql, "SELECT ");
    for (i = 0; i < nsettings; i++) {
        int k = order[i];
        params[2 * i] = MERGE_NAMES[k];
        params[2 * i + 1] = values != NULL ? values[k] : MERGE_VALUES[k];
        lb_buf_printf(&sql, "%spg_catalog.set_config($%d, $%d, true)", i > 0 ? ", " : "",
                      2 * i + 1, 2 * i + 2);
    }
    rc = lb_pg_query(c, sql.data, 2 * nsettings, params, deadline, NULL, err);
    lb_buf_free(&sql);
    return rc;
}

/* Child tables smaller than this are counted whole. */
#define SPLIT_BYTES (64 * 1024 * 1024)

int vfk_prepare(struct lb_pg *c, struct vfk *fk, int merge, int nconns, int64_t piece_bytes,
                int64_t deadline, struct lb_err *err)
{
    struct lb_pg_result keys = {0}, r = {0};
    struct lb_buf inner = {0}, outer = {0}, order = {0}, names = {0}, sql = {0};
    const char *params[1];
    int64_t lo, hi;
    int i, rc, n;

    fk->merge = merge > 0 || (merge == 0 && fk->indexed);
    fk->v.merge = fk->merge;
    fk->npieces = 1;
    params[0] = fk->child_oid;
    rc = lb_pg_query(c, CHILD_KEY_SQL, 1, params, deadline, &keys, err);
    if (rc != 0)
        goto out;
    /* Samples name the child row by its primary key, else by the key. */
    n = keys.nrows > 0 ? keys.nrows : fk->ncols;
    for (i = 0; i < n; i++) {
        const char *q = fk->quoted;
        char *own = NULL;
        if (keys.nrows > 0) {
            own = lb_pg_quote_ident(c, lb_pg_value(&keys, i, 0), 0);
            q = own;
            lb_buf_printf(&names, "%s%s", i > 0 ? ", " : "", lb_pg_value(&keys, i, 0));
        } else {
            int j;
            for (j = 0; j < i; j++)
                q += strlen(q) + 1;
        }
        if (q == NULL) {
            rc = lb_err_set(err, LB_EDB, "cannot quote a column name");
            goto out;
        }
        lb_buf_printf(&inner, "%slb_c.%s AS k%d", i > 0 ? ", " : "", q, i);
        lb_buf_printf(&outer, "%ss.k%d::pg_catalog.text", i > 0 ? ", " : "", i);
        lb_buf_printf(&order, "%ss.k%d", i > 0 ? ", " : "", i);
        free(own);
    }
    if (keys.nrows == 0)
        lb_buf_adds(&names, fk->v.columns);
    fk->nsample = n;
    fk->v.sample_columns = lb_buf_steal(&names);
    fk->sample_inner = lb_buf_steal(&inner);
    fk->sample_outer = lb_buf_steal(&outer);
    fk->sample_order = lb_buf_steal(&order);

    /* A large child with one integer key merged over an index: ranges of
     * the key, each a merge of two index range scans, counted apart. */
    if (piece_bytes <= 0)
        piece_bytes = SPLIT_BYTES;
    if (!fk->merge || !fk->int_key || nconns < 2 || fk->child_bytes < piece_bytes)
        goto out;
    lb_buf_printf(&sql, "SELECT pg_catalog.min(lb_c.%s)::pg_catalog.text,"
                        " pg_catalog.max(lb_c.%s)::pg_catalog.text FROM %s",
                  fk->quoted, fk->quoted, fk->from_child);
    rc = lb_pg_query(c, sql.data, 0, NULL, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (lb_parse_int64(lb_pg_value(&r, 0, 0), &lo) != 0 ||
        lb_parse_int64(lb_pg_value(&r, 0, 1), &hi) != 0 || hi - lo < 1024)
        goto out; /* empty, NULL only, or too narrow to split */
    /* Four ranges a connection: the last ones to finish are short. */
    n = nconns * 4 > VFK_MAX_PIECES ? VFK_MAX_PIECES : nconns * 4;
    fk->npieces = n;
    for (i = 0; i < n; i++)
        fk->bounds[i] = lo + (int64_t)((double)(hi - lo) * i / n);
    fk->bounds[n] = hi; /* the last range is closed: it includes hi */
out:
    lb_pg_result_free(&keys);
    lb_pg_result_free(&r);
    lb_buf_free(&inner);
    lb_buf_free(&outer);
    lb_buf_free(&order);
    lb_buf_free(&names);
    lb_buf_free(&sql);
    if (rc != 0)
        lb_err_prefix(err, "foreign key %s", fk->v.constraint);
    return rc;
}

int vfk_count(struct lb_pg *c, struct vfk *fk, int piece, int nconns, int64_t deadline,
              struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct lb_buf sql = {0};
    const char *params[2];
    char *prev[3] = {NULL, NULL, NULL};
    char lo[24], hi[24];
    int np = 0, nsettings = nconns > 1 ? 3 : 2, rc;

    if (fk->merge) {
        /* A pool of one keeps the server's parallel workers. */
        rc = set_merge(c, NULL, nsettings, deadline, prev, err);
        if (rc != 0)
            goto out;
    }
    if (fk->npieces <= 1) {
        lb_buf_printf(&sql, "SELECT pg_catalog.count(*)::pg_catalog.text FROM %s WHERE %s",
                      fk->from_child, fk->complete);
    } else {
        /* The parent's range too: the merge starts where the range does. */
        snprintf(lo, sizeof(lo), "%" PRId64, fk->bounds[piece]);
        snprintf(hi, sizeof(hi), "%" PRId64, fk->bounds[piece + 1]);
        params[0] = lo;
        params[1] = hi;
        np = 2;
        lb_buf_printf(&sql,
                      "SELECT pg_catalog.count(*)::pg_catalog.text FROM %s"
                      " WHERE lb_c.%s >= $1::pg_catalog.int8 AND lb_c.%s %s $2::pg_catalog.int8"
                      " AND NOT EXISTS (SELECT 1 FROM %s WHERE %s"
                      "   AND lb_p.%s >= $1::pg_catalog.int8 AND lb_p.%s %s $2::pg_catalog.int8)",
                      fk->from_child, fk->quoted, fk->quoted,
                      piece == fk->npieces - 1 ? "<=" : "<", fk->from_parent, fk->join,
                      fk->parent_col, fk->parent_col, piece == fk->npieces - 1 ? "<=" : "<");
    }
    rc = lb_pg_query(c, sql.data, np, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows != 1 || lb_parse_int64(lb_pg_value(&r, 0, 0), &fk->counts[piece]) != 0)
        rc = lb_err_set(err, LB_EDB, "unexpected count");
out:
    if (prev[0] != NULL) {
        struct lb_err ignored = {0};
        if (rc == 0)
            rc = set_merge(c, (const char *const *)prev, nsettings, deadline, NULL, err);
        else if (lb_pg_ok(c))
            set_merge(c, (const char *const *)prev, nsettings, lb_mono_ms() + 5000, NULL,
                      &ignored);
    }
    free(prev[0]);
    free(prev[1]);
    free(prev[2]);
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    if (rc != 0)
        lb_err_prefix(err, "foreign key %s", fk->v.constraint);
    return rc;
}

int vfk_samples(struct lb_pg *c, struct vfk *fk, int samples, int64_t deadline,
                struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct lb_buf sql = {0};
    const char *params[1];
    char lim[24];
    int i, rc = 0;

    if (fk->v.count <= 0 || samples <= 0)
        return 0;
    /* The first child rows by key (the same samples every time; the fence
     * keeps the key order from steering the join), then the parent keys
     * that are missing, most rows first. */
    snprintf(lim, sizeof(lim), "%d", samples);
    params[0] = lim;
    lb_buf_printf(&sql, "SELECT %s FROM (SELECT %s FROM %s WHERE %s OFFSET 0) s"
                        " ORDER BY %s LIMIT $1",
                  fk->sample_outer, fk->sample_inner, fk->from_child, fk->complete,
                  fk->sample_order);
    rc = lb_pg_query(c, sql.data, 1, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    fk->v.samples = lb_xcalloc((size_t)r.nrows + 1, sizeof(char *));
    for (i = 0; i < r.nrows; i++)
        fk->v.samples[fk->v.nsamples++] = vjoin_row(&r, i, 0, fk->nsample);
    lb_pg_result_free(&r);
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
out:
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    if (rc != 0)
        lb_err_prefix(err, "foreign key %s", fk->v.constraint);
    return rc;
}

/* ---- over the pool ------------------------------------------------------ */

struct fkpiece {
    struct vfk *fk;
    int piece;
    int64_t weight;
};

struct fkrun {
    struct vfk *fks;
    struct fkpiece *pieces;
    size_t *violated;
    int samples, merge, nconns;
    int64_t piece_bytes, deadline;
};

static int fk_prepare_task(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err)
{
    struct fkrun *x = ctx;
    return vfk_prepare(conn, &x->fks[i], x->merge, x->nconns, x->piece_bytes, x->deadline,
                       err);
}

static int fk_count_task(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err)
{
    struct fkrun *x = ctx;
    return vfk_count(conn, x->pieces[i].fk, x->pieces[i].piece, x->nconns, x->deadline, err);
}

static int fk_samples_task(void *ctx, struct lb_pg *conn, size_t i, struct lb_err *err)
{
    struct fkrun *x = ctx;
    return vfk_samples(conn, &x->fks[x->violated[i]], x->samples, x->deadline, err);
}

static int by_piece_weight(const void *a, const void *b)
{
    const struct fkpiece *x = a, *y = b;
    return x->weight != y->weight ? (x->weight > y->weight ? -1 : 1) : 0;
}

int vfk_run(struct vpool *pool, struct vfk *fks, size_t n, int samples, int merge,
            int64_t piece_bytes, int64_t deadline, struct lb_err *err)
{
    struct fkrun x;
    size_t i, np = 0, nv = 0;
    int p, rc;

    memset(&x, 0, sizeof(x));
    x.fks = fks;
    x.samples = samples;
    x.merge = merge;
    x.nconns = pool->n;
    x.piece_bytes = piece_bytes;
    x.deadline = deadline;
    rc = pool_run(pool, n, fk_prepare_task, &x, err);
    if (rc != 0)
        return rc;
    for (i = 0; i < n; i++)
        np += (size_t)fks[i].npieces;
    x.pieces = lb_xcalloc(np + 1, sizeof(*x.pieces));
    np = 0;
    for (i = 0; i < n; i++) {
        for (p = 0; p < fks[i].npieces; p++) {
            x.pieces[np].fk = &fks[i];
            x.pieces[np].piece = p;
            /* A merge reads both indexes: the parent's share counts. */
            x.pieces[np].weight = (fks[i].child_bytes + fks[i].parent_bytes) / fks[i].npieces;
            np++;
        }
    }
    qsort(x.pieces, np, sizeof(*x.pieces), by_piece_weight);
    rc = pool_run(pool, np, fk_count_task, &x, err);
    if (rc != 0)
        goto out;
    x.violated = lb_xcalloc(n + 1, sizeof(*x.violated));
    for (i = 0; i < n; i++) {
        fks[i].v.count = 0;
        fks[i].v.pieces = fks[i].npieces;
        for (p = 0; p < fks[i].npieces; p++)
            fks[i].v.count += fks[i].counts[p];
        if (fks[i].v.count > 0)
            x.violated[nv++] = i;
    }
    rc = pool_run(pool, nv, fk_samples_task, &x, err);
out:
    free(x.pieces);
    free(x.violated);
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

int lb_validate_fk_violations(struct lb_pg *c, const struct lb_fk_opts *o,
                              struct lb_fk_report *out, struct lb_err *err)
{
    struct vname *names = NULL;
    struct vpool pool;
    struct vfk *fks = NULL;
    size_t nnames = 0, nfks = 0, i;
    int64_t deadline;
    int rc, open = 0;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (c == NULL || o == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "foreign keys: missing argument");
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
    rc = vfk_list(c, o->tables != NULL ? names : NULL, nnames, deadline, &fks, &nfks, err);
    if (rc != 0)
        goto out;
    rc = vfk_run(&pool, fks, nfks, o->samples, o->merge, o->piece_bytes, deadline, err);
    if (rc != 0)
        goto out;
    open = 0;
    rc = pool_close(&pool, 1, err);
    if (rc != 0)
        goto out;
    vfk_report(fks, nfks, out);
    fks = NULL;
    nfks = 0;
out:
    if (open)
        pool_close(&pool, 0, NULL);
    for (i = 0; i < nfks; i++)
        vfk_free_one(&fks[i]);
    free(fks);
    vnames_free(names, nnames);
    if (rc != 0)
        lb_err_prefix(err, "foreign keys");
    return rc;
}
