/*
 * Integration tests of validate against a real PostgreSQL: what the content
 * fingerprint notices (and what it must not), types without an extended
 * hash function, name resolution, the schema fingerprint, settings that
 * must not leak into fingerprints, the snapshot shared by worker
 * connections, localisation of differences (per-row detail and sketch)
 * and foreign-key violations. The server's conninfo is read from
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
/* The snapshot pool is internal to validate; its test lives here. */
#include "../../src/validate/validate_int.h"

#define DEADLINE_MS 60000

static char *g_conninfo;

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
    g_conninfo = conninfo;
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
    free(g_conninfo);
    g_conninfo = NULL;
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

static void test_it_validate_timestamptz_fingerprint_sees_a_microsecond_in_any_zone(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.stamps", NULL};
    struct lb_baseline *b0, *b1;

    exec_ok(c, "CREATE TABLE it_validate.stamps (id int, at timestamptz, d date);"
               "INSERT INTO it_validate.stamps VALUES"
               " (1, '2024-03-10 01:59:59.999999-05', '2024-03-10'), (2, 'infinity', 'infinity'),"
               " (3, '-infinity', NULL), (4, NULL, '1999-12-31');");
    exec_ok(c, "SET TimeZone = 'America/New_York'");
    b0 = baseline_of(c, names);
    exec_ok(c, "SET TimeZone = 'Pacific/Chatham'");
    b1 = baseline_of(c, names);
    assert_string_equal(b0->tables[0].fingerprint, b1->tables[0].fingerprint);
    lb_baseline_free(b1);
    lb_baseline_free(b0);
    assert_change_noticed(c, "it_validate.stamps",
                          "UPDATE it_validate.stamps SET at = at + interval '1 microsecond'"
                          " WHERE id = 1",
                          "UPDATE it_validate.stamps SET at = at - interval '1 microsecond'"
                          " WHERE id = 1");
    /* Two rows swapping their instants is a change too. */
    assert_change_noticed(c, "it_validate.stamps",
                          "UPDATE it_validate.stamps SET at = CASE id WHEN 2"
                          " THEN timestamptz '-infinity' ELSE 'infinity' END WHERE id IN (2, 3)",
                          "UPDATE it_validate.stamps SET at = CASE id WHEN 2"
                          " THEN timestamptz 'infinity' ELSE '-infinity' END WHERE id IN (2, 3)");
    exec_ok(c, "RESET TimeZone; DROP TABLE it_validate.stamps");
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

/* ---- parallel baselines and the shared snapshot ------------------------ */

static int64_t count_on(struct lb_pg *c, const char *sql)
{
    struct lb_err err = {0};
    char *v = NULL;
    int64_t n = -1;

    if (lb_pg_scalar(c, sql, 0, NULL, lb_mono_ms() + DEADLINE_MS, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(lb_parse_int64(v, &n), 0);
    free(v);
    return n;
}

static void test_it_validate_workers_read_the_snapshot_the_first_connection_exported(void **state)
{
    struct lb_pg *c = conn_or_skip(state), *writer = NULL;
    struct lb_err err = {0};
    struct vpool pool;

    make_items(c);
    assert_int_equal(pool_open(c, g_conninfo, 3, 64, lb_mono_ms() + DEADLINE_MS, &pool, &err), 0);
    assert_int_equal(pool.n, 3);
    /* A writer commits after the snapshot: no connection of the pool sees it. */
    assert_int_equal(lb_pg_connect(g_conninfo, lb_mono_ms() + DEADLINE_MS, &writer, &err), 0);
    exec_ok(writer, "INSERT INTO it_validate.items (id, sku) VALUES (5000, 'late')");
    assert_int_equal(count_on(pool.conns[0], "SELECT count(*) FROM it_validate.items"), 1000);
    assert_int_equal(count_on(pool.conns[1], "SELECT count(*) FROM it_validate.items"), 1000);
    assert_int_equal(count_on(pool.conns[2], "SELECT count(*) FROM it_validate.items"), 1000);
    assert_int_equal(count_on(writer, "SELECT count(*) FROM it_validate.items"), 1001);
    assert_int_equal(pool_close(&pool, 1, &err), 0);
    /* The caller's connection is out of the snapshot again. */
    assert_int_equal(count_on(c, "SELECT count(*) FROM it_validate.items"), 1001);
    lb_pg_close(writer);
}

static void test_it_validate_baseline_refuses_workers_that_reach_another_database(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.items", NULL};
    struct lb_baseline_opts o = {.tables = names, .fingerprint = 1, .parallel = 2};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};
    char *other = lb_pg_conninfo_with(g_conninfo, "dbname", "postgres");

    make_items(c);
    o.conninfo = other;
    assert_int_equal(lb_validate_baseline(c, &o, &b, &err), LB_ESAFETY);
    assert_null(b);
    assert_non_null(strstr(err.msg, "reached database postgres"));
    /* The caller's connection is usable and out of the snapshot. */
    assert_int_equal(count_on(c, "SELECT count(*) FROM it_validate.items"), 1000);
    free(other);
}

static void test_it_validate_parallel_baseline_in_block_ranges_equals_one_connection(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.big", "it_validate.items", NULL};
    struct lb_baseline_opts one = {.tables = names, .fingerprint = 1};
    struct lb_baseline_opts many = {.tables = names, .fingerprint = 1, .parallel = 3,
                                    .piece_blocks = 1};
    struct lb_baseline *b1 = NULL, *b3 = NULL;
    struct lb_err err = {0};
    size_t i;

    make_items(c);
    /* About 40 blocks, split one block range per task: the first and the
     * last ranges are open-ended. */
    exec_ok(c, "CREATE TABLE it_validate.big (id int PRIMARY KEY, pad text);"
               "INSERT INTO it_validate.big"
               " SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;"
               "DELETE FROM it_validate.big WHERE id % 7 = 0;");
    many.conninfo = g_conninfo;
    assert_int_equal(lb_validate_baseline(c, &one, &b1, &err), 0);
    assert_int_equal(lb_validate_baseline(c, &many, &b3, &err), 0);
    assert_int_equal(b1->connections, 1);
    assert_int_equal(b3->connections, 3);
    assert_int_equal(b1->ntables, b3->ntables);
    for (i = 0; i < b1->ntables; i++) {
        assert_string_equal(b1->tables[i].name, b3->tables[i].name);
        assert_int_equal(b1->tables[i].rows, b3->tables[i].rows);
        assert_string_equal(b1->tables[i].fingerprint, b3->tables[i].fingerprint);
    }
    assert_int_equal(lb_baseline_find(b3, "it_validate.big")->rows, 5000 - 714);
    lb_baseline_free(b1);
    lb_baseline_free(b3);
    exec_ok(c, "DROP TABLE it_validate.big");
}

/* ---- localisation --------------------------------------------------------- */

/* 10,000 rows keyed by id, grouped by acct (a foreign key). */
static void make_ledger(struct lb_pg *c)
{
    exec_ok(c,
            "DROP TABLE IF EXISTS it_validate.ledger, it_validate.accts CASCADE;"
            "CREATE TABLE it_validate.accts (id int PRIMARY KEY);"
            "INSERT INTO it_validate.accts SELECT g FROM generate_series(1, 100) g;"
            "CREATE TABLE it_validate.ledger (id bigint PRIMARY KEY,"
            "  acct int NOT NULL REFERENCES it_validate.accts (id), amount numeric(10,2),"
            "  note text);"
            "INSERT INTO it_validate.ledger"
            " SELECT g, 1 + g % 100, g * 0.25, 'n' || g FROM generate_series(1, 10000) g;");
}

static struct lb_baseline *baseline_detail(struct lb_pg *c, const char *const *names, int detail,
                                           int64_t detail_rows)
{
    struct lb_baseline_opts o = {.tables = names, .fingerprint = 1, .detail = detail,
                                 .detail_rows = detail_rows};
    struct lb_baseline *b = NULL;
    struct lb_err err = {0};

    o.conninfo = g_conninfo;
    o.parallel = 2;
    o.deadline_ms = lb_mono_ms() + DEADLINE_MS;
    if (lb_validate_baseline(c, &o, &b, &err) != 0)
        fail_msg("baseline: %s", err.msg);
    return b;
}

static void compare_ok(struct lb_pg *c, const struct lb_baseline *before, int foreign_keys,
                       struct lb_comparison *cmp, struct lb_findings *f)
{
    struct lb_compare_opts o = {.fingerprint = 1, .foreign_keys = foreign_keys};
    struct lb_err err = {0};

    o.conninfo = g_conninfo;
    o.parallel = 2;
    o.deadline_ms = lb_mono_ms() + DEADLINE_MS;
    if (lb_validate_compare(c, before, &o, cmp, &err) != 0)
        fail_msg("compare: %s", err.msg);
    assert_int_equal(lb_validate_findings(before, cmp->after, &o, f), 0);
    if (cmp->fks_checked)
        assert_int_equal(lb_validate_fk_findings(&cmp->fks, f), 0);
}

static const struct lb_finding *finding(const struct lb_findings *f, const char *check)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->items[i].check_name, check) == 0)
            return &f->items[i];
    return NULL;
}

/* The sample keys of one kind, ", "-joined in the diff's order. */
static char *keys_of(const struct lb_table_diff *d, char kind)
{
    struct lb_buf b = {0};
    for (size_t i = 0; i < d->nsamples; i++)
        if (d->samples[i].kind == kind)
            lb_buf_printf(&b, "%s%s", b.len > 0 ? " " : "", d->samples[i].key);
    return lb_buf_steal(&b);
}

static void assert_three_changed(struct lb_pg *c, int detail, int64_t detail_rows,
                                 const char *method)
{
    const char *names[] = {"it_validate.ledger", NULL};
    struct lb_baseline *before;
    struct lb_comparison cmp;
    struct lb_findings f;
    const struct lb_table_diff *d;
    const struct lb_finding *content;
    char *keys;

    make_ledger(c);
    before = baseline_detail(c, names, detail, detail_rows);
    assert_string_equal(lb_table_detail_kind(&before->tables[0]), method);
    exec_ok(c, "UPDATE it_validate.ledger SET amount = amount + 0.01 WHERE id IN (17, 4242, 9001)");
    compare_ok(c, before, 0, &cmp, &f);
    d = cmp.after->tables[0].diff;
    assert_non_null(d);
    assert_string_equal(d->method, method);
    assert_true(d->complete);
    assert_int_equal(d->changed, 3);
    assert_int_equal(d->missing, 0);
    assert_int_equal(d->extra, 0);
    keys = keys_of(d, 'c');
    assert_string_equal(keys, "17 4242 9001");
    content = finding(&f, "it_validate.ledger: content");
    assert_non_null(content);
    assert_int_equal(content->severity, LB_SEV_CRITICAL);
    assert_string_equal(content->gap_title,
                        "it_validate.ledger: 3 rows changed (id 17, 4242, 9001)");
    assert_non_null(finding(&f, "it_validate.ledger: changed rows"));
    assert_string_equal(finding(&f, "it_validate.ledger: changed rows")->observed,
                        "3: id 17, 4242, 9001");
    free(keys);
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);
}

static void test_it_validate_compare_names_the_3_changed_keys_of_10000_rows(void **state)
{
    assert_three_changed(conn_or_skip(state), LB_DETAIL_ROWS, 0, "rows");
}

static void test_it_validate_sketch_names_the_3_changed_keys_of_10000_rows(void **state)
{
    /* No per-row detail at all: the sketch alone names them. */
    assert_three_changed(conn_or_skip(state), LB_DETAIL_SKETCH, -1, "sketch");
}

static void assert_group_missing(struct lb_pg *c, int detail, int64_t detail_rows)
{
    const char *names[] = {"it_validate.ledger", NULL};
    struct lb_baseline *before;
    struct lb_comparison cmp;
    struct lb_findings f;
    const struct lb_table_diff *d;
    const struct lb_finding *rows;

    make_ledger(c);
    before = baseline_detail(c, names, detail, detail_rows);
    exec_ok(c, "DELETE FROM it_validate.ledger WHERE acct = 42 AND id < 4000");
    compare_ok(c, before, 0, &cmp, &f);
    d = cmp.after->tables[0].diff;
    assert_non_null(d);
    assert_int_equal(d->missing, 40);
    assert_true(d->complete);
    assert_string_equal(d->group_column, "acct");
    assert_string_equal(d->missing_group, "42");
    rows = finding(&f, "it_validate.ledger: rows");
    assert_string_equal(rows->gap_title, "40 rows of it_validate.ledger for acct 42 are missing "
                                         "(id 41, 141, 241, 341, 441, \xe2\x80\xa6)");
    assert_non_null(strstr(rows->gap_detail, "Missing: 40: id 41, 141, 241, 341, 441, 541, "
                                             "641, 741, 841, 941, \xe2\x80\xa6 (all acct 42)."));
    assert_string_equal(finding(&f, "it_validate.ledger: missing rows")->observed,
                        "40: id 41, 141, 241, 341, 441, 541, 641, 741, 841, 941, \xe2\x80\xa6"
                        " (all acct 42)");
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);
}

static void test_it_validate_compare_says_which_group_the_missing_rows_share(void **state)
{
    assert_group_missing(conn_or_skip(state), LB_DETAIL_ROWS, 0);
}

static void test_it_validate_sketch_says_which_group_the_missing_rows_share(void **state)
{
    assert_group_missing(conn_or_skip(state), LB_DETAIL_SKETCH, -1);
}

static void test_it_validate_compare_tells_missing_extra_and_changed_apart(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.ledger", NULL};
    int modes[2] = {LB_DETAIL_ROWS, LB_DETAIL_SKETCH};

    for (int m = 0; m < 2; m++) {
        struct lb_baseline *before;
        struct lb_comparison cmp;
        struct lb_findings f;
        const struct lb_table_diff *d;
        char *k;

        make_ledger(c);
        before = baseline_detail(c, names, modes[m], m == 0 ? 0 : -1);
        exec_ok(c, "DELETE FROM it_validate.ledger WHERE id IN (5, 6);"
                   "INSERT INTO it_validate.ledger VALUES (20001, 1, 1, 'new');"
                   "UPDATE it_validate.ledger SET note = 'edited' WHERE id = 7;");
        compare_ok(c, before, 0, &cmp, &f);
        d = cmp.after->tables[0].diff;
        assert_int_equal(d->missing, 2);
        assert_int_equal(d->extra, 1);
        assert_int_equal(d->changed, 1);
        k = keys_of(d, 'm');
        assert_string_equal(k, "5 6");
        free(k);
        k = keys_of(d, 'e');
        assert_string_equal(k, "20001");
        free(k);
        k = keys_of(d, 'c');
        assert_string_equal(k, "7");
        free(k);
        /* 9,999 rows for 10,000: the count gap carries the sentence. */
        assert_string_equal(finding(&f, "it_validate.ledger: rows")->gap_title,
                            "it_validate.ledger: 1 row changed (id 7); 2 missing (id 5, 6); "
                            "1 the baseline did not have (id 20001)");
        lb_findings_free(&f);
        lb_comparison_free(&cmp);
        lb_baseline_free(before);
    }
}

static void test_it_validate_compare_names_rows_of_a_composite_and_a_text_key(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.pairs", "it_validate.skus", NULL};
    struct lb_baseline *before;
    struct lb_comparison cmp;
    struct lb_findings f;
    const struct lb_table_diff *d;
    char *k;

    exec_ok(c, "CREATE TABLE it_validate.pairs (a int, b int, v text, PRIMARY KEY (a, b));"
               "INSERT INTO it_validate.pairs SELECT g / 100, g % 100, 'v' || g"
               " FROM generate_series(0, 4999) g;"
               "CREATE TABLE it_validate.skus (sku text PRIMARY KEY, qty int);"
               "INSERT INTO it_validate.skus"
               " SELECT 'SKU-' || g, g FROM generate_series(1, 3000) g;");
    /* The sketch: integer columns of a composite key are named; a text
     * key is named for rows that are new, the rest counted. */
    before = baseline_detail(c, names, LB_DETAIL_SKETCH, -1);
    exec_ok(c, "DELETE FROM it_validate.pairs WHERE (a, b) = (3, 14);"
               "UPDATE it_validate.skus SET qty = -1 WHERE sku = 'SKU-77';");
    compare_ok(c, before, 0, &cmp, &f);
    d = lb_baseline_find(cmp.after, "it_validate.pairs")->diff;
    k = keys_of(d, 'm');
    assert_string_equal(k, "3, 14");
    free(k);
    assert_string_equal(finding(&f, "it_validate.pairs: rows")->gap_title,
                        "1 row of it_validate.pairs is missing ((a, b) (3, 14))");
    d = lb_baseline_find(cmp.after, "it_validate.skus")->diff;
    assert_false(d->complete);
    assert_int_equal(d->unnamed, 1);
    k = keys_of(d, 'e');
    assert_string_equal(k, "SKU-77");
    free(k);
    assert_non_null(strstr(d->why, "not made of integers"));
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);

    /* Per-row detail names text keys exactly. */
    before = baseline_detail(c, names, LB_DETAIL_ROWS, 0);
    exec_ok(c, "UPDATE it_validate.skus SET qty = -2 WHERE sku = 'SKU-77';");
    compare_ok(c, before, 0, &cmp, &f);
    d = lb_baseline_find(cmp.after, "it_validate.skus")->diff;
    assert_true(d->complete);
    k = keys_of(d, 'c');
    assert_string_equal(k, "SKU-77");
    free(k);
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);
    exec_ok(c, "DROP TABLE it_validate.pairs, it_validate.skus");
}

static void test_it_validate_compare_says_why_a_table_without_key_cannot_be_localised(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.events", NULL};
    struct lb_baseline *before;
    struct lb_comparison cmp;
    struct lb_findings f;
    const struct lb_finding *content;

    exec_ok(c, "CREATE TABLE it_validate.events (kind text, n int);"
               "INSERT INTO it_validate.events SELECT 'k' || g, g FROM generate_series(1, 100) g;");
    before = baseline_detail(c, names, LB_DETAIL_SKETCH, 0);
    assert_null(lb_table_detail_kind(&before->tables[0]));
    exec_ok(c, "UPDATE it_validate.events SET n = 0 WHERE n = 5");
    compare_ok(c, before, 0, &cmp, &f);
    assert_string_equal(cmp.after->tables[0].diff->method, "none");
    content = finding(&f, "it_validate.events: content");
    assert_true(lb_str_starts(content->gap_title, "it_validate.events: content differs from "
                                                  "the baseline (100 rows, fingerprint "));
    assert_non_null(strstr(content->gap_detail, "Which rows differ cannot be said: it has no "
                                                "primary key"));
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);
    exec_ok(c, "DROP TABLE it_validate.events");
}

/* ---- foreign keys ----------------------------------------------------------- */

static const struct lb_fk_violation *fk_named(const struct lb_fk_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].constraint, name) == 0)
            return &r->items[i];
    return NULL;
}

static void test_it_validate_fk_violation_made_as_replica_is_found_and_named(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *scope[] = {"it_validate.ledger", NULL};
    struct lb_fk_opts o = {.tables = scope, .samples = 3, .parallel = 2};
    struct lb_fk_report r = {0};
    struct lb_findings f = {0};
    const struct lb_fk_violation *v;
    struct lb_err err = {0};
    int merge;

    make_ledger(c);
    o.conninfo = g_conninfo;
    /* Replica role skips the foreign key triggers: the delete leaves orphans. */
    exec_ok(c, "SET session_replication_role = replica;"
               "DELETE FROM it_validate.accts WHERE id = 43;"
               "RESET session_replication_role;");
    for (merge = -1; merge <= 1; merge++) {
        o.merge = merge;
        assert_int_equal(lb_validate_fk_violations(c, &o, &r, &err), 0);
        v = fk_named(&r, "ledger_acct_fkey");
        assert_non_null(v);
        assert_string_equal(v->table, "it_validate.ledger");
        assert_string_equal(v->references, "it_validate.accts");
        assert_string_equal(v->columns, "acct");
        assert_int_equal(v->count, 100);
        assert_int_equal(v->nsamples, 3);
        assert_string_equal(v->sample_columns, "id");
        assert_int_equal(v->nmissing_refs, 1);
        assert_string_equal(v->missing_refs[0], "43");
        assert_int_equal(v->merge, merge == 1); /* acct is not indexed: auto is a hash join */
        if (merge == 1) {
            assert_int_equal(lb_validate_fk_findings(&r, &f), 0);
            assert_false(f.ok);
            assert_string_equal(f.items[0].check_name, "it_validate.ledger: fk ledger_acct_fkey");
            assert_int_equal(f.items[0].severity, LB_SEV_MAJOR);
            assert_string_equal(f.items[0].gap_title,
                                "it_validate.ledger: 100 rows reference it_validate.accts rows "
                                "that do not exist (ledger_acct_fkey: acct 43)");
            lb_findings_free(&f);
        }
        lb_fk_report_free(&r);
    }
    /* With the orphans gone the constraint holds again. */
    exec_ok(c, "DELETE FROM it_validate.ledger WHERE acct = 43");
    o.merge = 0;
    assert_int_equal(lb_validate_fk_violations(c, &o, &r, &err), 0);
    assert_int_equal(fk_named(&r, "ledger_acct_fkey")->count, 0);
    lb_fk_report_free(&r);
}

static void test_it_validate_fk_checks_follow_match_simple_and_match_full(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *scope[] = {"it_validate.kids", NULL};
    struct lb_fk_opts o = {.tables = scope, .samples = 5};
    struct lb_fk_report r = {0};
    struct lb_err err = {0};

    exec_ok(c, "CREATE TABLE it_validate.parents (a int, b int, PRIMARY KEY (a, b));"
               "INSERT INTO it_validate.parents VALUES (1, 1), (1, 2);"
               "CREATE TABLE it_validate.kids (id int PRIMARY KEY, a int, b int,"
               "  CONSTRAINT kids_simple FOREIGN KEY (a, b) REFERENCES it_validate.parents,"
               "  CONSTRAINT kids_full FOREIGN KEY (a, b) REFERENCES it_validate.parents MATCH FULL"
               "    NOT VALID);"
               "ALTER TABLE it_validate.kids DISABLE TRIGGER ALL;"
               "INSERT INTO it_validate.kids VALUES (1, 1, 1), (2, 1, NULL), (3, NULL, NULL),"
               " (4, 2, 2);"
               "ALTER TABLE it_validate.kids ENABLE TRIGGER ALL;");
    assert_int_equal(lb_validate_fk_violations(c, &o, &r, &err), 0);
    /* SIMPLE: a key with a NULL needs no parent; (2, 2) has none. */
    assert_int_equal(fk_named(&r, "kids_simple")->count, 1);
    assert_string_equal(fk_named(&r, "kids_simple")->samples[0], "4");
    /* FULL: (1, NULL) is itself a violation; all NULL is not. */
    assert_int_equal(fk_named(&r, "kids_full")->count, 2);
    lb_fk_report_free(&r);
    exec_ok(c, "DROP TABLE it_validate.kids, it_validate.parents");
}

static void test_it_validate_fk_count_in_key_ranges_equals_the_whole_count(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *scope[] = {"it_validate.kid", NULL};
    struct lb_fk_opts whole = {.tables = scope, .samples = 3, .merge = -1};
    struct lb_fk_opts ranges = {.tables = scope, .samples = 3, .parallel = 3,
                                .piece_bytes = 1};
    struct lb_fk_report a = {0}, b = {0};
    struct lb_err err = {0};
    const struct lb_fk_violation *x, *y;

    /* Parents with odd ids up to 200,000; children everywhere in that range;
     * parents deleted behind the key's back at both ends and in between. */
    exec_ok(c, "CREATE TABLE it_validate.par (id bigint PRIMARY KEY);"
               "INSERT INTO it_validate.par SELECT g FROM generate_series(1, 200000, 2) g;"
               "CREATE TABLE it_validate.kid (id int PRIMARY KEY,"
               "  pid bigint REFERENCES it_validate.par (id));"
               "INSERT INTO it_validate.kid SELECT g, ((g * 7) % 100000) * 2 + 1"
               " FROM generate_series(1, 50000) g;"
               "CREATE INDEX kid_pid ON it_validate.kid (pid);");
    exec_ok(c, "VACUUM ANALYZE it_validate.kid");
    exec_ok(c, "SET session_replication_role = replica;"
               "DELETE FROM it_validate.par WHERE id % 20000 = 1 OR id = 199999;"
               "RESET session_replication_role;");
    ranges.conninfo = g_conninfo;
    assert_int_equal(lb_validate_fk_violations(c, &whole, &a, &err), 0);
    assert_int_equal(lb_validate_fk_violations(c, &ranges, &b, &err), 0);
    x = fk_named(&a, "kid_pid_fkey");
    y = fk_named(&b, "kid_pid_fkey");
    assert_int_equal(x->pieces, 1);
    assert_int_equal(x->merge, 0);
    assert_int_equal(y->pieces, 12);
    assert_int_equal(y->merge, 1);
    assert_true(x->count > 0);
    assert_int_equal(y->count, x->count);
    assert_string_equal(y->samples[0], x->samples[0]);
    assert_string_equal(y->missing_refs[0], x->missing_refs[0]);
    lb_fk_report_free(&a);
    lb_fk_report_free(&b);
    exec_ok(c, "DROP TABLE it_validate.kid, it_validate.par");
}

static void test_it_validate_compare_checks_foreign_keys_unless_told_not_to(void **state)
{
    struct lb_pg *c = conn_or_skip(state);
    const char *names[] = {"it_validate.accts", NULL};
    struct lb_baseline *before;
    struct lb_comparison cmp;
    struct lb_findings f;
    const struct lb_finding *fk;

    make_ledger(c);
    before = baseline_detail(c, names, LB_DETAIL_ROWS, 0);
    exec_ok(c, "SET session_replication_role = replica;"
               "DELETE FROM it_validate.accts WHERE id IN (7, 8);"
               "RESET session_replication_role;");
    /* The parent was named: the constraint that references it is checked. */
    compare_ok(c, before, 1, &cmp, &f);
    assert_true(cmp.fks_checked);
    fk = finding(&f, "it_validate.ledger: fk ledger_acct_fkey");
    assert_non_null(fk);
    assert_false(fk->ok);
    assert_string_equal(fk->observed, "200 rows without a parent: id 6, 7, 106, 107, 206, "
                                      "207, 306, 307, 406, 407, \xe2\x80\xa6");
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    compare_ok(c, before, 0, &cmp, &f);
    assert_false(cmp.fks_checked);
    assert_null(finding(&f, "it_validate.ledger: fk ledger_acct_fkey"));
    lb_findings_free(&f);
    lb_comparison_free(&cmp);
    lb_baseline_free(before);
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
        cmocka_unit_test(test_it_validate_timestamptz_fingerprint_sees_a_microsecond_in_any_zone),
        cmocka_unit_test(test_it_validate_counts_tables_without_columns_and_empty_tables),
        cmocka_unit_test(test_it_validate_emptied_table_is_a_critical_finding),
        cmocka_unit_test(test_it_validate_baseline_gives_up_at_its_deadline_and_rolls_back),
        cmocka_unit_test(test_it_validate_workers_read_the_snapshot_the_first_connection_exported),
        cmocka_unit_test(test_it_validate_baseline_refuses_workers_that_reach_another_database),
        cmocka_unit_test(test_it_validate_parallel_baseline_in_block_ranges_equals_one_connection),
        cmocka_unit_test(test_it_validate_compare_names_the_3_changed_keys_of_10000_rows),
        cmocka_unit_test(test_it_validate_sketch_names_the_3_changed_keys_of_10000_rows),
        cmocka_unit_test(test_it_validate_compare_says_which_group_the_missing_rows_share),
        cmocka_unit_test(test_it_validate_sketch_says_which_group_the_missing_rows_share),
        cmocka_unit_test(test_it_validate_compare_tells_missing_extra_and_changed_apart),
        cmocka_unit_test(test_it_validate_compare_names_rows_of_a_composite_and_a_text_key),
        cmocka_unit_test(test_it_validate_compare_says_why_a_table_without_key_cannot_be_localised),
        cmocka_unit_test(test_it_validate_fk_violation_made_as_replica_is_found_and_named),
        cmocka_unit_test(test_it_validate_fk_checks_follow_match_simple_and_match_full),
        cmocka_unit_test(test_it_validate_fk_count_in_key_ranges_equals_the_whole_count),
        cmocka_unit_test(test_it_validate_compare_checks_foreign_keys_unless_told_not_to),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
