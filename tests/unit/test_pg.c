/*
 * Unit tests of pg. The conninfo helpers and SQLSTATE classes are pure. The
 * rest needs a real PostgreSQL: set LB_TEST_CONNINFO (a superuser or owner
 * of a scratch database) or those tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lifeboat/pg.h"

/* ---- conninfo helpers ------------------------------------------------ */

static void test_pg_conninfo_redact_masks_the_password_of_key_value_text(void **state)
{
    char *r = lb_pg_conninfo_redact("host=db port=5432 user=app password=s3cret dbname=prod");

    (void)state;
    assert_string_equal(r, "user=app password=**** dbname=prod host=db port=5432");
    free(r);
}

static void test_pg_conninfo_redact_masks_the_password_of_a_uri(void **state)
{
    char *r = lb_pg_conninfo_redact("postgresql://u:secret@h:5/db?sslmode=require");

    (void)state;
    assert_string_equal(r, "user=u password=**** dbname=db host=h port=5 sslmode=require");
    free(r);
    r = lb_pg_conninfo_redact("postgresql://h/db?password=secret&application_name=x%20y");
    assert_string_equal(r, "password=**** dbname=db host=h application_name='x y'");
    free(r);
}

static void test_pg_conninfo_redact_of_unparseable_text_still_hides_passwords(void **state)
{
    char *r = lb_pg_conninfo_redact("host=db password=s3cret oops");

    (void)state;
    assert_null(strstr(r, "s3cret"));
    free(r);
}

static void test_pg_conninfo_split_password_separates_it_for_a_child_tool(void **state)
{
    struct lb_err err = {0};
    char *without = NULL, *password = NULL;

    (void)state;
    assert_int_equal(lb_pg_conninfo_split_password("postgresql://u:it's%20x@h:5/db", &without,
                                                   &password, &err),
                     0);
    assert_string_equal(without, "user=u dbname=db host=h port=5");
    assert_string_equal(password, "it's x");
    free(without);
    free(password);
    assert_int_equal(lb_pg_conninfo_split_password("host=h dbname='my db'", &without, &password,
                                                   &err),
                     0);
    assert_string_equal(without, "dbname='my db' host=h");
    assert_null(password);
    free(without);
}

static void test_pg_conninfo_split_password_rejects_garbage_without_echoing_it(void **state)
{
    struct lb_err err = {0};
    char *without = NULL, *password = NULL;

    (void)state;
    assert_int_equal(lb_pg_conninfo_split_password("host=h password=pa zq9x", &without,
                                                   &password, &err),
                     LB_EINVAL);
    assert_null(without);
    assert_null(password);
    assert_null(strstr(err.msg, "zq9x"));
    assert_non_null(strstr(err.msg, "connection string"));
}

static void test_pg_conninfo_with_replaces_or_adds_a_keyword(void **state)
{
    char *r;

    (void)state;
    r = lb_pg_conninfo_with("host=h dbname=prod", "dbname", "restore_check");
    assert_string_equal(r, "dbname=restore_check host=h");
    free(r);
    r = lb_pg_conninfo_with("postgresql://u@h/db", "application_name", "it's");
    assert_string_equal(r, "user=u dbname=db host=h application_name='it\\'s'");
    free(r);
    r = lb_pg_conninfo_with("host=h password=x", "password", NULL);
    assert_string_equal(r, "host=h");
    free(r);
    assert_null(lb_pg_conninfo_with("host=h", "no_such_keyword", "x"));
}

static void test_pg_conninfo_get_reads_one_keyword(void **state)
{
    char *v;

    (void)state;
    v = lb_pg_conninfo_get("postgresql://u:pw@h:5433/db", "port");
    assert_string_equal(v, "5433");
    free(v);
    v = lb_pg_conninfo_get("host='a b' dbname=x", "host");
    assert_string_equal(v, "a b");
    free(v);
    assert_null(lb_pg_conninfo_get("host=h", "dbname"));
    assert_null(lb_pg_conninfo_get("host=h", "nonsense"));
}

static void test_pg_classify_groups_sqlstates(void **state)
{
    (void)state;
    assert_int_equal(lb_pg_classify("08006"), LB_PG_ERR_CONNECTION);
    assert_int_equal(lb_pg_classify("08001"), LB_PG_ERR_CONNECTION);
    assert_int_equal(lb_pg_classify("57P01"), LB_PG_ERR_CONNECTION);
    assert_int_equal(lb_pg_classify("57P03"), LB_PG_ERR_CONNECTION);
    assert_int_equal(lb_pg_classify("57014"), LB_PG_ERR_CANCELED);
    assert_int_equal(lb_pg_classify("42P01"), LB_PG_ERR_UNDEFINED);
    assert_int_equal(lb_pg_classify("42883"), LB_PG_ERR_UNDEFINED);
    assert_int_equal(lb_pg_classify("42703"), LB_PG_ERR_UNDEFINED);
    assert_int_equal(lb_pg_classify("42501"), LB_PG_ERR_PERMISSION);
    assert_int_equal(lb_pg_classify("23505"), LB_PG_ERR_CONSTRAINT);
    assert_int_equal(lb_pg_classify("23503"), LB_PG_ERR_CONSTRAINT);
    assert_int_equal(lb_pg_classify("40001"), LB_PG_ERR_RETRY);
    assert_int_equal(lb_pg_classify("40P01"), LB_PG_ERR_RETRY);
    assert_int_equal(lb_pg_classify("22012"), LB_PG_ERR_OTHER);
    assert_int_equal(lb_pg_classify(""), LB_PG_ERR_OTHER);
    assert_int_equal(lb_pg_classify(NULL), LB_PG_ERR_OTHER);
}

static void test_pg_quote_ident_quotes_each_part(void **state)
{
    char *q;

    (void)state;
    q = lb_pg_quote_ident(NULL, "inventory", 0);
    assert_string_equal(q, "\"inventory\"");
    free(q);
    q = lb_pg_quote_ident(NULL, "public.inventory", 1);
    assert_string_equal(q, "\"public\".\"inventory\"");
    free(q);
    q = lb_pg_quote_ident(NULL, "public.inventory", 0);
    assert_string_equal(q, "\"public.inventory\"");
    free(q);
    q = lb_pg_quote_ident(NULL, "\"my.schema\".Orders", 1);
    assert_string_equal(q, "\"my.schema\".\"Orders\"");
    free(q);
    q = lb_pg_quote_ident(NULL, "we\"ird", 1);
    assert_string_equal(q, "\"we\"\"ird\"");
    free(q);
    assert_null(lb_pg_quote_ident(NULL, "", 1));
}

/* ---- connecting without a server ------------------------------------- */

static void test_pg_connect_failure_never_shows_the_password(void **state)
{
    struct lb_pg *c = NULL;
    struct lb_err err = {0};
    int rc;

    (void)state;
    /* Port 1 on loopback: refused at once. */
    rc = lb_pg_connect("postgresql://app:hunter2secret@127.0.0.1:1/db?connect_timeout=2",
                       lb_mono_ms() + 5000, &c, &err);
    assert_int_equal(rc, LB_EDB);
    assert_null(c);
    assert_null(strstr(err.msg, "hunter2secret"));
    assert_non_null(strstr(err.msg, "connect"));
    assert_string_equal(err.sqlstate, "08001");
}

static void test_pg_connect_to_a_silent_server_times_out_at_the_deadline(void **state)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    struct lb_pg *c = NULL;
    struct lb_err err = {0};
    char conninfo[128];
    int64_t t0;
    int fd;

    (void)state;
    /* A socket that completes TCP handshakes but never answers. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d sslmode=disable",
             ntohs(addr.sin_port));
    t0 = lb_mono_ms();
    assert_int_equal(lb_pg_connect(conninfo, t0 + 300, &c, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 1500);
    assert_null(c);
    close(fd);
}

/* ---- against a real server (LB_TEST_CONNINFO) ------------------------- */

static struct lb_pg *connect_or_skip(void)
{
    const char *conninfo = getenv("LB_TEST_CONNINFO");
    struct lb_pg *c = NULL;
    struct lb_err err = {0};

    if (conninfo == NULL || *conninfo == '\0')
        return NULL;
    if (lb_pg_connect(conninfo, lb_mono_ms() + 10000, &c, &err) != 0)
        fail_msg("LB_TEST_CONNINFO is set but connecting failed: %s", err.msg);
    return c;
}

static int setup_conn(void **state)
{
    *state = connect_or_skip();
    return 0;
}

static int teardown_conn(void **state)
{
    lb_pg_close(*state);
    lb_interrupt_reset();
    return 0;
}

#define CONN_OR_SKIP(c)          \
    struct lb_pg *c = *state;    \
    if (c == NULL)               \
        skip()

static void test_pg_connect_reports_what_libpq_sees(void **state)
{
    struct lb_err err = {0};
    char *app = NULL;
    CONN_OR_SKIP(c);

    assert_true(lb_pg_ok(c));
    assert_non_null(lb_pg_host(c));
    assert_non_null(lb_pg_port(c));
    assert_non_null(lb_pg_db(c));
    assert_non_null(lb_pg_user(c));
    assert_true(lb_pg_server_version(c) >= 100000);
    assert_int_equal(lb_pg_scalar(c, "SELECT current_setting('application_name')", 0, NULL,
                                  lb_mono_ms() + 5000, &app, &err),
                     0);
    assert_string_equal(app, "lifeboat");
    free(app);
}

static void test_pg_connect_keeps_an_application_name_from_the_conninfo(void **state)
{
    char *conninfo = lb_pg_conninfo_with(getenv("LB_TEST_CONNINFO"), "application_name", "mine");
    struct lb_pg *c2 = NULL;
    struct lb_err err = {0};
    char *app = NULL;
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_connect(conninfo, lb_mono_ms() + 10000, &c2, &err), 0);
    assert_int_equal(lb_pg_scalar(c2, "SELECT current_setting('application_name')", 0, NULL,
                                  lb_mono_ms() + 5000, &app, &err),
                     0);
    assert_string_equal(app, "mine");
    free(app);
    free(conninfo);
    lb_pg_close(c2);
}

static void test_pg_query_returns_typed_columns(void **state)
{
    struct lb_pg_result r;
    struct lb_err err = {0};
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_query(c,
                                 "SELECT 1::int2 AS a, 2::int4 AS b, 3::int8 AS c, 4::oid AS d, "
                                 "1.5::float4 AS e, 2.5::float8 AS f, true AS g, 'x'::text AS h, "
                                 "1.25::numeric AS i",
                                 0, NULL, lb_mono_ms() + 5000, &r, &err),
                     0);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.ncols, 9);
    assert_string_equal(r.colnames[0], "a");
    assert_string_equal(r.colnames[8], "i");
    assert_int_equal(r.kinds[0], LB_PG_INT);
    assert_int_equal(r.kinds[1], LB_PG_INT);
    assert_int_equal(r.kinds[2], LB_PG_INT);
    assert_int_equal(r.kinds[3], LB_PG_INT);
    assert_int_equal(r.kinds[4], LB_PG_FLOAT);
    assert_int_equal(r.kinds[5], LB_PG_FLOAT);
    assert_int_equal(r.kinds[6], LB_PG_BOOL);
    assert_int_equal(r.kinds[7], LB_PG_TEXT);
    assert_int_equal(r.kinds[8], LB_PG_TEXT);
    assert_string_equal(lb_pg_value(&r, 0, 2), "3");
    assert_string_equal(lb_pg_value(&r, 0, 6), "t");
    assert_string_equal(lb_pg_value(&r, 0, 8), "1.25");
    assert_null(lb_pg_value(&r, 1, 0));
    assert_null(lb_pg_value(&r, 0, 9));
    assert_int_equal(r.affected, 1);
    assert_string_equal(r.command, "SELECT 1");
    lb_pg_result_free(&r);
}

static void test_pg_query_passes_parameters_and_nulls(void **state)
{
    const char *values[] = {"41", NULL, "it's; DROP TABLE x"};
    struct lb_pg_result r;
    struct lb_err err = {0};
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_query(c, "SELECT $1::int + 1, $2::text, $2::text IS NULL, $3::text",
                                 3, values, lb_mono_ms() + 5000, &r, &err),
                     0);
    assert_string_equal(lb_pg_value(&r, 0, 0), "42");
    assert_null(lb_pg_value(&r, 0, 1));
    assert_string_equal(lb_pg_value(&r, 0, 2), "t");
    assert_string_equal(lb_pg_value(&r, 0, 3), "it's; DROP TABLE x");
    lb_pg_result_free(&r);
}

static void test_pg_query_reports_rows_affected_and_the_command(void **state)
{
    struct lb_pg_result r;
    struct lb_err err = {0};
    char *v = NULL;
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_query(c, "CREATE TEMP TABLE lb_t (x int)", 0, NULL,
                                 lb_mono_ms() + 5000, &r, &err),
                     0);
    assert_int_equal(r.affected, -1);
    assert_string_equal(r.command, "CREATE TABLE");
    lb_pg_result_free(&r);
    assert_int_equal(lb_pg_query(c, "INSERT INTO lb_t SELECT generate_series(1, 42)", 0, NULL,
                                 lb_mono_ms() + 5000, &r, &err),
                     0);
    assert_int_equal(r.affected, 42);
    assert_string_equal(r.command, "INSERT 0 42");
    assert_int_equal(r.nrows, 0);
    lb_pg_result_free(&r);
    assert_int_equal(lb_pg_query(c, "DELETE FROM lb_t WHERE x > 40", 0, NULL,
                                 lb_mono_ms() + 5000, NULL, &err),
                     0);
    assert_int_equal(lb_pg_scalar(c, "SELECT count(*) FROM lb_t", 0, NULL, lb_mono_ms() + 5000,
                                  &v, &err),
                     0);
    assert_string_equal(v, "40");
    free(v);
    assert_int_equal(lb_pg_scalar(c, "SELECT NULL", 0, NULL, lb_mono_ms() + 5000, &v, &err), 0);
    assert_null(v);
    assert_int_equal(lb_pg_scalar(c, "SELECT 1 WHERE false", 0, NULL, lb_mono_ms() + 5000, &v,
                                  &err),
                     0);
    assert_null(v);
}

static void test_pg_query_past_the_deadline_is_cancelled_and_the_connection_survives(
    void **state)
{
    struct lb_err err = {0};
    char *v = NULL;
    int64_t t0 = lb_mono_ms();
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, t0 + 300, NULL, &err),
                     LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 1500);
    assert_string_equal(err.sqlstate, "57014");
    assert_non_null(strstr(err.msg, "timed out"));
    assert_true(lb_pg_ok(c));
    assert_int_equal(lb_pg_scalar(c, "SELECT 1", 0, NULL, lb_mono_ms() + 5000, &v, &err), 0);
    assert_string_equal(v, "1");
    free(v);
}

static void *interrupt_later(void *arg)
{
    (void)arg;
    usleep(200000);
    lb_interrupt_raise();
    return NULL;
}

static void test_pg_query_is_cancelled_by_an_interrupt(void **state)
{
    struct lb_err err = {0};
    pthread_t helper;
    int64_t t0 = lb_mono_ms();
    CONN_OR_SKIP(c);

    assert_int_equal(pthread_create(&helper, NULL, interrupt_later, NULL), 0);
    assert_int_equal(lb_pg_query(c, "SELECT pg_sleep(10)", 0, NULL, LB_NO_DEADLINE, NULL, &err),
                     LB_EINTR);
    pthread_join(helper, NULL);
    assert_true(lb_mono_ms() - t0 < 1500);
    assert_true(lb_pg_ok(c));
}

static void test_pg_query_error_carries_the_sqlstate(void **state)
{
    struct lb_pg_result r;
    struct lb_err err = {0};
    char *v = NULL;
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_query(c, "SELECT * FROM lb_no_such_table", 0, NULL,
                                 lb_mono_ms() + 5000, &r, &err),
                     LB_EDB);
    assert_string_equal(err.sqlstate, "42P01");
    assert_int_equal(lb_pg_classify(err.sqlstate), LB_PG_ERR_UNDEFINED);
    assert_non_null(strstr(err.msg, "lb_no_such_table"));
    assert_null(strstr(err.msg, "ERROR:"));
    assert_true(lb_pg_ok(c));
    assert_int_equal(lb_pg_scalar(c, "SELECT 2", 0, NULL, lb_mono_ms() + 5000, &v, &err), 0);
    assert_string_equal(v, "2");
    free(v);
}

static void test_pg_notices_are_collected_and_taken_once(void **state)
{
    struct lb_err err = {0};
    char *n;
    CONN_OR_SKIP(c);

    free(lb_pg_take_notices(c));
    assert_int_equal(lb_pg_exec_script(c, "DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$",
                                       lb_mono_ms() + 5000, &err),
                     0);
    n = lb_pg_take_notices(c);
    assert_non_null(n);
    assert_non_null(strstr(n, "hello 42"));
    free(n);
    assert_null(lb_pg_take_notices(c));
    assert_int_equal(lb_pg_exec_script(c,
                                       "CREATE TEMP TABLE lb_p (id int PRIMARY KEY);"
                                       "CREATE TEMP TABLE lb_c (p int REFERENCES lb_p);"
                                       "DROP TABLE lb_p CASCADE;",
                                       lb_mono_ms() + 5000, &err),
                     0);
    n = lb_pg_take_notices(c);
    assert_non_null(n);
    assert_non_null(strstr(n, "drop cascades to constraint"));
    free(n);
}

static void test_pg_exec_script_runs_statements_and_stops_at_an_error(void **state)
{
    struct lb_err err = {0};
    char *v = NULL;
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_exec_script(c,
                                       "CREATE TEMP TABLE lb_s (x int);"
                                       "INSERT INTO lb_s VALUES (1), (2);",
                                       lb_mono_ms() + 5000, &err),
                     0);
    assert_int_equal(lb_pg_exec_script(c,
                                       "INSERT INTO lb_s VALUES (3); SELECT 1/0;"
                                       "INSERT INTO lb_s VALUES (4);",
                                       lb_mono_ms() + 5000, &err),
                     LB_EDB);
    assert_string_equal(err.sqlstate, "22012");
    assert_int_equal(lb_pg_scalar(c, "SELECT count(*) FROM lb_s", 0, NULL, lb_mono_ms() + 5000,
                                  &v, &err),
                     0);
    /* One implicit transaction: the insert of 3 rolled back with the error. */
    assert_string_equal(v, "2");
    free(v);
}

static void test_pg_quote_ident_through_the_connection(void **state)
{
    char *q;
    CONN_OR_SKIP(c);

    q = lb_pg_quote_ident(c, "pg_catalog.pg_class", 1);
    assert_string_equal(q, "\"pg_catalog\".\"pg_class\"");
    free(q);
    q = lb_pg_quote_ident(c, "we\"ird", 0);
    assert_string_equal(q, "\"we\"\"ird\"");
    free(q);
}

static void test_pg_a_terminated_session_reports_a_lost_connection(void **state)
{
    const char *conninfo = getenv("LB_TEST_CONNINFO");
    struct lb_pg *victim = NULL;
    struct lb_err err = {0};
    char *pid = NULL;
    const char *values[1];
    CONN_OR_SKIP(c);

    assert_int_equal(lb_pg_connect(conninfo, lb_mono_ms() + 10000, &victim, &err), 0);
    assert_int_equal(lb_pg_scalar(victim, "SELECT pg_backend_pid()", 0, NULL,
                                  lb_mono_ms() + 5000, &pid, &err),
                     0);
    values[0] = pid;
    assert_int_equal(lb_pg_query(c, "SELECT pg_terminate_backend($1::int, 5000)", 1, values,
                                 lb_mono_ms() + 10000, NULL, &err),
                     0);
    assert_int_equal(lb_pg_query(victim, "SELECT 1", 0, NULL, lb_mono_ms() + 5000, NULL, &err),
                     LB_EDB);
    assert_int_equal(lb_pg_classify(err.sqlstate), LB_PG_ERR_CONNECTION);
    assert_false(lb_pg_ok(victim));
    assert_int_equal(lb_pg_query(victim, "SELECT 1", 0, NULL, lb_mono_ms() + 5000, NULL, &err),
                     LB_EDB);
    assert_string_equal(err.sqlstate, "08006");
    free(pid);
    lb_pg_close(victim);
}

#define LIVE(t) cmocka_unit_test_setup_teardown(t, setup_conn, teardown_conn)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_conninfo_redact_masks_the_password_of_key_value_text),
        cmocka_unit_test(test_pg_conninfo_redact_masks_the_password_of_a_uri),
        cmocka_unit_test(test_pg_conninfo_redact_of_unparseable_text_still_hides_passwords),
        cmocka_unit_test(test_pg_conninfo_split_password_separates_it_for_a_child_tool),
        cmocka_unit_test(test_pg_conninfo_split_password_rejects_garbage_without_echoing_it),
        cmocka_unit_test(test_pg_conninfo_with_replaces_or_adds_a_keyword),
        cmocka_unit_test(test_pg_conninfo_get_reads_one_keyword),
        cmocka_unit_test(test_pg_classify_groups_sqlstates),
        cmocka_unit_test(test_pg_quote_ident_quotes_each_part),
        cmocka_unit_test(test_pg_connect_failure_never_shows_the_password),
        cmocka_unit_test(test_pg_connect_to_a_silent_server_times_out_at_the_deadline),
        LIVE(test_pg_connect_reports_what_libpq_sees),
        LIVE(test_pg_connect_keeps_an_application_name_from_the_conninfo),
        LIVE(test_pg_query_returns_typed_columns),
        LIVE(test_pg_query_passes_parameters_and_nulls),
        LIVE(test_pg_query_reports_rows_affected_and_the_command),
        LIVE(test_pg_query_past_the_deadline_is_cancelled_and_the_connection_survives),
        LIVE(test_pg_query_is_cancelled_by_an_interrupt),
        LIVE(test_pg_query_error_carries_the_sqlstate),
        LIVE(test_pg_notices_are_collected_and_taken_once),
        LIVE(test_pg_exec_script_runs_statements_and_stops_at_an_error),
        LIVE(test_pg_quote_ident_through_the_connection),
        LIVE(test_pg_a_terminated_session_reports_a_lost_connection),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
