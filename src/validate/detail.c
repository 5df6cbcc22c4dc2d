/*
 * validate/detail: what a baseline keeps so that a later comparison can
 * say which rows differ, and the comparison itself.
 *
 * Two kinds (docs/validation.md explains the trade-off):
 *  - rows: every row's (key, row hash, group value), for small tables.
 *    Exact: every missing, extra and changed row is named.
 *  - sketch: VSKETCH_CELLS cells; a row goes to cell (row hash mod cells)
 *    and adds to its count, its hash sum, the sum of a second hash of its
 *    hash (the check), the sums of its integer key columns and of its
 *    integer group column. Subtracting the sketch taken now from the
 *    baseline's leaves, in a cell that one difference alone fell into,
 *    exactly that row: its hash, key and group. A changed row is two such
 *    differences (its old and its new version, in two cells). Memory is
 *    fixed per table; every difference is named while they are few
 *    compared with the cells, fewer as they grow.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "validate_int.h"

#define CELL_MASK (VSKETCH_CELLS - 1)

/* ---- small helpers -------------------------------------------------- */

const char *vdisplay_name(const char *name)
{
    return name != NULL && lb_str_starts(name, "public.") && name[7] != '\0' ? name + 7 : name;
}

char *varray_literal(const uint64_t *v, size_t n, size_t stride)
{
    struct lb_buf b = {0};
    char num[24];
    size_t i;

    lb_buf_addc(&b, '{');
    for (i = 0; i < n; i++) {
        vfmt_i64(v[i * stride], num);
        if (i > 0)
            lb_buf_addc(&b, ',');
        lb_buf_adds(&b, num);
    }
    lb_buf_addc(&b, '}');
    return lb_buf_steal(&b);
}

char *vjoin_row(const struct lb_pg_result *r, int row, int from, int to)
{
    struct lb_buf b = {0};
    int j;

    for (j = from; j < to; j++) {
        const char *v = lb_pg_value(r, row, j);
        if (j > from)
            lb_buf_adds(&b, ", ");
        lb_buf_adds(&b, v != NULL ? v : "NULL");
    }
    return lb_buf_steal(&b);
}

/* ---- detail objects -------------------------------------------------- */

struct lb_table_detail *vdetail_new(const struct vtable *t, int mode)
{
    struct lb_table_detail *d = lb_xcalloc(1, sizeof(*d));
    struct lb_buf names = {0};
    int i;

    d->mode = mode;
    d->nkeys = t->nkeys;
    d->keys_int = t->keys_int;
    d->group_int = t->group_int;
    for (i = 0; i < t->nkeys; i++) {
        if (i > 0)
            lb_buf_adds(&names, ", ");
        lb_buf_adds(&names, t->key_names[i]);
    }
    d->key_names = lb_buf_steal(&names);
    d->group_name = lb_xstrdup(t->group_name);
    if (mode == VMODE_SKETCH)
        d->cells = lb_xcalloc(VSKETCH_CELLS, sizeof(*d->cells));
    return d;
}

void vdetail_free(struct lb_table_detail *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->nrows; i++) {
        free(d->rows[i].key);
        free(d->rows[i].group);
    }
    free(d->rows);
    free(d->cells);
    free(d->key_names);
    free(d->group_name);
    free(d);
}

const char *lb_table_detail_kind(const struct lb_table_fp *t)
{
    if (t == NULL || t->detail == NULL)
        return NULL;
    return t->detail->mode == VMODE_ROWS ? "rows" : "sketch";
}

void lb_table_diff_free(struct lb_table_diff *d)
{
    size_t i;

    if (d == NULL)
        return;
    free(d->method);
    free(d->why);
    free(d->key_columns);
    free(d->group_column);
    for (i = 0; i < d->nsamples; i++) {
        free(d->samples[i].key);
        free(d->samples[i].group);
    }
    free(d->samples);
    free(d->missing_group);
    free(d);
}

struct lb_table_diff *vdiff_none(const char *why)
{
    struct lb_table_diff *d = lb_xcalloc(1, sizeof(*d));

    d->method = lb_xstrdup("none");
    d->why = lb_xstrdup(why);
    return d;
}

/* ---- scans ----------------------------------------------------------- */

/* " WHERE ctid >= $1 [AND ctid < $2]" for a block range, with its params. */
static void block_range(int64_t lo, int64_t hi, struct lb_buf *sql, char lo_s[32],
                        char hi_s[32], const char **params, int *nparams, int first)
{
    if (lo < 0 && hi < 0)
        return;
    lb_buf_adds(sql, " WHERE ");
    if (lo >= 0) {
        snprintf(lo_s, 32, "(%" PRId64 ",0)", lo);
        params[(*nparams)++] = lo_s;
        lb_buf_printf(sql, "lb_t.ctid >= $%d::pg_catalog.tid", first + *nparams - 1);
    }
    if (hi >= 0) {
        snprintf(hi_s, 32, "(%" PRId64 ",0)", hi);
        params[(*nparams)++] = hi_s;
        lb_buf_printf(sql, "%slb_t.ctid < $%d::pg_catalog.tid", lo >= 0 ? " AND " : "",
                      first + *nparams - 1);
    }
}

int vscan_plain(struct lb_pg *c, const struct vtable *t, int64_t blk_lo, int64_t blk_hi,
                int64_t deadline, int64_t *rows, uint64_t *sum, struct lb_err *err)
{
    struct lb_buf sql = {0};
    struct lb_pg_result r = {0};
    const char *params[2];
    char lo_s[32], hi_s[32];
    int np = 0, rc;

    *rows = 0;
    *sum = 0;
    lb_buf_adds(&sql, "SELECT pg_catalog.count(*)::pg_catalog.text");
    if (!t->count_only)
        lb_buf_printf(&sql, ", pg_catalog.sum(%s)::pg_catalog.text", t->hash);
    lb_buf_printf(&sql, " FROM %s", t->from);
    block_range(blk_lo, blk_hi, &sql, lo_s, hi_s, params, &np, 1);
    rc = lb_pg_query(c, sql.data, np, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows != 1 || lb_parse_int64(lb_pg_value(&r, 0, 0), rows) != 0 ||
        (!t->count_only && vparse_u64(lb_pg_value(&r, 0, 1), sum) != 0))
        rc = lb_err_set(err, LB_EDB, "unexpected count or fingerprint result");
out:
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    return rc;
}

int vscan_rows(struct lb_pg *c, const struct vtable *t, int64_t limit, int64_t deadline,
               struct lb_table_detail *d, int *overflow, struct lb_err *err)
{
    struct lb_buf sql = {0};
    struct lb_pg_result r = {0};
    const char *params[1];
    char lim[24];
    int i, rc;

    *overflow = 0;
    lb_buf_printf(&sql, "SELECT (%s)::pg_catalog.text", t->hash);
    for (i = 0; i < t->nkeys; i++)
        lb_buf_printf(&sql, ", %s::pg_catalog.text", t->key_sql[i]);
    if (t->group_sql != NULL)
        lb_buf_printf(&sql, ", %s::pg_catalog.text", t->group_sql);
    lb_buf_printf(&sql, " FROM %s LIMIT $1", t->from);
    snprintf(lim, sizeof(lim), "%" PRId64, limit + 1);
    params[0] = lim;
    rc = lb_pg_query(c, sql.data, 1, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    if (r.nrows > limit) {
        *overflow = 1;
        goto out;
    }
    d->rows = lb_xcalloc((size_t)r.nrows + 1, sizeof(*d->rows));
    for (i = 0; i < r.nrows; i++) {
        struct vrow *row = &d->rows[d->nrows];
        if (vparse_u64(lb_pg_value(&r, i, 0), &row->h) != 0) {
            rc = lb_err_set(err, LB_EDB, "unexpected row hash");
            goto out;
        }
        row->key = vjoin_row(&r, i, 1, 1 + t->nkeys);
        if (t->group_sql != NULL)
            row->group = lb_xstrdup(lb_pg_value(&r, i, 1 + t->nkeys));
        d->nrows++;
    }
out:
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    return rc;
}

int vscan_sketch(struct lb_pg *c, const struct vtable *t, int64_t blk_lo, int64_t blk_hi,
                 int64_t deadline, struct vcell *cells, struct lb_err *err)
{
    struct lb_buf sql = {0};
    struct lb_pg_result r = {0};
    const char *params[2];
    char lo_s[32], hi_s[32];
    int np = 0, nk = t->keys_int ? t->nkeys : 0, i, j, rc;

    /* OFFSET 0 keeps the subquery: the row hash is computed once per row,
     * not once for the cell and again for each sum. */
    lb_buf_printf(&sql,
                  "SELECT (s.h & %d::pg_catalog.int8)::pg_catalog.int4::pg_catalog.text,"
                  " pg_catalog.count(*)::pg_catalog.text, pg_catalog.sum(s.h)::pg_catalog.text,"
                  " pg_catalog.sum(pg_catalog.hashint8extended(s.h, 1))::pg_catalog.text",
                  CELL_MASK);
    for (i = 0; i < nk; i++)
        lb_buf_printf(&sql, ", pg_catalog.sum(s.k%d)::pg_catalog.text", i);
    if (t->group_int)
        lb_buf_adds(&sql, ", pg_catalog.sum(s.g)::pg_catalog.text");
    lb_buf_printf(&sql, " FROM (SELECT %s AS h", t->hash);
    for (i = 0; i < nk; i++)
        lb_buf_printf(&sql, ", %s::pg_catalog.int8 AS k%d", t->key_sql[i], i);
    if (t->group_int)
        lb_buf_printf(&sql, ", %s::pg_catalog.int8 AS g", t->group_sql);
    lb_buf_printf(&sql, " FROM %s", t->from);
    block_range(blk_lo, blk_hi, &sql, lo_s, hi_s, params, &np, 1);
    lb_buf_adds(&sql, " OFFSET 0) s GROUP BY 1");
    rc = lb_pg_query(c, sql.data, np, params, deadline, &r, err);
    if (rc != 0)
        goto out;
    for (i = 0; i < r.nrows; i++) {
        int64_t cell, n;
        uint64_t v;
        struct vcell *x;

        if (lb_parse_int64(lb_pg_value(&r, i, 0), &cell) != 0 || cell < 0 ||
            cell > CELL_MASK || lb_parse_int64(lb_pg_value(&r, i, 1), &n) != 0) {
            rc = lb_err_set(err, LB_EDB, "unexpected sketch cell");
            goto out;
        }
        x = &cells[cell];
        x->n += n;
        for (j = 2; j < r.ncols; j++) {
            if (vparse_u64(lb_pg_value(&r, i, j), &v) != 0) {
                rc = lb_err_set(err, LB_EDB, "unexpected sketch sum");
                goto out;
            }
            if (j == 2)
                x->h += v;
            else if (j == 3)
                x->chk += v;
            else if (j - 4 < nk)
                x->k[j - 4] += v;
            else
                x->g += v;
        }
    }
out:
    lb_pg_result_free(&r);
    lb_buf_free(&sql);
    return rc;
}

/* ---- sketch decoding (pure) ----------------------------------------- */

size_t vsketch_decode(const struct vcell *before, const struct vcell *now, int nkeys,
                      struct velem **out, size_t *nout)
{
    size_t undecoded = 0, cap = 0;
    int c, i;

    *out = NULL;
    *nout = 0;
    for (c = 0; c < VSKETCH_CELLS; c++) {
        const struct vcell *b = &before[c], *a = &now[c];
        int64_t dn = a->n - b->n;
        uint64_t dh = a->h - b->h, dchk = a->chk - b->chk, dg = a->g - b->g;
        int same = dn == 0 && dh == 0 && dchk == 0 && dg == 0;
        struct velem e;

        for (i = 0; i < nkeys; i++)
            if (a->k[i] != b->k[i])
                same = 0;
        if (same)
            continue;
        if (dn != 1 && dn != -1) {
            undecoded++;
            continue;
        }
        memset(&e, 0, sizeof(e));
        e.sign = (int)dn;
        /* Negating modulo 2^64 turns a removed element's sums into its values. */
        e.h = dn > 0 ? dh : (uint64_t)0 - dh;
        e.chk = dn > 0 ? dchk : (uint64_t)0 - dchk;
        e.g = dn > 0 ? dg : (uint64_t)0 - dg;
        for (i = 0; i < nkeys; i++)
            e.k[i] = dn > 0 ? a->k[i] - b->k[i] : b->k[i] - a->k[i];
        /* A lone row lands in the cell its own hash names. */
        if ((e.h & CELL_MASK) != (uint64_t)c) {
            undecoded++;
            continue;
        }
        if (*nout == cap) {
            cap = cap ? cap * 2 : 64;
            *out = lb_xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*nout)++] = e;
    }
    return undecoded;
}

/* ---- localisation ------------------------------------------------------ */

/* Differences found, before they become a diff. */
struct found {
    struct lb_row_diff *items;
    size_t n, cap;
    int64_t count[3];           /* missing, extra, changed */
    char *missing_group;        /* shared by every missing row so far */
    int missing_group_mixed;
    int keys_int;
};

static int kind_index(char kind)
{
    return kind == 'm' ? 0 : kind == 'e' ? 1 : 2;
}

static void found_add(struct found *f, char kind, const char *key, const char *group)
{
    struct lb_row_diff *d;

    f->count[kind_index(kind)]++;
    if (kind == 'm') {
        if (group == NULL)
            f->missing_group_mixed = 1;
        else if (f->missing_group == NULL && !f->missing_group_mixed)
            f->missing_group = lb_xstrdup(group);
        else if (f->missing_group != NULL && strcmp(f->missing_group, group) != 0)
            f->missing_group_mixed = 1;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->items = lb_xrealloc(f->items, f->cap * sizeof(*f->items));
    }
    d = &f->items[f->n++];
    d->kind = kind;
    d->key = lb_xstrdup(key);
    d->group = lb_xstrdup(group);
}

static void found_free(struct found *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        free(f->items[i].key);
        free(f->items[i].group);
    }
    free(f->items);
    free(f->missing_group);
}

/* Keys compare as numbers, column by column, when they are integers. */
static int key_cmp_int(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        char *ea, *eb;
        long long x = strtoll(a, &ea, 10), y = strtoll(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = ea;
        b = eb;
        while (*a == ',' || *a == ' ')
            a++;
        while (*b == ',' || *b == ' ')
            b++;
        if (ea == a && eb == b && (*a == '\0') != (*b == '\0'))
            return *a == '\0' ? -1 : 1;
    }
    return 0;
}

/* missing, changed, extra; then by key. */
static int diff_cmp(const struct lb_row_diff *a, const struct lb_row_diff *b, int keys_int)
{
    static const int order[3] = {0, 2, 1}; /* by kind_index: m, e, c */
    int ka = order[kind_index(a->kind)], kb = order[kind_index(b->kind)];

    if (ka != kb)
        return ka - kb;
    return keys_int ? key_cmp_int(a->key, b->key) : strcmp(a->key, b->key);
}

/* A stable merge sort: qsort has no way to pass keys_int but a global,
 * and localisation runs on several threads. */
static void sort_diffs(struct lb_row_diff *items, size_t n, int keys_int)
{
    struct lb_row_diff *tmp;
    size_t width, a, b;

    if (n < 2)
        return;
    tmp = lb_xcalloc(n, sizeof(*tmp));
    for (width = 1; width < n; width *= 2) {
        for (a = 0; a < n; a += 2 * width) {
            size_t mid = a + width < n ? a + width : n;
            size_t end = a + 2 * width < n ? a + 2 * width : n;
            size_t i1 = a, i2 = mid, o = a;
            while (i1 < mid && i2 < end)
                tmp[o++] = diff_cmp(&items[i1], &items[i2], keys_int) <= 0 ? items[i1++]
                                                                           : items[i2++];
            while (i1 < mid)
                tmp[o++] = items[i1++];
            while (i2 < end)
                tmp[o++] = items[i2++];
        }
        for (b = 0; b < n; b++)
            items[b] = tmp[b];
    }
    free(tmp);
}

/* Sort by kind and key, keep `samples` per kind, move into the diff. */
static struct lb_table_diff *found_finish(struct found *f, const struct lb_table_detail *d,
                                          const char *method, int samples, int complete,
                                          int64_t unnamed, const char *why)
{
    struct lb_table_diff *diff = lb_xcalloc(1, sizeof(*diff));
    size_t i, kept[3] = {0, 0, 0};

    sort_diffs(f->items, f->n, f->keys_int);
    diff->method = lb_xstrdup(method);
    diff->why = lb_xstrdup(why);
    diff->key_columns = lb_xstrdup(d->key_names);
    diff->group_column = lb_xstrdup(d->group_name);
    diff->complete = complete;
    diff->missing = f->count[0];
    diff->extra = f->count[1];
    diff->changed = f->count[2];
    diff->unnamed = unnamed;
    if (f->count[0] > 0 && !f->missing_group_mixed && f->missing_group != NULL) {
        diff->missing_group = f->missing_group;
        f->missing_group = NULL;
    }
    diff->samples = lb_xcalloc(f->n + 1, sizeof(*diff->samples));
    for (i = 0; i < f->n; i++) {
        int k = kind_index(f->items[i].kind);
        if ((int)kept[k] >= samples)
            continue;
        kept[k]++;
        diff->samples[diff->nsamples] = f->items[i];
        f->items[i].key = NULL;
        f->items[i].group = NULL;
        diff->nsamples++;
    }
    found_free(f);
    return diff;
}

static int row_cmp_key(const void *pa, const void *pb)
{
    const struct vrow *a = pa, *b = pb;
    return strcmp(a->key, b->key);
}

static int localise_rows(struct lb_pg *c, const struct vtable *t,
                         const struct lb_table_detail *before, int samples, int64_t deadline,
                         struct lb_table_diff **out, struct lb_err *err)
{
    struct lb_table_detail *now = vdetail_new(t, VMODE_ROWS);
    struct found f;
    struct vrow *b = NULL;
    size_t i = 0, j = 0;
    int64_t limit;
    int overflow = 0, rc;

    memset(&f, 0, sizeof(f));
    f.keys_int = t->keys_int;
    limit = (int64_t)before->nrows * 4;
    if (limit < LB_VALIDATE_DETAIL_ROWS)
        limit = LB_VALIDATE_DETAIL_ROWS;
    rc = vscan_rows(c, t, limit, deadline, now, &overflow, err);
    if (rc != 0)
        goto out;
    if (overflow) {
        char *why = lb_xasprintf("it holds more than %" PRId64 " rows now, too many to compare "
                                 "row by row with the %zu of the baseline", limit,
                                 before->nrows);
        *out = vdiff_none(why);
        free(why);
        goto out;
    }
    /* The baseline's rows are const: sort a shallow copy. */
    b = lb_xcalloc(before->nrows + 1, sizeof(*b));
    if (before->nrows > 0)
        memcpy(b, before->rows, before->nrows * sizeof(*b));
    qsort(b, before->nrows, sizeof(*b), row_cmp_key);
    qsort(now->rows, now->nrows, sizeof(*now->rows), row_cmp_key);
    while (i < before->nrows || j < now->nrows) {
        int cmp = i >= before->nrows ? 1 : j >= now->nrows ? -1
                                                           : strcmp(b[i].key, now->rows[j].key);
        if (cmp < 0) {
            found_add(&f, 'm', b[i].key, b[i].group);
            i++;
        } else if (cmp > 0) {
            found_add(&f, 'e', now->rows[j].key, now->rows[j].group);
            j++;
        } else {
            if (b[i].h != now->rows[j].h)
                found_add(&f, 'c', b[i].key, b[i].group);
            i++;
            j++;
        }
    }
    *out = found_finish(&f, before, "rows", samples, 1, 0, NULL);
out:
    if (*out == NULL)
        found_free(&f);
    free(b);
    vdetail_free(now);
    return rc;
}

/* A candidate's key as text: its integer columns, ", "-joined. */
static char *elem_key(const struct velem *e, int nkeys)
{
    struct lb_buf b = {0};
    char num[24];
    int i;

    for (i = 0; i < nkeys; i++) {
        vfmt_i64(e->k[i], num);
        if (i > 0)
            lb_buf_adds(&b, ", ");
        lb_buf_adds(&b, num);
    }
    return lb_buf_steal(&b);
}

/* Keep the candidates whose check sum is the server's second hash of
 * their hash: an impure cell that happens to look like one row does not
 * pass. Returns the number dropped. */
static int verify_checks(struct lb_pg *c, struct velem *e, size_t *n, int64_t deadline,
                         size_t *dropped, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    const char *params[1];
    char *arr;
    size_t i, kept = 0;
    int rc;

    *dropped = 0;
    if (*n == 0)
        return 0;
    arr = varray_literal(&e[0].h, *n, sizeof(*e) / sizeof(uint64_t));
    params[0] = arr;
    rc = lb_pg_query(c,
                     "SELECT pg_catalog.hashint8extended(u.x, 1)::pg_catalog.text"
                     " FROM pg_catalog.unnest($1::pg_catalog.int8[]) WITH ORDINALITY AS u(x, i)"
                     " ORDER BY u.i",
                     1, params, deadline, &r, err);
    free(arr);
    if (rc != 0)
        return rc;
    if ((size_t)r.nrows != *n) {
        lb_pg_result_free(&r);
        return lb_err_set(err, LB_EDB, "unexpected check result");
    }
    for (i = 0; i < *n; i++) {
        uint64_t chk;
        if (vparse_u64(lb_pg_value(&r, (int)i, 0), &chk) == 0 && chk == e[i].chk)
            e[kept++] = e[i];
        else
            (*dropped)++;
    }
    *n = kept;
    lb_pg_result_free(&r);
    return 0;
}

/* The rows the table holds now for these candidate keys: key text, hash, group. */
static int lookup_keys(struct lb_pg *c, const struct vtable *t, const struct velem *e,
                       size_t n, int64_t deadline, struct lb_pg_result *r, struct lb_err *err)
{
    struct lb_buf sql = {0};
    const char *params[VMAX_KEYS];
    char *arrays[VMAX_KEYS];
    int i, rc;

    memset(arrays, 0, sizeof(arrays));
    lb_buf_printf(&sql, "SELECT (%s)::pg_catalog.text", t->hash);
    for (i = 0; i < t->nkeys; i++)
        lb_buf_printf(&sql, ", %s::pg_catalog.text", t->key_sql[i]);
    if (t->group_sql != NULL)
        lb_buf_printf(&sql, ", %s::pg_catalog.text", t->group_sql);
    lb_buf_printf(&sql, " FROM %s WHERE (", t->from);
    for (i = 0; i < t->nkeys; i++)
        lb_buf_printf(&sql, "%s%s", i > 0 ? ", " : "", t->key_sql[i]);
    lb_buf_adds(&sql, ") IN (SELECT * FROM ROWS FROM (");
    for (i = 0; i < t->nkeys; i++) {
        arrays[i] = varray_literal(&e[0].k[i], n, sizeof(*e) / sizeof(uint64_t));
        params[i] = arrays[i];
        lb_buf_printf(&sql, "%spg_catalog.unnest($%d::pg_catalog.int8[])", i > 0 ? ", " : "",
                      i + 1);
    }
    lb_buf_adds(&sql, "))");
    rc = lb_pg_query(c, sql.data, t->nkeys, params, deadline, r, err);
    for (i = 0; i < t->nkeys; i++)
        free(arrays[i]);
    lb_buf_free(&sql);
    return rc;
}

/* The rows the table holds now whose hash is one of these (a full scan). */
static int lookup_hashes(struct lb_pg *c, const struct vtable *t, const struct velem *e,
                         size_t n, int64_t deadline, struct lb_pg_result *r, struct lb_err *err)
{
    struct lb_buf sql = {0};
    const char *params[1];
    char *arr = varray_literal(&e[0].h, n, sizeof(*e) / sizeof(uint64_t));
    int i, rc;

    lb_buf_printf(&sql, "SELECT s.h::pg_catalog.text");
    for (i = 0; i < t->nkeys; i++)
        lb_buf_printf(&sql, ", s.k%d", i);
    if (t->group_sql != NULL)
        lb_buf_adds(&sql, ", s.g");
    lb_buf_printf(&sql, " FROM (SELECT %s AS h", t->hash);
    for (i = 0; i < t->nkeys; i++)
        lb_buf_printf(&sql, ", %s::pg_catalog.text AS k%d", t->key_sql[i], i);
    if (t->group_sql != NULL)
        lb_buf_printf(&sql, ", %s::pg_catalog.text AS g", t->group_sql);
    lb_buf_printf(&sql, " FROM %s OFFSET 0) s WHERE s.h = ANY ($1::pg_catalog.int8[])",
                  t->from);
    params[0] = arr;
    rc = lb_pg_query(c, sql.data, 1, params, deadline, r, err);
    free(arr);
    lb_buf_free(&sql);
    return rc;
}

static int localise_sketch(struct lb_pg *c, const struct vtable *t,
                           const struct lb_table_detail *before, const struct vcell *now_cells,
                           int samples, int64_t deadline, struct lb_table_diff **out,
                           struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct velem *e = NULL;
    struct found f;
    size_t n = 0, undecoded, dropped = 0, i;
    int64_t unnamed = 0;
    char *why = NULL;
    int nk = before->keys_int ? before->nkeys : 0;
    int rc, complete;

    memset(&f, 0, sizeof(f));
    f.keys_int = before->keys_int;
    undecoded = vsketch_decode(before->cells, now_cells, nk, &e, &n);
    rc = verify_checks(c, e, &n, deadline, &dropped, err);
    if (rc != 0)
        goto out;
    undecoded += dropped;

    if (nk > 0 && n > 0) {
        /* Integer keys: every candidate names its key; what the table holds
         * under that key now tells missing from changed, and proves the
         * rows that are new. */
        struct vrow *rows_now, *minus;
        size_t nminus = 0;
        int k;

        rc = lookup_keys(c, t, e, n, deadline, &r, err);
        if (rc != 0)
            goto out;
        rows_now = lb_xcalloc((size_t)r.nrows + 1, sizeof(*rows_now));
        for (k = 0; k < r.nrows; k++) {
            vparse_u64(lb_pg_value(&r, k, 0), &rows_now[k].h);
            rows_now[k].key = vjoin_row(&r, k, 1, 1 + t->nkeys);
            rows_now[k].group = (char *)(t->group_sql != NULL
                                             ? lb_pg_value(&r, k, 1 + t->nkeys) : NULL);
        }
        qsort(rows_now, (size_t)r.nrows, sizeof(*rows_now), row_cmp_key);
        minus = lb_xcalloc(n, sizeof(*minus));
        for (i = 0; i < n; i++)
            if (e[i].sign < 0)
                minus[nminus++].key = elem_key(&e[i], nk);
        qsort(minus, nminus, sizeof(*minus), row_cmp_key);
        for (i = 0; i < n; i++) {
            struct vrow probe = {0}, *now_row, *pair;
            char grp[24];

            probe.key = elem_key(&e[i], nk);
            now_row = bsearch(&probe, rows_now, (size_t)r.nrows, sizeof(*rows_now),
                              row_cmp_key);
            vfmt_i64(e[i].g, grp);
            if (e[i].sign < 0) {
                /* In the baseline: gone now, or there under other content. */
                if (now_row == NULL)
                    found_add(&f, 'm', probe.key, before->group_int ? grp : NULL);
                else if (now_row->h != e[i].h)
                    found_add(&f, 'c', probe.key, before->group_int ? grp : NULL);
                else
                    undecoded++; /* the baseline's row is there unchanged: no lone row */
            } else {
                pair = bsearch(&probe, minus, nminus, sizeof(*minus), row_cmp_key);
                if (now_row == NULL || now_row->h != e[i].h)
                    undecoded++; /* not what the table holds: no lone row */
                else if (pair == NULL)
                    found_add(&f, 'e', probe.key, now_row->group);
                /* else: changed, counted with its old version */
            }
            free(probe.key);
        }
        for (k = 0; k < r.nrows; k++)
            free(rows_now[k].key);
        for (i = 0; i < nminus; i++)
            free(minus[i].key);
        free(rows_now);
        free(minus);
    } else if (n > 0) {
        /* Keys that are not integers are not in the sketch: rows new now
         * are found by their hash; rows gone can only be counted. */
        struct velem *plus = lb_xcalloc(n, sizeof(*plus));
        size_t np = 0;
        for (i = 0; i < n; i++) {
            if (e[i].sign > 0 && np < (size_t)samples * 4)
                plus[np++] = e[i];
            else if (e[i].sign < 0)
                unnamed++;
            else
                unnamed++;
        }
        if (np > 0) {
            rc = lookup_hashes(c, t, plus, np, deadline, &r, err);
            if (rc == 0) {
                int k;
                for (k = 0; k < r.nrows; k++) {
                    char *key = vjoin_row(&r, k, 1, 1 + t->nkeys);
                    found_add(&f, 'e', key,
                              t->group_sql != NULL ? lb_pg_value(&r, k, 1 + t->nkeys) : NULL);
                    free(key);
                }
                unnamed += (int64_t)np - r.nrows;
            }
        }
        free(plus);
        if (rc != 0)
            goto out;
    }
    complete = undecoded == 0 && unnamed == 0;
    if (undecoded > 0)
        why = lb_xasprintf("%zu of the baseline's %d sketch cells hold more than one "
                           "difference: rows there cannot be named", undecoded, VSKETCH_CELLS);
    else if (unnamed > 0)
        why = lb_xasprintf("the key (%s) is not made of integers: the sketch names rows "
                           "that are new now, and only counts the others", before->key_names);
    *out = found_finish(&f, before, "sketch", samples, complete, unnamed, why);
out:
    if (*out == NULL)
        found_free(&f);
    lb_pg_result_free(&r);
    free(e);
    free(why);
    return rc;
}

int vlocalise(struct lb_pg *c, const struct vtable *now, const struct lb_table_detail *before,
              const struct vcell *now_cells, int samples, int64_t deadline,
              struct lb_table_diff **out, struct lb_err *err)
{
    struct lb_buf names = {0};
    int i, same;

    *out = NULL;
    if (samples <= 0)
        samples = LB_VALIDATE_SAMPLES;
    for (i = 0; i < now->nkeys; i++)
        lb_buf_printf(&names, "%s%s", i > 0 ? ", " : "", now->key_names[i]);
    same = now->nkeys > 0 && strcmp(names.data, before->key_names) == 0;
    lb_buf_free(&names);
    if (!same) {
        char *why = lb_xasprintf("its primary key (%s in the baseline) is %s now: rows cannot "
                                 "be matched by key", before->key_names,
                                 now->nkeys > 0 ? "another" : "gone");
        *out = vdiff_none(why);
        free(why);
        return 0;
    }
    if (before->mode == VMODE_ROWS)
        return localise_rows(c, now, before, samples, deadline, out, err);
    if (now->keys_int != before->keys_int || now->group_int != before->group_int ||
        now_cells == NULL) {
        *out = vdiff_none("its key or grouping column changed type since the baseline");
        return 0;
    }
    return localise_sketch(c, now, before, now_cells, samples, deadline, out, err);
}
