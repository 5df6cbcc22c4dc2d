/*
 * validate/table: the fingerprint of one table, through one connection,
 * inside a snapshot the caller opened. Kept to one table so that a caller
 * can spread tables over several connections sharing one snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "lifeboat/validate.h"

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
    "         FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal) s)))"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = $1 AND c.relname = $2";

/*
 * Columns in order, each with whether hash_record_extended can hash it.
 * Mirrors the server's type cache: a domain hashes as its base type, an
 * array (without a hash opclass of its own) and a range or multirange as
 * their element type; the leaf must be a base or enum type with a default
 * hash opclass that has an extended hash function (support proc 2) for the
 * type itself, for a type it is binary-coercible to, or for anyenum.
 * Composites are never trusted (the server checks their fields lazily).
 * A wrong "no" only costs a cast to text; a wrong "yes" would fail the scan.
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
    "  ))::pg_catalog.int4::pg_catalog.text"
    " FROM pg_catalog.pg_attribute a"
    " JOIN leaf l ON l.attnum = a.attnum"
    " JOIN pg_catalog.pg_type y ON y.oid = l.t"
    " WHERE a.attrelid = $1::pg_catalog.oid"
    " ORDER BY a.attnum";

void lb_table_fp_clear(struct lb_table_fp *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t->fingerprint);
    free(t->schema_fp);
    memset(t, 0, sizeof(*t));
}

int lb_validate_fold_sum(const char *decimal, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = 0;
    const char *p = decimal;
    int neg = 0, i;

    out[0] = '\0';
    if (p != NULL && *p == '-') {
        neg = 1;
        p++;
    }
    if (p != NULL && *p == '\0' && neg)
        return LB_EINVAL;
    for (; p != NULL && *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return LB_EINVAL;
        /* Unsigned arithmetic wraps: exactly the sum modulo 2^64. */
        v = v * 10u + (uint64_t)(*p - '0');
    }
    if (neg)
        v = (uint64_t)0 - v;
    for (i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xfu];
        v >>= 4;
    }
    out[16] = '\0';
    return 0;
}

/* The count (and fingerprint) query for one table. Caller frees. */
static char *build_scan_sql(struct lb_pg *c, const char *qualified, int only,
                            const struct lb_pg_result *cols, struct lb_err *err)
{
    struct lb_buf b = {0};
    char *q = NULL;
    int i;

    lb_buf_adds(&b, "SELECT pg_catalog.count(*)::pg_catalog.text");
    if (cols != NULL) {
        lb_buf_adds(&b, ", pg_catalog.sum(pg_catalog.hashint8extended("
                        "pg_catalog.hash_record_extended(ROW(");
        for (i = 0; i < cols->nrows; i++) {
            const char *hashable = lb_pg_value(cols, i, 1);
            q = lb_pg_quote_ident(c, lb_pg_value(cols, i, 0), 0);
            if (q == NULL) {
                lb_buf_free(&b);
                lb_err_set(err, LB_EDB, "cannot quote column name of %s", qualified);
                return NULL;
            }
            if (i > 0)
                lb_buf_adds(&b, ", ");
            lb_buf_printf(&b, "lb_t.%s", q);
            if (hashable == NULL || strcmp(hashable, "1") != 0)
                lb_buf_adds(&b, "::pg_catalog.text");
            free(q);
        }
        lb_buf_adds(&b, "), 0), 0))::pg_catalog.text");
    }
    lb_buf_printf(&b, " FROM %s%s AS lb_t", only ? "ONLY " : "", qualified);
    return lb_buf_steal(&b);
}

int lb_validate_table(struct lb_pg *c, const char *schema, const char *table,
                      int fingerprint, int64_t deadline_ms,
                      struct lb_table_fp *out, struct lb_err *err)
{
    struct lb_pg_result info = {0}, cols = {0}, scan = {0};
    const char *params[2];
    char *qs = NULL, *qt = NULL, *qualified = NULL, *sql = NULL;
    const char *relkind, *v;
    char fp[17];
    int64_t n;
    int rc;

    if (c == NULL || schema == NULL || table == NULL || out == NULL)
        return lb_err_set(err, LB_EINVAL, "validate table: missing argument");
    if (deadline_ms <= 0)
        deadline_ms = LB_NO_DEADLINE;
    memset(out, 0, sizeof(*out));
    out->name = lb_xasprintf("%s.%s", schema, table);
    out->rows = -1;

    params[0] = schema;
    params[1] = table;
    rc = lb_pg_query(c, TABLE_SQL, 2, params, deadline_ms, &info, err);
    if (rc != 0)
        goto out;
    if (info.nrows == 0)
        goto out; /* missing: rows = -1, no fingerprints */
    relkind = lb_pg_value(&info, 0, 1);
    if (lb_parse_int64(lb_pg_value(&info, 0, 2), &out->bytes) != 0)
        out->bytes = 0;
    v = lb_pg_value(&info, 0, 3);
    out->has_pk = v != NULL && strcmp(v, "1") == 0;
    if (lb_parse_int64(lb_pg_value(&info, 0, 4), &n) == 0)
        out->nfks = (int)n;
    out->schema_fp = lb_xstrdup(lb_pg_value(&info, 0, 5));

    if (fingerprint) {
        params[0] = lb_pg_value(&info, 0, 0);
        rc = lb_pg_query(c, COLUMNS_SQL, 1, params, deadline_ms, &cols, err);
        if (rc != 0)
            goto out;
    }
    qs = lb_pg_quote_ident(c, schema, 0);
    qt = lb_pg_quote_ident(c, table, 0);
    if (qs == NULL || qt == NULL) {
        rc = lb_err_set(err, LB_EDB, "cannot quote the name %s", out->name);
        goto out;
    }
    qualified = lb_xasprintf("%s.%s", qs, qt);
    /* ONLY: an inheritance parent counts its own rows, its children count
     * theirs; a partitioned table has none of its own, so it counts all. */
    sql = build_scan_sql(c, qualified, relkind != NULL && strcmp(relkind, "p") != 0,
                         fingerprint ? &cols : NULL, err);
    if (sql == NULL) {
        rc = LB_EDB;
        goto out;
    }
    rc = lb_pg_query(c, sql, 0, NULL, deadline_ms, &scan, err);
    if (rc != 0)
        goto out;
    if (scan.nrows != 1 || lb_parse_int64(lb_pg_value(&scan, 0, 0), &out->rows) != 0) {
        rc = lb_err_set(err, LB_EDB, "unexpected count result");
        goto out;
    }
    if (fingerprint) {
        if (lb_validate_fold_sum(lb_pg_value(&scan, 0, 1), fp) != 0) {
            rc = lb_err_set(err, LB_EDB, "unexpected fingerprint sum");
            goto out;
        }
        out->fingerprint = lb_xstrdup(fp);
    }

out:
    if (rc != 0) {
        if (out->name != NULL)
            lb_err_prefix(err, "fingerprint %s", out->name);
        lb_table_fp_clear(out);
    }
    lb_pg_result_free(&info);
    lb_pg_result_free(&cols);
    lb_pg_result_free(&scan);
    free(qs);
    free(qt);
    free(qualified);
    free(sql);
    return rc;
}
