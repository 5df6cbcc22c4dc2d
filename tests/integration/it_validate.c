/*
 * Integration tests of validate against a real PostgreSQL: what the content
 * fingerprint notices (and what it must not), types without an extended
 * hash function, name resolution, the schema fingerprint, and settings that
 * must not leak into fingerprints. The server's conninfo is read from
 * $LB_IT_DIR/conninfo; without it every test is skipped. The tests own the
 * schema it_validate: dropped at the start and at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/pg.h"
#include "lifeboat/validate.h"

#define DEADLINE_MS 60000

static struct lb_pg *conn_or_skip(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

static void exec_ok(struct lb_pg *c, const char *sql)
{
    struct lb_err err = {0};
    int rc = lb_pg_exec_script(c, sql, lb_mono_ms() + DEADLINE_MS, &err);
    if (rc != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static char *conninfo_from_env(void)
{
    const char *dir = getenv("LB_IT_DIR");
    struct lb_err err = {0};
    char *path, *text = NULL;
    size_t len = 0;

    if (dir == NULL || *dir == '\0')
        return NULL;
    path = lb_path_join(dir, "conninfo");
    if (lb_file_read(path, &text, &len, &err) != 0) {
        free(path);
        return NULL;
    }
    free(path);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    return text;
}

static int group_setup(void **state)
{
    struct lb_err err = {0};
    struct lb_pg *c = NULL;
    char *conninfo = conninfo_from_env();

    *state = NULL;
    if (conninfo == NULL) {
        fprintf(stderr, "it_validate: skipped: no server (set LB_IT_DIR to a directory "
                        "whose file 'conninfo' holds a PostgreSQL 14+ conninfo)\n");
        return 0;
    }
    if (lb_pg_connect(conninfo, lb_mono_ms() + DEADLINE_MS, &c, &err) != 0) {
        fprintf(stderr, "it_validate: cannot connect: %s\n", err.msg);
        free(conninfo);
        return -1;
    }
    free(conninfo);
    exec_ok(c, "SET client_min_messages = warning;"
               "DROP SCHEMA IF EXISTS it_validate CASCADE;"
               "CREATE SCHEMA it_validate;");
    *state = c;
    return 0;
}

static int group_teardown(void **state)
{
    struct lb_pg *c = *state;

    if (c != NULL) {
        exec_ok(c, "DROP SCHEMA IF EXISTS it_validate CASCADE");
        lb_pg_close(c);
    }
    return 0;
}

/* Baseline of the given NULL-ended names; fails the test on error. */
static struct lb_baseline *baseline_of(struct lb_pg *c, const char *const *names)
{
    struct lb_baseline_opts o = {.tables = names, .fingerprint = 1};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};

    o.deadline_ms = lb_mono_ms() + DEADLINE_MS;
    if (lb_validate_baseline(c, &o, &b, &err) != 0)
        fail_msg("baseline: %s", err.msg);
    return b;
}

/* The content fingerprint of one table (caller frees), with its count. */
static char *fp_of(struct lb_pg *c, const char *table, int64_t *rows)
{
    const char *names[] = {table, NULL};
    struct lb_baseline *b = baseline_of(c, names);
    char *fp;

    assert_int_equal(b->ntables, 1);
    assert_non_null(b->tables[0].fingerprint);
    assert_int_equal(strlen(b->tables[0].fingerprint), 16);
    fp = lb_xstrdup(b->tables[0].fingerprint);
    if (rows != NULL)
        *rows = b->tables[0].rows;
    lb_baseline_free(b);
    return fp;
}

/* Run `change`, assert the fingerprint moved, run `undo`, assert it is back. */
static void assert_change_noticed(struct lb_pg *c, const char *table, const char *change,
                                  const char *undo)
{
    int64_t rows0, rows1, rows2;
    char *fp0 = fp_of(c, table, &rows0), *fp1, *fp2;

    exec_ok(c, change);
    fp1 = fp_of(c, table, &rows1);
    if (strcmp(fp0, fp1) == 0)
        fail_msg("fingerprint of %s did not change after: %s", table, change);
    exec_ok(c, undo);
    fp2 = fp_of(c, table, &rows2);
    assert_string_equal(fp0, fp2);
    assert_int_equal(rows0, rows2);
    free(fp0);
    free(fp1);
    free(fp2);
}

static void make_items(struct lb_pg *c)
{
    exec_ok(c,
            "DROP TABLE IF EXISTS it_validate.items CASCADE;"
            "CREATE TABLE it_validate.items ("
            "  id int PRIMARY KEY, sku text NOT NULL, qty int, price numeric(10,2),"
            "  seen timestamptz, tags text[], meta jsonb);"
            "INSERT INTO it_validate.items"
            " SELECT g, 'SKU-' || g, g % 10, g * 1.5, timestamptz '2024-01-01' + g * interval '1h',"
            "        ARRAY['t' || (g % 3)], jsonb_build_object('g', g)"
            " FROM generate_series(1, 1000) g;"
            "CREATE INDEX items_sku ON it_validate.items (sku);");
}

static void test_it_validate_fingerprint_notices_one_changed_column(void **state)
{
    struct lb_pg *c = conn_or_skip(state);

    make_items(c);
    assert_change_noticed(c, "it_validate.items",
                          "UPDATE it_validate.items SET qty = qty + 1 WHERE id = 500",
                          "UPDATE it_validate.items SET qty = qty - 1 WHERE id = 500");
    /* A NULL where a value was is a change too. */
    assert_change_noticed(c, "it_validate.items",
                          "UPDATE it_validate.items SET tags = NULL WHERE id = 7",
                          "UPDATE it_validate.items SET tags = ARRAY['t1'] WHERE id = 7");
}

static void test_it_validate_fingerprint_notices_a_deleted_and_an_inserted_row(void **state)
{
    struct lb_pg *c = conn_or_skip(state);

    make_items(c);
    assert_change_noticed(c, "it_validate.items",
                          "CREATE TABLE it_validate.saved AS"
                          " SELECT * FROM it_validate.items WHERE id = 42;"
                          "DELETE FROM it_validate.items WHERE id = 42",
                          "INSERT INTO it_validate.items SELECT * FROM it_validate.saved;"
                          "DROP TABLE it_validate.saved");
    assert_change_noticed(c, "it_validate.items",
                          "INSERT INTO it_validate.items (id, sku) VALUES (1001, 'new')",
                          "DELETE FROM it_validate.items WHERE id = 1001");
}

static void test_it_validate_fingerprint_notices_a_duplicated_row(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    int64_t rows;
    char *fp1, *fp3;

    exec_ok(c, "CREATE TABLE it_validate.events (kind text, n int);"
               "INSERT INTO it_validate.events SELECT 'k' || g, g FROM generate_series(1, 100) g;");
    assert_change_noticed(c, "it_validate.events",
                          "INSERT INTO it_validate.events VALUES ('k5', 5)",
                          "DELETE FROM it_validate.events WHERE ctid IN (SELECT ctid FROM"
                          " it_validate.events WHERE kind = 'k5' LIMIT 1)");
    /* An XOR would give three copies the fingerprint of one. */
    fp1 = fp_of(c, "it_validate.events", &rows);
    exec_ok(c, "INSERT INTO it_validate.events VALUES ('k5', 5), ('k5', 5)");
    fp3 = fp_of(c, "it_validate.events", NULL);
    assert_string_not_equal(fp1, fp3);
    free(fp1);
    free(fp3);
    exec_ok(c, "DROP TABLE it_validate.events");
}

static void test_it_validate_fingerprint_notices_values_swapped_between_rows(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *swap =
        "UPDATE it_validate.items i SET qty = o.qty FROM it_validate.items o"
        " WHERE (i.id, o.id) IN ((10, 11), (11, 10))";

    make_items(c);
    exec_ok(c, "UPDATE it_validate.items SET qty = 1 WHERE id = 10;"
               "UPDATE it_validate.items SET qty = 2 WHERE id = 11;");
    /* Swapping twice restores the original. */
    assert_change_noticed(c, "it_validate.items", swap, swap);
}

static void test_it_validate_fingerprint_ignores_the_physical_row_order(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    struct lb_err err = {0};
    char *fp0, *fp1, *before = NULL, *after = NULL;
    int64_t n0, n1;

    make_items(c);
    fp0 = fp_of(c, "it_validate.items", &n0);
    assert_int_equal(lb_pg_scalar(c, "SELECT string_agg(id::text, ',') FROM (SELECT id FROM"
                                     " it_validate.items LIMIT 5) s",
                                  0, NULL, lb_mono_ms() + DEADLINE_MS, &before, &err), 0);
    /* Updates move row versions to the end; CLUSTER on sku rewrites the
     * table in another order altogether. */
    exec_ok(c, "UPDATE it_validate.items SET qty = qty WHERE id % 2 = 1");
    exec_ok(c, "VACUUM FULL it_validate.items");
    exec_ok(c, "CLUSTER it_validate.items USING items_sku");
    assert_int_equal(lb_pg_scalar(c, "SELECT string_agg(id::text, ',') FROM (SELECT id FROM"
                                     " it_validate.items LIMIT 5) s",
                                  0, NULL, lb_mono_ms() + DEADLINE_MS, &after, &err), 0);
    assert_string_not_equal(before, after); /* the rows really moved */
    fp1 = fp_of(c, "it_validate.items", &n1);
    assert_string_equal(fp0, fp1);
    assert_int_equal(n0, n1);
    free(fp0);
    free(fp1);
    free(before);
    free(after);
}

static void test_it_validate_fingerprint_handles_types_without_extended_hash(void **state)
{
    struct lb_pg *c = conn_or_skip(state);

    exec_ok(c,
            "CREATE TYPE it_validate.mood AS ENUM ('sad', 'ok', 'happy');"
            "CREATE DOMAIN it_validate.spot AS point;"
            "CREATE TYPE it_validate.pair AS (j json, at timestamptz);"
            "CREATE TABLE it_validate.odd ("
            "  id int, doc json, pos point, spot it_validate.spot, docs json[],"
            "  mood it_validate.mood, moods it_validate.mood[], during tstzrange,"
            "  pair it_validate.pair, cash money, x xml, bits bit(4), v tsvector,"
            "  b jsonb);"
            "INSERT INTO it_validate.odd VALUES"
            " (1, '{\"a\": 1}', '(1,2)', '(3,4)', ARRAY['[1]'::json], 'ok', '{sad,happy}',"
            "  tstzrange('2024-01-01', '2024-02-01'), ROW('{}', '2024-01-01 12:00+00'), 12.5,"
            "  '<a>1</a>', B'1010', 'fat cat', '{\"b\": 2}'),"
            " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);");
    assert_change_noticed(c, "it_validate.odd",
                          "UPDATE it_validate.odd SET doc = '{\"a\": 2}' WHERE id = 1",
                          "UPDATE it_validate.odd SET doc = '{\"a\": 1}' WHERE id = 1");
    assert_change_noticed(c, "it_validate.odd",
                          "UPDATE it_validate.odd SET pos = '(1,3)' WHERE id = 1",
                          "UPDATE it_validate.odd SET pos = '(1,2)' WHERE id = 1");
    assert_change_noticed(c, "it_validate.odd",
                          "UPDATE it_validate.odd SET pair.at = '2024-01-01 12:00:01+00' WHERE id = 1",
                          "UPDATE it_validate.odd SET pair.at = '2024-01-01 12:00+00' WHERE id = 1");
    exec_ok(c, "DROP TABLE it_validate.odd; DROP TYPE it_validate.pair;"
               "DROP DOMAIN it_validate.spot; DROP TYPE it_validate.mood;");
}

static void test_it_validate_fingerprint_works_for_every_builtin_type(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    struct lb_err err = {0};
    char *ncols = NULL;
    int64_t rows, n = 0;
    char *fp;

    /* One column per type the server lets a table have, and its array: if
     * the hashability check says yes where the server says no, the scan
     * fails. A NULL is enough: the server looks the hash function up per
     * column before it looks at the value. */
    exec_ok(c,
            "CREATE TABLE it_validate.alltypes (id int);"
            "DO $$ DECLARE t record; BEGIN"
            " FOR t IN SELECT y.oid::regtype::text AS name, y.typname FROM pg_type y"
            "   WHERE y.typnamespace = 'pg_catalog'::regnamespace AND y.typisdefined"
            "     AND y.typtype IN ('b', 'e', 'r', 'm', 'd') AND y.typname NOT LIKE '\\_%'"
            "     AND y.typrelid = 0 LOOP"
            "  BEGIN"
            "   EXECUTE format('ALTER TABLE it_validate.alltypes ADD COLUMN %I %s',"
            "                  't_' || t.typname, t.name);"
            "   EXECUTE format('ALTER TABLE it_validate.alltypes ADD COLUMN %I %s[]',"
            "                  'a_' || t.typname, t.name);"
            "  EXCEPTION WHEN others THEN NULL; END;"
            " END LOOP; END $$;"
            "INSERT INTO it_validate.alltypes (id) VALUES (1), (2);");
    assert_int_equal(lb_pg_scalar(c, "SELECT count(*) FROM pg_attribute WHERE attrelid ="
                                     " 'it_validate.alltypes'::regclass AND attnum > 0",
                                  0, NULL, lb_mono_ms() + DEADLINE_MS, &ncols, &err), 0);
    assert_int_equal(lb_parse_int64(ncols, &n), 0);
    assert_true(n > 100);
    fp = fp_of(c, "it_validate.alltypes", &rows);
    assert_int_equal(rows, 2);
    free(fp);
    free(ncols);
    exec_ok(c, "DROP TABLE it_validate.alltypes");
}

static void test_it_validate_baseline_marks_a_missing_table(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.nope", "it_validate.items", NULL};
    struct lb_baseline *b;
    const struct lb_table_fp *t;

    make_items(c);
    b = baseline_of(c, names);
    assert_int_equal(b->ntables, 2);
    t = lb_baseline_find(b, "it_validate.nope");
    assert_non_null(t);
    assert_int_equal(t->rows, -1);
    assert_null(t->fingerprint);
    assert_null(t->schema_fp);
    t = lb_baseline_find(b, "it_validate.items");
    assert_int_equal(t->rows, 1000);
    /* Sorted by name. */
    assert_string_equal(b->tables[0].name, "it_validate.items");
    lb_baseline_free(b);
}

static void test_it_validate_baseline_resolves_names_on_the_search_path(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"items", "IT_VALIDATE.ITEMS", "it_validate.items", NULL};
    struct lb_baseline *b;
    struct lb_err err = {0};
    char *path = NULL;

    make_items(c);
    exec_ok(c, "SET search_path = it_validate, public");
    b = baseline_of(c, names);
    /* Three spellings of one table, merged. */
    assert_int_equal(b->ntables, 1);
    assert_string_equal(b->tables[0].name, "it_validate.items");
    assert_int_equal(b->tables[0].rows, 1000);
    lb_baseline_free(b);
    /* The snapshot pinned its settings locally: the session keeps its own. */
    assert_int_equal(lb_pg_scalar(c, "SHOW search_path", 0, NULL, lb_mono_ms() + DEADLINE_MS,
                                  &path, &err), 0);
    assert_string_equal(path, "it_validate, public");
    free(path);
    exec_ok(c, "RESET search_path");
}

static void test_it_validate_baseline_rejects_a_malformed_name_and_stays_usable(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *bad[] = {"a.b.c.d", NULL};
    const char *seq[] = {"it_validate.s", NULL};
    struct lb_baseline_opts o = {.tables = bad, .fingerprint = 1};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_validate_baseline(c, &o, &b, &err), LB_EINVAL);
    assert_null(b);
    assert_non_null(strstr(err.msg, "a.b.c.d"));
    exec_ok(c, "CREATE SEQUENCE it_validate.s");
    o.tables = seq;
    assert_int_equal(lb_validate_baseline(c, &o, &b, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "not a table"));
    exec_ok(c, "DROP SEQUENCE it_validate.s; SELECT 1");
}

static void test_it_validate_baseline_of_all_tables_skips_lifeboat_tables(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    struct lb_baseline_opts o = {.tables = NULL, .fingerprint = 1};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};
    size_t i;

    make_items(c);
    exec_ok(c, "CREATE TABLE it_validate.lifeboat_heartbeat (at timestamptz);"
               "CREATE TABLE it_validate.a_first (x int);"
               "CREATE TEMP TABLE scratch (x int);");
    assert_int_equal(lb_validate_baseline(c, &o, &b, &err), 0);
    assert_non_null(lb_baseline_find(b, "it_validate.items"));
    assert_non_null(lb_baseline_find(b, "it_validate.a_first"));
    assert_null(lb_baseline_find(b, "it_validate.lifeboat_heartbeat"));
    assert_null(lb_baseline_find(b, "scratch"));
    for (i = 1; i < b->ntables; i++)
        assert_true(strcmp(b->tables[i - 1].name, b->tables[i].name) < 0);
    for (i = 0; i < b->ntables; i++)
        assert_false(lb_str_starts(b->tables[i].name, "pg_"));
    lb_baseline_free(b);
    exec_ok(c, "DROP TABLE it_validate.lifeboat_heartbeat, it_validate.a_first, scratch");
}

static void test_it_validate_schema_fingerprint_tracks_keys_and_indexes(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.items", "it_validate.orders", NULL};
    struct lb_baseline *b0, *b1, *b2;
    struct lb_findings f;
    struct lb_compare_opts o = {.tolerance = 0, .fingerprint = 1};

    make_items(c);
    exec_ok(c, "CREATE TABLE it_validate.orders (id int PRIMARY KEY,"
               " item int REFERENCES it_validate.items (id), n int);"
               "INSERT INTO it_validate.orders SELECT g, g, g FROM generate_series(1, 10) g;");
    b0 = baseline_of(c, names);
    assert_true(lb_baseline_find(b0, "it_validate.orders")->has_pk);
    assert_int_equal(lb_baseline_find(b0, "it_validate.orders")->nfks, 1);
    assert_int_equal(lb_baseline_find(b0, "it_validate.items")->nfks, 0);
    assert_true(lb_baseline_find(b0, "it_validate.items")->bytes > 0);

    exec_ok(c, "CREATE INDEX orders_n ON it_validate.orders (n)");
    b1 = baseline_of(c, names);
    assert_string_not_equal(lb_baseline_find(b0, "it_validate.orders")->schema_fp,
                            lb_baseline_find(b1, "it_validate.orders")->schema_fp);
    assert_string_equal(lb_baseline_find(b0, "it_validate.items")->schema_fp,
                        lb_baseline_find(b1, "it_validate.items")->schema_fp);

    exec_ok(c, "DROP INDEX it_validate.orders_n;"
               "ALTER TABLE it_validate.orders DROP CONSTRAINT orders_item_fkey;"
               "ALTER TABLE it_validate.orders DROP CONSTRAINT orders_pkey;");
    b2 = baseline_of(c, names);
    assert_false(lb_baseline_find(b2, "it_validate.orders")->has_pk);
    assert_int_equal(lb_baseline_find(b2, "it_validate.orders")->nfks, 0);
    assert_int_equal(lb_validate_findings(b0, b2, &o, &f), 0);
    assert_false(f.ok);
    for (size_t i = 0; i < f.n; i++) {
        if (strcmp(f.items[i].check_name, "it_validate.orders: schema") == 0)
            assert_string_equal(f.items[i].gap_title, "it_validate.orders came back without "
                                                      "its primary key and without 1 "
                                                      "foreign key(s)");
        else
            assert_true(f.items[i].ok);
    }
    lb_findings_free(&f);
    lb_baseline_free(b0);
    lb_baseline_free(b1);
    lb_baseline_free(b2);
    exec_ok(c, "DROP TABLE it_validate.orders");
}

static void test_it_validate_fingerprints_ignore_session_settings(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.odd2", NULL};
    struct lb_baseline *b0, *b1;

    /* A composite is hashed through its text form, which depends on
     * TimeZone and DateStyle unless the snapshot pins them. */
    exec_ok(c, "CREATE TYPE it_validate.stamp AS (at timestamptz, d date, m money);"
               "CREATE TABLE it_validate.odd2 (s it_validate.stamp, p point);"
               "INSERT INTO it_validate.odd2 VALUES"
               " (ROW('2024-03-01 10:00+00', '2024-03-01', 3.25), '(1.5,2)');");
    exec_ok(c, "SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY';"
               "SET extra_float_digits = 0");
    b0 = baseline_of(c, names);
    exec_ok(c, "SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'German';"
               "SET extra_float_digits = 3");
    b1 = baseline_of(c, names);
    assert_string_equal(b0->tables[0].fingerprint, b1->tables[0].fingerprint);
    assert_string_equal(b0->tables[0].schema_fp, b1->tables[0].schema_fp);
    exec_ok(c, "RESET TimeZone; RESET DateStyle; RESET extra_float_digits;"
               "DROP TABLE it_validate.odd2; DROP TYPE it_validate.stamp;");
    lb_baseline_free(b0);
    lb_baseline_free(b1);
}

static void test_it_validate_counts_tables_without_columns_and_empty_tables(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.nocols", "it_validate.empty", NULL};
    struct lb_baseline *b;

    exec_ok(c, "CREATE TABLE it_validate.nocols ();"
               "INSERT INTO it_validate.nocols DEFAULT VALUES;"
               "INSERT INTO it_validate.nocols DEFAULT VALUES;"
               "CREATE TABLE it_validate.empty (x int);");
    b = baseline_of(c, names);
    assert_int_equal(lb_baseline_find(b, "it_validate.nocols")->rows, 2);
    assert_int_equal(lb_baseline_find(b, "it_validate.empty")->rows, 0);
    assert_string_equal(lb_baseline_find(b, "it_validate.empty")->fingerprint,
                        "0000000000000000");
    lb_baseline_free(b);
    exec_ok(c, "DROP TABLE it_validate.nocols, it_validate.empty");
}

static void test_it_validate_emptied_table_is_a_critical_finding(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.items", NULL};
    struct lb_compare_opts o = {.tolerance = 0, .fingerprint = 1};
    struct lb_baseline *before, *after;
    struct lb_findings f;

    make_items(c);
    before = baseline_of(c, names);
    exec_ok(c, "DELETE FROM it_validate.items");
    after = baseline_of(c, names);
    assert_int_equal(lb_validate_findings(before, after, &o, &f), 0);
    assert_false(f.ok);
    assert_string_equal(f.items[0].check_name, "it_validate.items: rows");
    assert_int_equal(f.items[0].severity, LB_SEV_CRITICAL);
    assert_string_equal(f.items[0].gap_title,
                        "it_validate.items: restore is empty (0 rows, 1000 expected)");
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_it_validate_baseline_gives_up_at_its_deadline_and_rolls_back(void **state)
{
    struct lb_pg *c = conn_or_skip(state), *locker = NULL;
    const char *names[] = {"it_validate.items", NULL};
    struct lb_baseline_opts o = {.tables = names, .fingerprint = 1};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};
    char *conninfo = conninfo_from_env(), *iso = NULL;
    int64_t t0;

    make_items(c);
    assert_int_equal(lb_pg_connect(conninfo, lb_mono_ms() + DEADLINE_MS, &locker, &err), 0);
    exec_ok(locker, "BEGIN; LOCK TABLE it_validate.items IN ACCESS EXCLUSIVE MODE");
    t0 = lb_mono_ms();
    o.deadline_ms = t0 + 500;
    assert_int_equal(lb_validate_baseline(c, &o, &b, &err), LB_ETIMEOUT);
    assert_null(b);
    assert_true(lb_mono_ms() - t0 < 5000);
    exec_ok(locker, "ROLLBACK");
    lb_pg_close(locker);
    /* The snapshot transaction is gone: the session is back to its default. */
    assert_true(lb_pg_ok(c));
    assert_int_equal(lb_pg_scalar(c, "SELECT current_setting('transaction_read_only')", 0, NULL,
                                  lb_mono_ms() + DEADLINE_MS, &iso, &err), 0);
    assert_string_equal(iso, "off");
    free(iso);
    free(conninfo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_it_validate_fingerprint_notices_one_changed_column),
        cmocka_unit_test(test_it_validate_fingerprint_notices_a_deleted_and_an_inserted_row),
        cmocka_unit_test(test_it_validate_fingerprint_notices_a_duplicated_row),
        cmocka_unit_test(test_it_validate_fingerprint_notices_values_swapped_between_rows),
        cmocka_unit_test(test_it_validate_fingerprint_ignores_the_physical_row_order),
        cmocka_unit_test(test_it_validate_fingerprint_handles_types_without_extended_hash),
        cmocka_unit_test(test_it_validate_fingerprint_works_for_every_builtin_type),
        cmocka_unit_test(test_it_validate_baseline_marks_a_missing_table),
        cmocka_unit_test(test_it_validate_baseline_resolves_names_on_the_search_path),
        cmocka_unit_test(test_it_validate_baseline_rejects_a_malformed_name_and_stays_usable),
        cmocka_unit_test(test_it_validate_baseline_of_all_tables_skips_lifeboat_tables),
        cmocka_unit_test(test_it_validate_schema_fingerprint_tracks_keys_and_indexes),
        cmocka_unit_test(test_it_validate_fingerprints_ignore_session_settings),
        cmocka_unit_test(test_it_validate_counts_tables_without_columns_and_empty_tables),
        cmocka_unit_test(test_it_validate_emptied_table_is_a_critical_finding),
        cmocka_unit_test(test_it_validate_baseline_gives_up_at_its_deadline_and_rolls_back),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
