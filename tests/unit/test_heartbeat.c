/* Unit tests of the heartbeat's RPO rule (lb_heartbeat_judge) and of what
 * lb_heartbeat_start refuses. The writer thread itself needs a real server:
 * tests/integration/test_heartbeat_*.sh drive it through the sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lifeboat/engine.h"
#include "lifeboat/heartbeat.h"

#define T0 1700000000000000LL      /* µs: some server time */
#define SEC 1000000LL

/* What heartbeat_start saw: table oid 16500 on a server started at T0 - 1h. */
static struct lb_heartbeat_seen origin(void)
{
    struct lb_heartbeat_seen o = {1, 16500, T0 - 3600 * SEC, -1, 0};
    return o;
}

/* After the restore: same table, same server, newest beat `newest`. */
static struct lb_heartbeat_seen same_place(int64_t newest, int64_t rows)
{
    struct lb_heartbeat_seen n = origin();
    n.newest_before_us = newest;
    n.rows_before = rows;
    return n;
}

static void test_heartbeat_judge_measures_a_whole_restore_that_lost_beats(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    /* A dump restore: the table came back re-created, holding beats up to
     * the dump, while the writer's last beat before the incident was later. */
    struct lb_heartbeat_seen n = same_place(T0 + 10 * SEC, 11);
    n.table_oid = 16777;
    assert_int_equal(lb_heartbeat_judge(&o, &n, T0 + 40 * SEC), LB_HB_MEASURED);
}

static void test_heartbeat_judge_measures_lost_beats_in_the_same_table(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    struct lb_heartbeat_seen n = same_place(T0 + 10 * SEC, 11);
    assert_int_equal(lb_heartbeat_judge(&o, &n, T0 + 40 * SEC), LB_HB_MEASURED);
}

static void test_heartbeat_judge_measures_a_restart_that_lost_nothing(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    /* Crash recovery, PITR or failover: every beat survived, but the table
     * went through the recovery with everything else, so RPO ~ 0 is true. */
    struct lb_heartbeat_seen n = same_place(T0 + 40 * SEC, 41);
    n.server_started_us = T0 + 50 * SEC;
    assert_int_equal(lb_heartbeat_judge(&o, &n, T0 + 40 * SEC), LB_HB_MEASURED);
}

static void test_heartbeat_judge_calls_an_untouched_table_no_evidence(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    /* A table-level restore of other tables: the heartbeat table still holds
     * the writer's last beat, same relation, same server. */
    struct lb_heartbeat_seen n = same_place(T0 + 40 * SEC, 41);
    assert_int_equal(lb_heartbeat_judge(&o, &n, T0 + 40 * SEC), LB_HB_UNTOUCHED);
    /* A beat newer than the writer's own (another writer) changes nothing. */
    n.newest_before_us = T0 + 41 * SEC;
    assert_int_equal(lb_heartbeat_judge(&o, &n, T0 + 40 * SEC), LB_HB_UNTOUCHED);
}

static void test_heartbeat_judge_reports_none_survived_without_rows_or_table(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    struct lb_heartbeat_seen empty = same_place(-1, 0);
    struct lb_heartbeat_seen gone = {0, -1, T0 - 3600 * SEC, -1, 0};

    empty.table_oid = 16777;
    assert_int_equal(lb_heartbeat_judge(&o, &empty, T0 + 40 * SEC), LB_HB_NONE_SURVIVED);
    assert_int_equal(lb_heartbeat_judge(&o, &gone, T0 + 40 * SEC), LB_HB_NONE_SURVIVED);
}

static void test_heartbeat_judge_needs_a_beat_before_the_incident(void **state)
{
    (void)state;
    struct lb_heartbeat_seen o = origin();
    struct lb_heartbeat_seen n = same_place(T0, 1);
    n.table_oid = 16777;
    assert_int_equal(lb_heartbeat_judge(&o, &n, -1), LB_HB_NO_BEAT_BEFORE);
}

static void test_heartbeat_verdict_names_are_distinct(void **state)
{
    (void)state;
    assert_string_equal(lb_heartbeat_verdict_name(LB_HB_MEASURED), "measured");
    assert_string_equal(lb_heartbeat_verdict_name(LB_HB_UNTOUCHED), "untouched");
    assert_string_not_equal(lb_heartbeat_verdict_name(LB_HB_NONE_SURVIVED),
                            lb_heartbeat_verdict_name(LB_HB_NO_BEAT_BEFORE));
}

static void test_heartbeat_start_refuses_without_connection_or_target(void **state)
{
    (void)state;
    struct lb_heartbeat_opts o = {0};
    struct lb_heartbeat *hb = (struct lb_heartbeat *)&o;   /* must be reset */
    struct lb_err err = {0};

    o.interval_ms = 1000;
    o.deadline_ms = lb_mono_ms() + 1000;
    assert_int_equal(lb_heartbeat_start(&o, &hb, &err), LB_EINVAL);
    assert_null(hb);
    assert_non_null(strstr(err.msg, "heartbeat"));
    /* Free and stop of nothing are no-ops. */
    lb_heartbeat_stop(NULL);
    lb_heartbeat_free(NULL);
}

static void test_heartbeat_load_start_refuses_without_connection_or_a_rate(void **state)
{
    (void)state;
    struct lb_load_opts o = {0};
    struct lb_load *l = (struct lb_load *)&o;             /* must be reset */
    struct lb_env env = {0};
    struct lb_env_target t = {0};
    struct lb_err err = {0};

    o.deadline_ms = lb_mono_ms() + 1000;
    o.tps = 10;
    assert_int_equal(lb_load_start(&o, &l, &err), LB_EINVAL);
    assert_null(l);
    assert_non_null(strstr(err.msg, "load"));
    /* A rate outside (0, max] is refused before anything is touched: the
     * connection below is never used. */
    t.name = (char *)"staging";
    t.conninfo = (char *)"host=127.0.0.1 port=1";
    o.conn = (struct lb_pg *)&o;
    o.env = &env;
    o.target = &t;
    o.tps = 0;
    lb_err_clear(&err);
    assert_int_equal(lb_load_start(&o, &l, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "tps"));
    o.tps = LB_LOAD_MAX_TPS + 1;
    assert_int_equal(lb_load_start(&o, &l, &err), LB_EINVAL);
    assert_null(l);
    /* Stop, free and retarget of nothing are no-ops. */
    lb_load_stop(NULL);
    lb_load_free(NULL);
    lb_load_retarget(NULL, &t, NULL);
    lb_heartbeat_retarget(NULL, &t, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_judge_measures_a_whole_restore_that_lost_beats),
        cmocka_unit_test(test_heartbeat_judge_measures_lost_beats_in_the_same_table),
        cmocka_unit_test(test_heartbeat_judge_measures_a_restart_that_lost_nothing),
        cmocka_unit_test(test_heartbeat_judge_calls_an_untouched_table_no_evidence),
        cmocka_unit_test(test_heartbeat_judge_reports_none_survived_without_rows_or_table),
        cmocka_unit_test(test_heartbeat_judge_needs_a_beat_before_the_incident),
        cmocka_unit_test(test_heartbeat_verdict_names_are_distinct),
        cmocka_unit_test(test_heartbeat_start_refuses_without_connection_or_target),
        cmocka_unit_test(test_heartbeat_load_start_refuses_without_connection_or_a_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
