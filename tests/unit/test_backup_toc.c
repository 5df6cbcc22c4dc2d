/* Unit tests of lb_toc_summary_parse, what backup:info() reports of a
 * pg_dump archive, on `pg_restore --list` outputs captured from real
 * archives (tests/fixtures/backup/README.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lifeboat/backup.h"

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

static int has_table(const struct lb_toc_summary *s, const char *name)
{
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i], name) == 0)
            return 1;
    return 0;
}

static void test_backup_toc_summary_reads_the_sandbox_archive_header(void **state)
{
    (void)state;
    char *toc = read_fixture("sandbox.toc");
    struct lb_toc_summary *s = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_toc_summary_parse(toc, &s, &err), 0);
    assert_string_equal(s->archive_created, "2026-11-26 15:16:26 UTC");
    assert_string_equal(s->dbname, "inventory");
    assert_string_equal(s->format, "CUSTOM");
    assert_string_equal(s->compression, "-1");
    assert_string_equal(s->dumped_from, "15.18 (Debian 15.18-0+deb12u1)");
    assert_string_equal(s->dumped_by, "15.18 (Debian 15.18-0+deb12u1)");
    assert_int_equal(s->header_entries, 39);
    lb_toc_summary_free(s);
    free(toc);
}

static void test_backup_toc_summary_counts_entries_and_lists_tables(void **state)
{
    (void)state;
    char *toc = read_fixture("sandbox.toc");
    struct lb_toc_summary *s = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_toc_summary_parse(toc, &s, &err), 0);
    assert_int_equal(s->entries, 35);        /* lines not starting with ';' */
    assert_int_equal(s->data_entries, 5);    /* TABLE DATA */
    assert_int_equal(s->ntables, 5);
    assert_true(has_table(s, "public.accounts"));
    assert_true(has_table(s, "public.users"));
    assert_true(has_table(s, "public.inventory"));
    assert_true(has_table(s, "public.transactions"));
    assert_true(has_table(s, "public.lifeboat_guard"));
    assert_null(s->tables[s->ntables]);
    lb_toc_summary_free(s);
    free(toc);
}

static void test_backup_toc_summary_keeps_table_names_with_spaces(void **state)
{
    (void)state;
    char *toc = read_fixture("extras.toc");
    struct lb_toc_summary *s = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_toc_summary_parse(toc, &s, &err), 0);
    assert_string_equal(s->dbname, "extras");
    assert_int_equal(s->ntables, 5);
    assert_int_equal(s->data_entries, 5);
    assert_true(has_table(s, "shop.Order Lines"));
    assert_true(has_table(s, "public.notes"));
    assert_true(has_table(s, "shop.notes"));
    /* ACL/COMMENT lines naming "TABLE x" are not tables. */
    assert_false(has_table(s, "public.TABLE notes"));
    lb_toc_summary_free(s);
    free(toc);
}

static void test_backup_toc_summary_reads_crlf_and_a_missing_last_newline(void **state)
{
    (void)state;
    const char *toc = ";\r\n; Archive created at 2026-01-02 03:04:05 UTC\r\n"
                      ";     dbname: shop\r\n"
                      "12; 1259 16386 TABLE public orders app\r\n"
                      "13; 0 16386 TABLE DATA public orders app";
    struct lb_toc_summary *s = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_toc_summary_parse(toc, &s, &err), 0);
    assert_string_equal(s->archive_created, "2026-01-02 03:04:05 UTC");
    assert_string_equal(s->dbname, "shop");
    assert_int_equal(s->header_entries, -1);
    assert_int_equal(s->entries, 2);
    assert_int_equal(s->data_entries, 1);
    assert_int_equal(s->ntables, 1);
    assert_string_equal(s->tables[0], "public.orders");
    lb_toc_summary_free(s);
}

static void test_backup_toc_summary_rejects_text_that_is_no_listing(void **state)
{
    (void)state;
    struct lb_toc_summary *s = (struct lb_toc_summary *)&state;
    struct lb_err err = {0};

    assert_int_equal(lb_toc_summary_parse("pg_restore: error: input file is too short\n",
                                          &s, &err), LB_EINVAL);
    assert_null(s);
    assert_int_equal(lb_toc_summary_parse("", &s, &err), LB_EINVAL);
    assert_int_equal(lb_toc_summary_parse(NULL, &s, &err), LB_EINVAL);
}

static void test_backup_toc_summary_of_a_missing_archive_is_not_found(void **state)
{
    (void)state;
    struct lb_toc_summary *s = NULL;
    struct lb_err err = {0};

    assert_int_equal(lb_backup_toc_summary("/nonexistent/lifeboat/x.dump",
                                           lb_mono_ms() + 5000, &s, &err), LB_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.msg, "x.dump"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_toc_summary_reads_the_sandbox_archive_header),
        cmocka_unit_test(test_backup_toc_summary_counts_entries_and_lists_tables),
        cmocka_unit_test(test_backup_toc_summary_keeps_table_names_with_spaces),
        cmocka_unit_test(test_backup_toc_summary_reads_crlf_and_a_missing_last_newline),
        cmocka_unit_test(test_backup_toc_summary_rejects_text_that_is_no_listing),
        cmocka_unit_test(test_backup_toc_summary_of_a_missing_archive_is_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
