/* Unit tests of backup: the table-of-contents filter (on fixtures captured
 * from real pg_dump -Fc archives, see tests/fixtures/backup/README.md), the
 * provenance file, and where the PostgreSQL tools are found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifeboat/backup.h"

struct fixture {
    char *toc;
    char *schema;
};

static char *read_fixture(const char *name)
{
    char *path = lb_xasprintf("%s/backup/%s", LB_TEST_FIXTURES, name);
    struct lb_err err = {0};
    char *text = NULL;

    if (lb_file_read(path, &text, NULL, &err) != 0)
        fail_msg("fixture %s: %s", path, err.msg);
    free(path);
    return text;
}

static int setup_sandbox(void **state)
{
    struct fixture *f = lb_xcalloc(1, sizeof(*f));

    f->toc = read_fixture("sandbox.toc");
    f->schema = read_fixture("sandbox.schema.sql");
    *state = f;
    return 0;
}

static int setup_extras(void **state)
{
    struct fixture *f = lb_xcalloc(1, sizeof(*f));

    f->toc = read_fixture("extras.toc");
    f->schema = read_fixture("extras.schema.sql");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    free(f->toc);
    free(f->schema);
    free(f);
    return 0;
}

/* Filter for `tables`; fails the test on error. Caller frees. */
static char *filter(const struct fixture *f, const char *const *tables,
                    const char *const *existing)
{
    struct lb_err err = {0};
    char *out = NULL;
    int rc = lb_toc_filter(f->toc, f->schema, tables, existing, &out, &err);

    if (rc != 0)
        fail_msg("lb_toc_filter: %s", err.msg);
    assert_non_null(out);
    return out;
}

/*
 * The entries kept, each reduced to "TYPE SCHEMA TAG OWNER" (no dump ids),
 * one per line. Caller frees.
 */
static char *entries(const char *list)
{
    struct lb_buf b = {0};
    const char *line = list;

    while (*line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);

        if (len > 0 && line[0] != ';') {
            /* "123; 1259 16409 REST" → REST */
            const char *p = strchr(line, ';');
            int spaces = 0;

            assert_non_null(p);
            while (spaces < 3 && p < line + len) {
                if (*p == ' ')
                    spaces++;
                p++;
            }
            lb_buf_add(&b, p, (size_t)(line + len - p));
            lb_buf_addc(&b, '\n');
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    return lb_buf_steal(&b);
}

static void test_backup_toc_filter_keeps_inventory_whole_with_the_foreign_key_pointing_at_it(
    void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"inventory", NULL};
    char *out = filter(f, tables, NULL);
    char *got = entries(out);

    /* In TOC order: table, identity sequence, data, sequence position,
     * unique + primary key, FK-column index, trigger, its own FK, and the
     * foreign key of transactions that points at it. */
    assert_string_equal(got,
                        "TABLE public inventory lifeboat\n"
                        "SEQUENCE public inventory_id_seq lifeboat\n"
                        "TABLE DATA public inventory lifeboat\n"
                        "SEQUENCE SET public inventory_id_seq lifeboat\n"
                        "CONSTRAINT public inventory inventory_account_id_sku_key lifeboat\n"
                        "CONSTRAINT public inventory inventory_pkey lifeboat\n"
                        "INDEX public inventory_account_id_idx lifeboat\n"
                        "TRIGGER public inventory inventory_touch_updated_at lifeboat\n"
                        "FK CONSTRAINT public inventory inventory_account_id_fkey lifeboat\n"
                        "FK CONSTRAINT public transactions transactions_inventory_id_fkey lifeboat\n");
    assert_null(strstr(got, "accounts"));
    assert_null(strstr(got, "users"));
    assert_null(strstr(got, "TABLE public transactions"));
    free(got);
    free(out);
}

static void test_backup_toc_filter_keeps_the_dump_ids_of_the_original_lines(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"inventory", NULL};
    char *out = filter(f, tables, NULL);
    const char *line = strstr(f->toc, "TABLE DATA public inventory");
    const char *start = line;

    assert_non_null(line);
    while (start > f->toc && start[-1] != '\n')
        start--;
    /* The whole original line, dump id included, is in the list. */
    {
        char *orig = lb_xstrndup(start, (size_t)(strchr(line, '\n') - start));
        assert_non_null(strstr(out, orig));
        free(orig);
    }
    free(out);
}

static void test_backup_toc_filter_leaves_out_a_foreign_key_that_exists_on_the_target(
    void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"inventory", NULL};
    const char *const existing[] = {"accounts_pkey", "transactions_inventory_id_fkey", NULL};
    char *out = filter(f, tables, existing);

    assert_null(strstr(out, "transactions_inventory_id_fkey"));
    /* Its own foreign key is re-created with the table, existing or not. */
    assert_non_null(strstr(out, "FK CONSTRAINT public inventory inventory_account_id_fkey"));
    free(out);
}

static void test_backup_toc_filter_reads_schema_qualified_and_quoted_names_alike(void **state)
{
    const struct fixture *f = *state;
    const char *const bare[] = {"inventory", NULL};
    const char *const qualified[] = {"public.inventory", NULL};
    const char *const quoted[] = {"\"public\".\"inventory\"", NULL};
    char *a, *b, *c, *tmp;

    tmp = filter(f, bare, NULL);
    a = entries(tmp);
    free(tmp);
    tmp = filter(f, qualified, NULL);
    b = entries(tmp);
    free(tmp);
    tmp = filter(f, quoted, NULL);
    c = entries(tmp);
    free(tmp);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
}

static void test_backup_toc_filter_refuses_a_table_that_is_not_in_the_archive(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"inventory", "invoices", NULL};
    struct lb_err err = {0};
    char *out = NULL;

    assert_int_equal(lb_toc_filter(f->toc, f->schema, tables, NULL, &out, &err), LB_ENOTFOUND);
    assert_null(out);
    assert_string_equal(err.msg, "table 'invoices' is not in the archive");
}

static void test_backup_toc_filter_restores_two_tables_with_the_key_between_them(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"accounts", "users", NULL};
    const char *const existing[] = {"users_account_id_fkey", "inventory_account_id_fkey", NULL};
    char *out = filter(f, tables, existing);

    /* users' own FK to accounts stays even though the name "exists". */
    assert_non_null(strstr(out, "FK CONSTRAINT public users users_account_id_fkey"));
    assert_null(strstr(out, "inventory_account_id_fkey"));
    assert_non_null(strstr(out, "transactions_account_id_fkey"));
    assert_non_null(strstr(out, "TABLE DATA public accounts"));
    assert_non_null(strstr(out, "TABLE DATA public users"));
    assert_null(strstr(out, "TABLE DATA public inventory"));
    free(out);
}

static void test_backup_toc_filter_does_not_take_lifeboat_guard_along(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"accounts", "users", "inventory", "transactions", NULL};
    char *out = filter(f, tables, NULL);

    assert_null(strstr(out, "lifeboat_guard"));
    assert_null(strstr(out, "FUNCTION"));
    free(out);
}

static void test_backup_toc_filter_keeps_everything_hanging_off_a_quoted_table(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"shop.\"Order Lines\"", NULL};
    char *out = filter(f, tables, NULL);
    char *got = entries(out);

    assert_string_equal(got,
                        "TABLE shop Order Lines lifeboat\n"
                        "COMMENT shop TABLE \"Order Lines\" lifeboat\n"
                        "COMMENT shop COLUMN \"Order Lines\".qty lifeboat\n"
                        "ACL shop TABLE \"Order Lines\" lifeboat\n"
                        "SEQUENCE shop Order Lines_Line No_seq lifeboat\n"
                        "SEQUENCE OWNED BY shop Order Lines_Line No_seq lifeboat\n"
                        "ACL shop SEQUENCE \"Order Lines_Line No_seq\" lifeboat\n"
                        "DEFAULT shop Order Lines Line No lifeboat\n"
                        "TABLE DATA shop Order Lines lifeboat\n"
                        "SEQUENCE SET shop Order Lines_Line No_seq lifeboat\n"
                        "CONSTRAINT shop Order Lines Order Lines_pkey lifeboat\n"
                        "CHECK CONSTRAINT shop Order Lines qty_small lifeboat\n"
                        "COMMENT shop CONSTRAINT qty_small ON \"Order Lines\" lifeboat\n"
                        "INDEX shop on lifeboat\n"
                        "INDEX shop order_lines_lower lifeboat\n"
                        "COMMENT shop INDEX order_lines_lower lifeboat\n"
                        "STATISTICS shop lines_stats lifeboat\n"
                        "RULE shop Order Lines audit_ins lifeboat\n"
                        "TRIGGER shop Order Lines Touch Lines lifeboat\n"
                        "FK CONSTRAINT shop order_refs Order Ref FK lifeboat\n"
                        "ROW SECURITY shop Order Lines lifeboat\n"
                        "POLICY shop Order Lines readers lifeboat\n");
    free(got);
    free(out);
}

static void test_backup_toc_filter_tells_same_named_tables_of_two_schemas_apart(void **state)
{
    const struct fixture *f = *state;
    const char *const pub[] = {"notes", NULL};
    const char *const shop[] = {"shop.notes", NULL};
    char *a = filter(f, pub, NULL);
    char *b = filter(f, shop, NULL);

    /* A bare name prefers public; serial sequences come along. */
    assert_non_null(strstr(a, "TABLE DATA public notes"));
    assert_non_null(strstr(a, "CONSTRAINT public notes notes_pkey"));
    assert_non_null(strstr(a, "SEQUENCE OWNED BY public notes_id_seq"));
    assert_non_null(strstr(a, "DEFAULT public notes id"));
    assert_non_null(strstr(a, "SEQUENCE SET public notes_id_seq"));
    assert_non_null(strstr(a, "ACL public TABLE notes"));
    assert_non_null(strstr(a, "FK CONSTRAINT shop notes notes_note_id_fkey"));
    assert_null(strstr(a, "shop notes notes_pkey"));
    assert_null(strstr(a, "TABLE DATA shop notes"));

    assert_non_null(strstr(b, "TABLE DATA shop notes"));
    assert_non_null(strstr(b, "CONSTRAINT shop notes notes_pkey"));
    assert_null(strstr(b, "public notes"));
    free(a);
    free(b);
}

static void test_backup_toc_filter_is_not_fooled_by_a_header_inside_a_function_body(
    void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"shop.fake", NULL};
    struct lb_err err = {0};
    char *out = NULL;

    /* extras.schema.sql has "-- Name: fake; Type: TABLE" inside $$ ... $$. */
    assert_non_null(strstr(f->schema, "Name: fake; Type: TABLE"));
    assert_int_equal(lb_toc_filter(f->toc, f->schema, tables, NULL, &out, &err), LB_ENOTFOUND);
    assert_null(out);
}

static void test_backup_toc_filter_leaves_a_sequence_nobody_owns_alone(void **state)
{
    const struct fixture *f = *state;
    const char *const tables[] = {"shop.audit", "shop.order_refs", NULL};
    char *out = filter(f, tables, NULL);

    assert_non_null(strstr(out, "TABLE DATA shop audit"));
    assert_non_null(strstr(out, "FK CONSTRAINT shop order_refs Order Ref FK"));
    assert_null(strstr(out, "free_seq"));
    assert_null(strstr(out, "Order Lines lifeboat"));
    free(out);
}

/* ---- provenance ------------------------------------------------------ */

static char *temp_dir(void)
{
    char *tmpl = lb_xstrdup("/tmp/lb-test-backup-XXXXXX");

    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

static void test_backup_provenance_path_sits_next_to_the_artifact(void **state)
{
    char *p = lb_provenance_path("/b/nightly.dump");

    (void)state;
    assert_string_equal(p, "/b/nightly.dump.provenance.json");
    free(p);
}

static void test_backup_provenance_survives_a_write_and_a_read(void **state)
{
    struct lb_prov_table tables[] = {{(char *)"public.accounts", 1000},
                                     {(char *)"public.transactions", 9007199254740991LL}};
    struct lb_provenance p = {0};
    struct lb_provenance *q = NULL;
    struct lb_err err = {0};
    char *dir = temp_dir();
    char *artifact = lb_path_join(dir, "nightly.dump");
    char *json = NULL;
    char *path = lb_provenance_path(artifact);

    (void)state;
    p.kind = (char *)"pg_dump";
    p.source_system_identifier = (char *)"7441234567890123456";
    p.source_cluster_name = (char *)"sandbox-us-east-1";
    p.database = (char *)"inventory";
    p.server_version = (char *)"15.18";
    p.taken_at = 1795700000123LL;
    p.finished_at = 1795700004567LL;
    p.tool = (char *)"pg_dump (PostgreSQL) 15.18";
    p.tables = tables;
    p.ntables = 2;
    assert_int_equal(lb_provenance_write(artifact, &p, &err), 0);
    assert_int_equal(lb_file_read(path, &json, NULL, &err), 0);
    /* Human-readable times sit beside the numbers. */
    assert_non_null(strstr(json, "\"taken_at\":"));
    assert_non_null(strstr(json, "T"));
    assert_non_null(strstr(json, "\"taken_at_ms\":"));

    assert_int_equal(lb_provenance_read(artifact, &q, &err), 0);
    assert_string_equal(q->kind, "pg_dump");
    assert_string_equal(q->source_system_identifier, "7441234567890123456");
    assert_string_equal(q->source_cluster_name, "sandbox-us-east-1");
    assert_string_equal(q->database, "inventory");
    assert_string_equal(q->server_version, "15.18");
    assert_string_equal(q->tool, "pg_dump (PostgreSQL) 15.18");
    assert_int_equal(q->taken_at, 1795700000123LL);
    assert_int_equal(q->finished_at, 1795700004567LL);
    assert_int_equal(q->ntables, 2);
    assert_string_equal(q->tables[0].name, "public.accounts");
    assert_int_equal(q->tables[0].rows, 1000);
    assert_string_equal(q->tables[1].name, "public.transactions");
    assert_int_equal(q->tables[1].rows, 9007199254740991LL);
    lb_provenance_free(q);
    unlink(path);
    rmdir(dir);
    free(json);
    free(path);
    free(artifact);
    free(dir);
}

static void test_backup_provenance_of_a_physical_backup_keeps_its_wal_position(void **state)
{
    struct lb_provenance p = {0};
    struct lb_provenance *q = NULL;
    struct lb_err err = {0};
    char *dir = temp_dir();
    char *artifact = lb_path_join(dir, "repo2");
    char *json = NULL;
    char *path = lb_provenance_path(artifact);

    (void)state;
    p.kind = (char *)"pgbackrest";
    p.backup_label = (char *)"20261126-161909F";
    p.start_lsn = (char *)"0/6000028";
    p.stop_lsn = (char *)"0/7000050";
    p.start_wal = (char *)"000000010000000000000006";
    p.stop_wal = (char *)"000000010000000000000007";
    p.timeline = 1;
    p.repo = 2;
    p.taken_at = 1795709949000LL;
    assert_int_equal(lb_provenance_write(artifact, &p, &err), 0);
    assert_int_equal(lb_provenance_read(artifact, &q, &err), 0);
    assert_string_equal(q->backup_label, "20261126-161909F");
    assert_string_equal(q->start_lsn, "0/6000028");
    assert_string_equal(q->stop_lsn, "0/7000050");
    assert_string_equal(q->start_wal, "000000010000000000000006");
    assert_string_equal(q->stop_wal, "000000010000000000000007");
    assert_int_equal(q->timeline, 1);
    assert_int_equal(q->repo, 2);
    lb_provenance_free(q);
    q = NULL;

    /* A pg_dump's provenance has none of these: its file stays as it was. */
    memset(&p, 0, sizeof(p));
    p.kind = (char *)"pg_dump";
    assert_int_equal(lb_provenance_write(artifact, &p, &err), 0);
    assert_int_equal(lb_file_read(path, &json, NULL, &err), 0);
    assert_null(strstr(json, "start_lsn"));
    assert_null(strstr(json, "\"repo\""));
    assert_int_equal(lb_provenance_read(artifact, &q, &err), 0);
    assert_null(q->start_lsn);
    assert_int_equal(q->timeline, 0);
    assert_int_equal(q->repo, 0);
    lb_provenance_free(q);
    unlink(path);
    rmdir(dir);
    free(json);
    free(path);
    free(artifact);
    free(dir);
}

static void test_backup_provenance_read_falls_back_to_the_iso_time(void **state)
{
    const char *json = "{\"kind\":\"pg_dump\",\"taken_at\":\"2026-01-01T00:00:01.500Z\","
                       "\"tables\":{\"public.a\":3}}";
    struct lb_provenance *q = NULL;
    struct lb_err err = {0};
    char *dir = temp_dir();
    char *artifact = lb_path_join(dir, "x.dump");
    char *path = lb_provenance_path(artifact);
    int64_t expect = 0;

    (void)state;
    assert_int_equal(lb_file_write(path, json, strlen(json), &err), 0);
    assert_int_equal(lb_provenance_read(artifact, &q, &err), 0);
    assert_int_equal(lb_wall_parse("2026-01-01T00:00:01.500Z", &expect), 0);
    assert_int_equal(q->taken_at, expect);
    assert_int_equal(q->finished_at, 0);
    assert_null(q->source_system_identifier);
    assert_int_equal(q->ntables, 1);
    assert_int_equal(q->tables[0].rows, 3);
    lb_provenance_free(q);
    unlink(path);
    rmdir(dir);
    free(path);
    free(artifact);
    free(dir);
}

static void test_backup_provenance_read_says_not_found_without_a_file(void **state)
{
    struct lb_provenance *q = NULL;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_provenance_read("/nonexistent/lb/nightly.dump", &q, &err), LB_ENOTFOUND);
    assert_null(q);
    assert_non_null(strstr(err.msg, "no provenance file"));
}

static void test_backup_provenance_read_rejects_broken_json(void **state)
{
    struct lb_provenance *q = NULL;
    struct lb_err err = {0};
    char *dir = temp_dir();
    char *artifact = lb_path_join(dir, "x.dump");
    char *path = lb_provenance_path(artifact);

    (void)state;
    assert_int_equal(lb_file_write(path, "{\"kind\":", 8, &err), 0);
    assert_int_equal(lb_provenance_read(artifact, &q, &err), LB_EINVAL);
    assert_null(q);
    unlink(path);
    rmdir(dir);
    free(path);
    free(artifact);
    free(dir);
}

/* ---- tools ----------------------------------------------------------- */

static void test_backup_pg_tool_uses_the_bindir_from_the_environment(void **state)
{
    char *old = lb_xstrdup(getenv("LIFEBOAT_PG_BINDIR"));
    char *dir, *tool;

    (void)state;
    setenv("LIFEBOAT_PG_BINDIR", "/opt/pg/bin", 1);
    dir = lb_pg_bindir();
    tool = lb_pg_tool("pg_restore");
    assert_string_equal(dir, "/opt/pg/bin");
    assert_string_equal(tool, "/opt/pg/bin/pg_restore");
    free(dir);
    free(tool);
    if (old != NULL)
        setenv("LIFEBOAT_PG_BINDIR", old, 1);
    else
        unsetenv("LIFEBOAT_PG_BINDIR");
    free(old);
}

static void test_backup_pg_bindir_finds_a_directory_holding_pg_ctl_or_none(void **state)
{
    char *old = lb_xstrdup(getenv("LIFEBOAT_PG_BINDIR"));
    char *dir, *tool;

    (void)state;
    unsetenv("LIFEBOAT_PG_BINDIR");
    dir = lb_pg_bindir();
    tool = lb_pg_tool("pg_dump");
    if (dir != NULL) {
        char *ctl = lb_path_join(dir, "pg_ctl");
        assert_true(lb_str_starts(dir, "/usr/lib/postgresql/"));
        assert_true(access(ctl, X_OK) == 0);
        assert_true(lb_str_ends(tool, "/bin/pg_dump"));
        free(ctl);
    } else {
        assert_string_equal(tool, "pg_dump");   /* left to PATH */
    }
    free(dir);
    free(tool);
    if (old != NULL)
        setenv("LIFEBOAT_PG_BINDIR", old, 1);
    free(old);
}

static void test_backup_pg_restore_refuses_a_missing_archive(void **state)
{
    struct lb_restore_opts o = {0};
    struct lb_tool_run run = {0};
    struct lb_err err = {0};

    (void)state;
    o.conninfo = "host=127.0.0.1 dbname=x";
    o.archive = "/nonexistent/lb/nightly.dump";
    o.deadline_ms = LB_NO_DEADLINE;
    assert_int_equal(lb_backup_pg_restore(&o, &run, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no such archive"));
    lb_tool_run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_keeps_inventory_whole_with_the_foreign_key_pointing_at_it,
            setup_sandbox, teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_keeps_the_dump_ids_of_the_original_lines, setup_sandbox,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_leaves_out_a_foreign_key_that_exists_on_the_target,
            setup_sandbox, teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_reads_schema_qualified_and_quoted_names_alike, setup_sandbox,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_refuses_a_table_that_is_not_in_the_archive, setup_sandbox,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_restores_two_tables_with_the_key_between_them,
            setup_sandbox, teardown),
        cmocka_unit_test_setup_teardown(test_backup_toc_filter_does_not_take_lifeboat_guard_along,
                                        setup_sandbox, teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_keeps_everything_hanging_off_a_quoted_table, setup_extras,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_tells_same_named_tables_of_two_schemas_apart, setup_extras,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_is_not_fooled_by_a_header_inside_a_function_body,
            setup_extras, teardown),
        cmocka_unit_test_setup_teardown(
            test_backup_toc_filter_leaves_a_sequence_nobody_owns_alone, setup_extras, teardown),
        cmocka_unit_test(test_backup_provenance_path_sits_next_to_the_artifact),
        cmocka_unit_test(test_backup_provenance_survives_a_write_and_a_read),
        cmocka_unit_test(test_backup_provenance_read_falls_back_to_the_iso_time),
        cmocka_unit_test(test_backup_provenance_of_a_physical_backup_keeps_its_wal_position),
        cmocka_unit_test(test_backup_provenance_read_says_not_found_without_a_file),
        cmocka_unit_test(test_backup_provenance_read_rejects_broken_json),
        cmocka_unit_test(test_backup_pg_tool_uses_the_bindir_from_the_environment),
        cmocka_unit_test(test_backup_pg_bindir_finds_a_directory_holding_pg_ctl_or_none),
        cmocka_unit_test(test_backup_pg_restore_refuses_a_missing_archive),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
