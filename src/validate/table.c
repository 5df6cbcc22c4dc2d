/*
 * validate/table: the fingerprint of one table, through one connection,
 * inside a snapshot the caller opened. Kept to one table so that a caller
 * can spread tables over several connections sharing one snapshot.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "validate_int.h"

/* The table's identity, size, keys and schema fingerprint in one row. The
 * canonical text lists columns in order, then constraints, indexes and
 * user triggers sorted; search_path = pg_catalog (lb_validate_begin) makes
 * every name in it schema-qualified whatever the caller's search_path. */
static const char TABLE_SQL[] =
    "SELECT c.oid::pg_catalog.text, c.relkind::pg_catalog.text,"
    " COALESCE(pg_catalog.pg_table_size(c.oid), 0)::pg_catalog.text,"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k"
    "         WHERE k.conrelid = c.oid AND k.contype = 'p')::pg_catalog.int4::pg_catalog.text,"
    " (SELECT pg_catalog.count(*) FROM pg_catalog.pg_constraint k"
    "  WHERE k.conrelid = c.oid AND k.contype = 'f')::pg_catalog.text,"
    " pg_catalog.md5(pg_catalog.concat_ws(E'\\n',"
    "  'columns:',"
    "  (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ',"
    "      pg_catalog.quote_ident(a.attname::pg_catalog.text),"
    "      pg_catalog.format_type(a.atttypid, a.atttypmod),"
    "      CASE WHEN a.attnotnull THEN 'not null' END,"
    "      'default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid)), E'\\n' ORDER BY a.attnum)"
    "   FROM pg_catalog.pg_attribute a"
    "   LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),"
    "  'constraints:',"
    "  (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k.conname::pg_catalog.text)"
    "      || ' ' || pg_catalog.pg_get_constraintdef(k.oid), E'\\n'"
    "      ORDER BY k.conname, pg_catalog.pg_get_constraintdef(k.oid))"
    "   FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid),"
    "  'indexes:',"
    "  (SELECT pg_catalog.string_agg(s.def, E'\\n' ORDER BY s.def)"
    "   FROM (SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS def"
    "         FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) s),"
    "  'triggers:',"
    "  (SELECT pg_catalog.string_agg(s.def, E'\\n' ORDER BY s.def)"
    "   FROM (SELECT pg_catalog.pg_get_triggerdef(g.oid) AS def"
    "         FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal) s))),"
    " (COALESCE(pg_catalog.pg_relation_size(c.oid, 'main'), 0)"
    "  / pg_catalog.current_setting('block_size')::pg_catalog.int8)::pg_catalog.text,"
    " c.reltuples::pg_catalog.text"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = $1 AND c.relname = $2";

/*
 * Columns in order, each with whether its type can be hashed at all, and
 * how.
 *
 * hashable mirrors the server's type cache: a domain hashes as its base
 * type, an array (without a hash opclass of its own) and a range or
 * multirange as their element type; the leaf must be a base or enum type
 * with a default hash opclass that has an extended hash function (support
 * proc 2) for the type itself, for a type it is binary-coercible to, or for
 * anyenum. Composites are never trusted (the server checks their fields
 * lazily). A wrong "no" only costs a cast to text; a wrong "yes" would fail
 * the scan.
 *
 * proc/argtype: the extended hash function of the column's own default
 * hash opclass when SQL can call it on the column directly (its argument
 * is the column's type, a type it is binary-coercible to, or polymorphic:
 * argtype NULL). date (hashint4extended takes int4), timestamptz, bool,
 * bytea, ... get none: they go through hash_record_extended, except
 * timestamptz (see build_hash). Last: the column's type without domains.
 */
static const char COLUMNS_SQL[] =
    "WITH RECURSIVE u(attnum, t, depth) AS ("
    "  SELECT a.attnum, a.atttypid, 0 FROM pg_catalog.pg_attribute a"
    "  WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped"
    " UNION ALL"
    "  SELECT u.attnum, CASE y.typtype"
    "      WHEN 'd' THEN y.typbasetype"
    "      WHEN 'r' THEN (SELECT g.rngsubtype FROM pg_catalog.pg_range g WHERE g.rngtypid = y.oid)"
    "      WHEN 'm' THEN (SELECT g.rngsubtype FROM pg_catalog.pg_range g"
    "                     WHERE g.rngmultitypid = y.oid)"
    "      ELSE y.typelem END, u.depth + 1"
    "  FROM u JOIN pg_catalog.pg_type y ON y.oid = u.t"
    "  WHERE u.depth < 32 AND (y.typtype IN ('d', 'r', 'm')"
    "     OR (y.typelem <> 0"
    "         AND y.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc"
    "         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_opclass oc"
    "                         JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod"
    "                         WHERE am.amname = 'hash' AND oc.opcdefault"
    "                           AND oc.opcintype = y.oid)))"
    "), leaf AS ("
    "  SELECT DISTINCT ON (attnum) attnum, t FROM u ORDER BY attnum, depth DESC"
    "), base AS ("
    "  SELECT DISTINCT ON (u.attnum) u.attnum, u.t FROM u"
    "  JOIN pg_catalog.pg_type y ON y.oid = u.t WHERE y.typtype <> 'd'"
    "  ORDER BY u.attnum, u.depth"
    ")"
    " SELECT a.attname::pg_catalog.text,"
    "  (y.typtype IN ('b', 'e') AND EXISTS ("
    "    SELECT 1 FROM pg_catalog.pg_opclass oc"
    "    JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod"
    "    JOIN pg_catalog.pg_amproc p ON p.amprocfamily = oc.opcfamily"
    "      AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype"
    "      AND p.amprocnum = 2"
    "    WHERE am.amname = 'hash' AND oc.opcdefault"
    "      AND (oc.opcintype = y.oid"
    "        OR (y.typtype = 'e' AND oc.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype)"
    "        OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k"
    "                   WHERE k.castsource = y.oid AND k.casttarget = oc.opcintype"
    "                     AND k.castmethod = 'b' AND k.castcontext = 'i'))"
    "  ))::pg_catalog.int4::pg_catalog.text,"
    "  hp.proc, hp.argtype, a.attnotnull::pg_catalog.int4::pg_catalog.text,"
    "  b.t::pg_catalog.text"
    " FROM pg_catalog.pg_attribute a"
    " JOIN leaf l ON l.attnum = a.attnum"
    " JOIN pg_catalog.pg_type y ON y.oid = l.t"
    " LEFT JOIN base b ON b.attnum = a.attnum"
    " LEFT JOIN LATERAL ("
    "  SELECT p.amproc::pg_catalog.regproc::pg_catalog.text AS proc,"
    "   CASE WHEN at.typtype = 'p' THEN NULL"
    "        ELSE pg_catalog.format_type(at.oid, NULL) END AS argtype"
    "  FROM pg_catalog.pg_type bt, pg_catalog.pg_opclass oc"
    "  JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod"
    "  JOIN pg_catalog.pg_amproc p ON p.amprocfamily = oc.opcfamily"
    "    AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype"
    "    AND p.amprocnum = 2"
    "  JOIN pg_catalog.pg_proc pr ON pr.oid = p.amproc"
    "  JOIN pg_catalog.pg_type at ON at.oid = pr.proargtypes[0]"
    "  WHERE bt.oid = b.t AND am.amname = 'hash' AND oc.opcdefault"
    "    AND (oc.opcintype = bt.oid"
    "      OR (bt.typtype = 'e' AND oc.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype)"
    "      OR (bt.typtype = 'r' AND oc.opcintype = 'pg_catalog.anyrange'::pg_catalog.regtype)"
    "      OR (bt.typtype = 'm'"
    "          AND oc.opcintype = 'pg_catalog.anymultirange'::pg_catalog.regtype)"
    "      OR (bt.typelem <> 0"
    "          AND bt.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc"
    "          AND oc.opcintype = 'pg_catalog.anyarray'::pg_catalog.regtype)"
    "      OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k"
    "                 WHERE k.castsource = bt.oid AND k.casttarget = oc.opcintype"
    "                   AND k.castmethod = 'b' AND k.castcontext = 'i'))"
    "    AND (at.oid = bt.oid"
    "      OR (at.typtype = 'p' AND at.typname::pg_catalog.text LIKE 'any%')"
    "      OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k"
    "                 WHERE k.castsource = bt.oid AND k.casttarget = at.oid"
    "                   AND k.castmethod = 'b'))"
    "  ORDER BY (oc.opcintype = bt.oid) DESC LIMIT 1) hp ON true"
    " WHERE a.attrelid = $1::pg_catalog.oid"
    " ORDER BY a.attnum";

/*
 * Primary key columns in key order ('k'), then the grouping column ('g'):
 * the column of the first single-column foreign key that is not part of
 * the primary key, NOT NULL ones first. Third value: the column is an
 * integer (int2/int4/int8, or a domain over one); fourth: NOT NULL.
 */
static const char KEYS_SQL[] =
    "SELECT s.kind, s.name, s.isint, s.notnull FROM ("
    " SELECT 'k'::pg_catalog.text AS kind, a.attname::pg_catalog.text AS name,"
    "  (COALESCE(NULLIF(y.typbasetype, 0), y.oid) IN (20, 21, 23))"
    "   ::pg_catalog.int4::pg_catalog.text AS isint,"
    "  a.attnotnull::pg_catalog.int4::pg_catalog.text AS notnull, k.ord AS ord"
    " FROM pg_catalog.pg_constraint c"
    " CROSS JOIN LATERAL pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
    " JOIN pg_catalog.pg_type y ON y.oid = a.atttypid"
    " WHERE c.conrelid = $1::pg_catalog.oid AND c.contype = 'p'"
    " UNION ALL"
    " (SELECT 'g', a.attname::pg_catalog.text,"
    "  (COALESCE(NULLIF(y.typbasetype, 0), y.oid) IN (20, 21, 23))"
    "   ::pg_catalog.int4::pg_catalog.text,"
    "  a.attnotnull::pg_catalog.int4::pg_catalog.text, 0"
    " FROM pg_catalog.pg_constraint c"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
    " JOIN pg_catalog.pg_type y ON y.oid = a.atttypid"
    " WHERE c.conrelid = $1::pg_catalog.oid AND c.contype = 'f'"
    "   AND pg_catalog.array_length(c.conkey, 1) = 1"
    "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p"
    "                   WHERE p.conrelid = c.conrelid AND p.contype = 'p'"
    "                     AND c.conkey[1] = ANY (p.conkey))"
    " ORDER BY a.attnotnull DESC, a.attnum, c.conname LIMIT 1)"
    ") s ORDER BY s.kind DESC, s.ord";

void lb_table_fp_clear(struct lb_table_fp *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t->fingerprint);
    free(t->schema_fp);
    vdetail_free(t->detail);
    lb_table_diff_free(t->diff);
    memset(t, 0, sizeof(*t));
}

int vparse_u64(const char *decimal, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = decimal;
    int neg = 0;

    *out = 0;
    if (p == NULL || *p == '\0')
        return 0; /* SQL NULL: an empty sum */
    if (*p == '-') {
        neg = 1;
        p++;
        if (*p == '\0')
            return LB_EINVAL;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return LB_EINVAL;
        /* Unsigned arithmetic wraps: exactly the value modulo 2^64. */
        v = v * 10u + (uint64_t)(*p - '0');
    }
    *out = neg ? (uint64_t)0 - v : v;
    return 0;
}

void vfmt_i64(uint64_t v, char out[24])
{
    int64_t s;

    memcpy(&s, &v, sizeof(s));
    snprintf(out, 24, "%" PRId64, s);
}

int lb_validate_fold_sum(const char *decimal, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v;
    int i;

    out[0] = '\0';
    if (vparse_u64(decimal, &v) != 0)
        return LB_EINVAL;
    for (i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xfu];
        v >>= 4;
    }
    out[16] = '\0';
    return 0;
}

/* A constant per column position that stands for its NULL (splitmix64). */
static int64_t null_const(int i)
{
    uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15u + 0x632be59bd9b4e019u;
    int64_t s;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    memcpy(&s, &z, sizeof(s));
    return s;
}

/* The row hash expression over alias lb_t (see lb_validate_table). */
static char *build_hash(struct lb_pg *c, const char *name, const struct lb_pg_result *cols,
                        struct lb_err *err)
{
    struct lb_buf terms = {0}, row = {0};
    int i, nterms = 0;

    for (i = 0; i < cols->nrows; i++) {
        const char *hashable = lb_pg_value(cols, i, 1);
        const char *proc = lb_pg_value(cols, i, 2);
        const char *argtype = lb_pg_value(cols, i, 3);
        const char *notnull = lb_pg_value(cols, i, 4);
        const char *base = lb_pg_value(cols, i, 5);
        int can_hash = hashable != NULL && strcmp(hashable, "1") == 0;
        char *q = lb_pg_quote_ident(c, lb_pg_value(cols, i, 0), 0);

        if (q == NULL) {
            lb_buf_free(&terms);
            lb_buf_free(&row);
            lb_err_set(err, LB_EDB, "cannot quote a column name of %s", name);
            return NULL;
        }
        /* timestamptz hashes with timestamp's function (the opclass does
         * the same): the cast keeps the value exactly, because the
         * snapshot pins TimeZone to UTC. A third of the price of building
         * a record for it, and it is in nearly every table. */
        if (can_hash && base != NULL && strcmp(base, "1184") == 0) {
            proc = "pg_catalog.timestamp_hash_extended";
            argtype = "pg_catalog.timestamp";
        }
        if (can_hash && proc != NULL) {
            int nn = notnull != NULL && strcmp(notnull, "1") == 0;
            if (nterms++ > 0)
                lb_buf_adds(&terms, " # ");
            if (!nn)
                lb_buf_adds(&terms, "COALESCE(");
            /* proc is regproc's text: quoted and qualified where needed. */
            lb_buf_printf(&terms, "%s(lb_t.%s%s%s, %d)", proc, q, argtype ? "::" : "",
                          argtype ? argtype : "", i + 1);
            if (!nn)
                lb_buf_printf(&terms, ", %" PRId64 ")", null_const(i + 1));
        } else {
            lb_buf_printf(&row, "%slb_t.%s%s", row.len > 0 ? ", " : "", q,
                          can_hash ? "" : "::pg_catalog.text");
        }
        free(q);
    }
    if (row.len > 0) {
        if (nterms++ > 0)
            lb_buf_adds(&terms, " # ");
        lb_buf_printf(&terms, "pg_catalog.hash_record_extended(ROW(%s), 0)", row.data);
    }
    if (nterms == 0)
        lb_buf_adds(&terms, "0::pg_catalog.int8");
    lb_buf_free(&row);
    {
        char *expr = lb_xasprintf("pg_catalog.hashint8extended(%s, 0)", terms.data);
        lb_buf_free(&terms);
        return expr;
    }
}

void vtable_free(struct vtable *t)
{
    int i;

    if (t == NULL)
        return;
    free(t->schema);
    free(t->table);
    free(t->name);
    free(t->oid);
    free(t->schema_fp);
    free(t->from);
    free(t->hash);
    for (i = 0; i < t->nkeys; i++) {
        free(t->key_names[i]);
        free(t->key_sql[i]);
    }
    free(t->group_name);
    free(t->group_sql);
    vdetail_free(t->detail);
    memset(t, 0, sizeof(*t));
}

static int load_keys(struct lb_pg *c, struct vtable *t, int64_t deadline, struct lb_err *err)
{
    struct lb_pg_result r = {0};
    const char *params[1];
    int rc, i;

    params[0] = t->oid;
    rc = lb_pg_query(c, KEYS_SQL, 1, params, deadline, &r, err);
    if (rc != 0)
        return rc;
    t->keys_int = 1;
    for (i = 0; i < r.nrows; i++) {
        const char *kind = lb_pg_value(&r, i, 0);
        const char *col = lb_pg_value(&r, i, 1);
        int isint = lb_pg_value(&r, i, 2) != NULL && strcmp(lb_pg_value(&r, i, 2), "1") == 0;
        int nn = lb_pg_value(&r, i, 3) != NULL && strcmp(lb_pg_value(&r, i, 3), "1") == 0;
        char *q = lb_pg_quote_ident(c, col, 0);

        if (q == NULL) {
            rc = lb_err_set(err, LB_EDB, "cannot quote a column name of %s", t->name);
            break;
        }
        if (kind != NULL && kind[0] == 'k') {
            if (t->nkeys == VMAX_KEYS) {
                /* Too wide to name keys by: no localisation. */
                t->nkeys = -1;
            } else if (t->nkeys >= 0) {
                t->key_names[t->nkeys] = lb_xstrdup(col);
                t->key_sql[t->nkeys] = lb_xasprintf("lb_t.%s", q);
                t->nkeys++;
                if (!isint)
                    t->keys_int = 0;
            }
        } else if (t->group_name == NULL) {
            t->group_name = lb_xstrdup(col);
            t->group_sql = lb_xasprintf("lb_t.%s", q);
            t->group_int = isint && nn;
        }
        free(q);
    }
    if (t->nkeys < 0) {
        for (i = 0; i < VMAX_KEYS; i++) {
            free(t->key_names[i]);
            free(t->key_sql[i]);
            t->key_names[i] = t->key_sql[i] = NULL;
        }
        t->nkeys = 0;
    }
    if (t->nkeys == 0)
        t->keys_int = 0;
    lb_pg_result_free(&r);
    return rc;
}

int vtable_prepare(struct lb_pg *c, struct vtable *t, int64_t deadline, struct lb_err *err)
{
    struct lb_pg_result info = {0}, cols = {0};
    const char *params[2];
    char *qs = NULL, *qt = NULL;
    const char *relkind;
    int64_t n;
    int rc;

    t->exists = 0;
    if (t->schema == NULL)
        return 0;
    params[0] = t->schema;
    params[1] = t->table;
    rc = lb_pg_query(c, TABLE_SQL, 2, params, deadline, &info, err);
    if (rc != 0)
        goto out;
    if (info.nrows == 0)
        goto out; /* missing */
    t->exists = 1;
    t->oid = lb_xstrdup(lb_pg_value(&info, 0, 0));
    relkind = lb_pg_value(&info, 0, 1);
    t->relkind = relkind != NULL ? relkind[0] : 'r';
    if (lb_parse_int64(lb_pg_value(&info, 0, 2), &t->bytes) != 0)
        t->bytes = 0;
    t->has_pk = lb_pg_value(&info, 0, 3) != NULL && strcmp(lb_pg_value(&info, 0, 3), "1") == 0;
    if (lb_parse_int64(lb_pg_value(&info, 0, 4), &n) == 0)
        t->nfks = (int)n;
    t->schema_fp = lb_xstrdup(lb_pg_value(&info, 0, 5));
    if (lb_parse_int64(lb_pg_value(&info, 0, 6), &t->blocks) != 0)
        t->blocks = 0;
    t->est_rows = lb_pg_value(&info, 0, 7) != NULL ? strtod(lb_pg_value(&info, 0, 7), NULL) : -1;

    params[0] = t->oid;
    rc = lb_pg_query(c, COLUMNS_SQL, 1, params, deadline, &cols, err);
    if (rc != 0)
        goto out;
    qs = lb_pg_quote_ident(c, t->schema, 0);
    qt = lb_pg_quote_ident(c, t->table, 0);
    if (qs == NULL || qt == NULL) {
        rc = lb_err_set(err, LB_EDB, "cannot quote the name %s", t->name);
        goto out;
    }
    /* ONLY: an inheritance parent counts its own rows, its children count
     * theirs; a partitioned table has none of its own, so it counts all. */
    t->from = lb_xasprintf("%s%s.%s AS lb_t", t->relkind != 'p' ? "ONLY " : "", qs, qt);
    t->hash = build_hash(c, t->name, &cols, err);
    if (t->hash == NULL) {
        rc = LB_EDB;
        goto out;
    }
    rc = load_keys(c, t, deadline, err);

out:
    lb_pg_result_free(&info);
    lb_pg_result_free(&cols);
    free(qs);
    free(qt);
    return rc;
}

int lb_validate_table(struct lb_pg *c, const char *schema, const char *table,
                      int fingerprint, int64_t deadline_ms,
                      struct lb_table_fp *out, struct lb_err *err)
{
    struct vtable t;
    char fp[17], sum[24];
    int rc;

    if (c == NULL || schema == NULL || table == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "validate table: missing argument");
    if (deadline_ms <= 0)
        deadline_ms = LB_NO_DEADLINE;
    memset(out, 0, sizeof(*out));
    memset(&t, 0, sizeof(t));
    t.schema = lb_xstrdup(schema);
    t.table = lb_xstrdup(table);
    t.name = lb_xasprintf("%s.%s", schema, table);
    out->name = lb_xstrdup(t.name);
    out->rows = -1;

    rc = vtable_prepare(c, &t, deadline_ms, err);
    if (rc != 0 || !t.exists)
        goto out;
    out->bytes = t.bytes;
    out->has_pk = t.has_pk;
    out->nfks = t.nfks;
    out->schema_fp = lb_xstrdup(t.schema_fp);
    t.count_only = !fingerprint;
    rc = vscan_plain(c, &t, -1, -1, deadline_ms, &out->rows, &t.sum, err);
    if (rc != 0)
        goto out;
    if (fingerprint) {
        vfmt_i64(t.sum, sum);
        lb_validate_fold_sum(sum, fp);
        out->fingerprint = lb_xstrdup(fp);
    }

out:
    if (rc != 0) {
        if (out->name != NULL)
            lb_err_prefix(err, "fingerprint %s", out->name);
        lb_table_fp_clear(out);
    }
    vtable_free(&t);
    return rc;
}
