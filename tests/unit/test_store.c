/*
 * Unit tests of the results store against real SQLite files in a fresh
 * temporary directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifeboat/store.h"
#include "lifeboat/util.h"

struct fx {
    char dir[64];
    char *path;
};

static int setup(void **state)
{
    struct fx *f = lb_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lb-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    f->path = lb_path_join(f->dir, "lifeboat.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *p = lb_xasprintf("%s%s", f->path, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static struct lb_store *open_ok(const char *path)
{
    struct lb_store *s = NULL;
    struct lb_err err = {0};
    int rc = lb_store_open(path, &s, &err);
    if (rc != 0)
        print_error("lb_store_open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* A run header with every field set; id and start vary per call. */
static struct lb_run_info run_info(const char *id, const char *scenario,
                                   int64_t started_at)
{
    struct lb_run_info info = {
        .id = id,
        .scenario_id = scenario,
        .scenario_title = "An operator drops the inventory table",
        .scenario_file = "scenarios/dropped-table.lua",
        .scenario_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .environment = "sandbox",
        .kind = "drill",
        .operator_name = "alice",
        .host = "drill-runner-1",
        .version = "0.1.0",
        .dry_run = 0,
        .started_at = started_at,
        .rto_objective_ms = 600000,
        .rpo_objective_ms = 93600000,
        .plan_json = "{\"steps\":[\"baseline\",\"drop\"]}",
    };
    return info;
}

static void begin_run(struct lb_store *s, const char *id, const char *scenario,
                      int64_t started_at)
{
    struct lb_err err = {0};
    struct lb_run_info info = run_info(id, scenario, started_at);
    int rc = lb_store_run_begin(s, &info, &err);
    if (rc != 0)
        print_error("lb_store_run_begin: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void plan_step(struct lb_store *s, const char *run_id, int seq,
                      const char *name, const char *kind)
{
    struct lb_err err = {0};
    struct lb_step_info st = {seq, name, kind, 0, -1, "scenario.lua:1"};
    assert_int_equal(lb_store_step_plan(s, run_id, &st, &err), 0);
}

static void test_store_migrates_a_fresh_file_to_the_current_version(void **state)
{
    struct fx *f = *state;
    struct lb_store *s = open_ok(f->path);
    assert_int_equal(lb_store_version(s), LB_STORE_VERSION);
    lb_store_close(s);
    assert_true(lb_file_exists(f->path));
}

static void test_store_reopening_keeps_data_and_does_not_migrate_again(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);

    begin_run(s, "20260101-000000-aaaa", "dropped-table", 1000);
    lb_store_close(s);

    /* Version 1 creates its tables without IF NOT EXISTS: running it again
     * would fail the open, and would not keep the run. */
    s = open_ok(f->path);
    assert_int_equal(lb_store_version(s), LB_STORE_VERSION);
    assert_int_equal(lb_store_load_run(s, "20260101-000000-aaaa", &v, &err), 0);
    assert_string_equal(v->scenario_id, "dropped-table");
    lb_run_view_free(v);
    lb_store_close(s);
}

static void test_store_refuses_a_file_from_a_newer_schema(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_store *s = open_ok(f->path);
    /* user_version is the big-endian 4 bytes at offset 60 of the header. */
    unsigned char v99[4] = {0, 0, 0, 99};
    int fd;

    lb_store_close(s);
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, v99, sizeof v99, 60), (ssize_t)sizeof v99);
    close(fd);

    s = NULL;
    assert_int_equal(lb_store_open(f->path, &s, &err), LB_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "upgrade lifeboat"));
}

static void test_store_round_trips_every_field_of_a_run(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    const char *id = "20261126-145736-ab12";
    struct lb_step_info st1 = {1, "baseline", "check", 0, -1, "dropped-table.lua:12"};
    struct lb_step_info st2 = {2, "drop inventory", "fault", 1, 900000,
                               "dropped-table.lua:16"};
    struct lb_table_stat base = {"baseline", "inventory", 1200, "aa11", "sa11"};
    struct lb_table_stat base_acc = {"baseline", "accounts", 47, "bb22", NULL};
    struct lb_table_stat restored = {"restored", "inventory", 0, NULL, NULL};
    struct lb_run_result res = {"failed", 1, 1000 + 65000, 42000, 3600000,
                                "backup snapshot time", "validation failed"};

    begin_run(s, id, "dropped-table", 1000);
    assert_int_equal(lb_store_step_plan(s, id, &st1, &err), 0);
    assert_int_equal(lb_store_step_plan(s, id, &st2, &err), 0);
    assert_int_equal(lb_store_step_start(s, id, 1, 1100, &err), 0);
    assert_int_equal(lb_store_step_end(s, id, 1, "passed", 1300, 200, NULL,
                                       "baseline of 4 tables", &err), 0);
    assert_int_equal(lb_store_step_start(s, id, 2, 1400, &err), 0);
    assert_int_equal(lb_store_step_end(s, id, 2, "failed", 2400, 1000,
                                       "relation \"inventory\" does not exist",
                                       "ERROR: ...", &err), 0);
    /* Stored out of time order: read back by time. */
    assert_int_equal(lb_store_mark(s, id, "recovered", 50000, "auto", &err), 0);
    assert_int_equal(lb_store_mark(s, id, "incident", 1400, "scenario", &err), 0);
    assert_int_equal(lb_store_check(s, id, 2, "rows inventory", 0, "1200", "0",
                                    "inventory", &err), 0);
    assert_int_equal(lb_store_check(s, id, 2, "restore not empty", 1, NULL, NULL,
                                    NULL, &err), 0);
    assert_int_equal(lb_store_metric(s, id, 2, "rows_dropped", 1200.0, "rows", &err), 0);
    assert_int_equal(lb_store_metric(s, id, -1, "restore_seconds", 0.25, NULL, &err), 0);
    assert_int_equal(lb_store_gap(s, id, 2, "critical", "validation",
                                  "restore came back empty", "0 of 1200 rows", &err), 0);
    assert_int_equal(lb_store_gap(s, id, -1, "minor", "objective", "RPO missed",
                                  NULL, &err), 0);
    /* Stored out of table order within a step: read back by step, table. */
    assert_int_equal(lb_store_table_stat(s, id, 1, &base, &err), 0);
    assert_int_equal(lb_store_table_stat(s, id, 1, &base_acc, &err), 0);
    assert_int_equal(lb_store_table_stat(s, id, 2, &restored, &err), 0);
    assert_int_equal(lb_store_rollback_register(s, id, 2, "drop restored copy",
                                                "dropped-table.lua:30", &err), 0);
    assert_int_equal(lb_store_rollback_register(s, id, 1, "restart server",
                                                "dropped-table.lua:28", &err), 0);
    assert_int_equal(lb_store_rollback_status(s, id, 2, "failed", "permission denied",
                                              &err), 0);
    assert_int_equal(lb_store_run_end(s, id, &res, &err), 0);

    assert_int_equal(lb_store_load_run(s, id, &v, &err), 0);
    assert_string_equal(v->id, id);
    assert_string_equal(v->scenario_id, "dropped-table");
    assert_string_equal(v->scenario_title, "An operator drops the inventory table");
    assert_string_equal(v->scenario_file, "scenarios/dropped-table.lua");
    assert_string_equal(v->scenario_sha256,
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_string_equal(v->environment, "sandbox");
    assert_string_equal(v->kind, "drill");
    assert_string_equal(v->operator_name, "alice");
    assert_string_equal(v->host, "drill-runner-1");
    assert_string_equal(v->version, "0.1.0");
    assert_string_equal(v->status, "failed");
    assert_string_equal(v->rpo_method, "backup snapshot time");
    assert_string_equal(v->error, "validation failed");
    assert_string_equal(v->plan_json, "{\"steps\":[\"baseline\",\"drop\"]}");
    assert_int_equal(v->dry_run, 0);
    assert_int_equal(v->exit_code, 1);
    assert_int_equal(v->started_at, 1000);
    assert_int_equal(v->ended_at, 66000);
    assert_int_equal(v->rto_ms, 42000);
    assert_int_equal(v->rpo_ms, 3600000);
    assert_int_equal(v->rto_objective_ms, 600000);
    assert_int_equal(v->rpo_objective_ms, 93600000);

    assert_int_equal(v->nsteps, 2);
    assert_int_equal(v->steps[0].seq, 1);
    assert_string_equal(v->steps[0].name, "baseline");
    assert_string_equal(v->steps[0].kind, "check");
    assert_string_equal(v->steps[0].status, "passed");
    assert_null(v->steps[0].error);
    assert_string_equal(v->steps[0].output_tail, "baseline of 4 tables");
    assert_string_equal(v->steps[0].declared_at, "dropped-table.lua:12");
    assert_int_equal(v->steps[0].critical, 0);
    assert_int_equal(v->steps[0].timeout_ms, -1);
    assert_int_equal(v->steps[0].started_at, 1100);
    assert_int_equal(v->steps[0].ended_at, 1300);
    assert_int_equal(v->steps[0].duration_ms, 200);
    assert_string_equal(v->steps[1].name, "drop inventory");
    assert_string_equal(v->steps[1].kind, "fault");
    assert_string_equal(v->steps[1].status, "failed");
    assert_string_equal(v->steps[1].error, "relation \"inventory\" does not exist");
    assert_int_equal(v->steps[1].critical, 1);
    assert_int_equal(v->steps[1].timeout_ms, 900000);

    assert_int_equal(v->nmarks, 2);
    assert_string_equal(v->marks[0].name, "incident");
    assert_string_equal(v->marks[0].source, "scenario");
    assert_int_equal(v->marks[0].at, 1400);
    assert_string_equal(v->marks[1].name, "recovered");
    assert_int_equal(v->marks[1].at, 50000);

    assert_int_equal(v->nchecks, 2);
    assert_string_equal(v->checks[0].name, "rows inventory");
    assert_int_equal(v->checks[0].step_seq, 2);
    assert_int_equal(v->checks[0].ok, 0);
    assert_string_equal(v->checks[0].expected, "1200");
    assert_string_equal(v->checks[0].observed, "0");
    assert_string_equal(v->checks[0].table_name, "inventory");
    assert_int_equal(v->checks[1].ok, 1);
    assert_null(v->checks[1].expected);
    assert_null(v->checks[1].table_name);

    assert_int_equal(v->nmetrics, 2);
    assert_string_equal(v->metrics[0].name, "rows_dropped");
    assert_true(v->metrics[0].value == 1200.0);
    assert_string_equal(v->metrics[0].unit, "rows");
    assert_int_equal(v->metrics[0].step_seq, 2);
    assert_true(v->metrics[1].value == 0.25);
    assert_null(v->metrics[1].unit);
    assert_int_equal(v->metrics[1].step_seq, -1);

    assert_int_equal(v->ngaps, 2);
    assert_string_equal(v->gaps[0].severity, "critical");
    assert_string_equal(v->gaps[0].category, "validation");
    assert_string_equal(v->gaps[0].title, "restore came back empty");
    assert_string_equal(v->gaps[0].detail, "0 of 1200 rows");
    assert_int_equal(v->gaps[0].step_seq, 2);
    assert_string_equal(v->gaps[1].severity, "minor");
    assert_null(v->gaps[1].detail);
    assert_int_equal(v->gaps[1].step_seq, -1);

    assert_int_equal(v->nstats, 3);
    assert_string_equal(v->stats[0].table_name, "accounts");
    assert_string_equal(v->stats[0].phase, "baseline");
    assert_int_equal(v->stats[0].rows, 47);
    assert_null(v->stats[0].schema_fingerprint);
    assert_string_equal(v->stats[1].table_name, "inventory");
    assert_string_equal(v->stats[1].fingerprint, "aa11");
    assert_string_equal(v->stats[1].schema_fingerprint, "sa11");
    assert_int_equal(v->stats[1].rows, 1200);
    assert_int_equal(v->stats[1].step_seq, 1);
    assert_string_equal(v->stats[2].phase, "restored");
    assert_int_equal(v->stats[2].rows, 0);
    assert_int_equal(v->stats[2].step_seq, 2);
    assert_null(v->stats[2].fingerprint);

    assert_int_equal(v->nrollbacks, 2);
    assert_int_equal(v->rollbacks[0].id, 1);
    assert_string_equal(v->rollbacks[0].name, "restart server");
    assert_string_equal(v->rollbacks[0].status, "registered");
    assert_null(v->rollbacks[0].error);
    assert_string_equal(v->rollbacks[0].declared_at, "dropped-table.lua:28");
    assert_int_equal(v->rollbacks[1].id, 2);
    assert_string_equal(v->rollbacks[1].status, "failed");
    assert_string_equal(v->rollbacks[1].error, "permission denied");

    lb_run_view_free(v);
    lb_store_close(s);
}

static void test_store_reads_unset_numbers_of_a_running_run_as_minus_one(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    struct lb_run_info info = run_info("r1", "dropped-table", 5000);

    info.rto_objective_ms = -1;
    info.rpo_objective_ms = -1;
    info.kind = NULL;
    info.dry_run = 1;
    assert_int_equal(lb_store_run_begin(s, &info, &err), 0);
    plan_step(s, "r1", 1, "baseline", "check");
    assert_int_equal(lb_store_load_run(s, "r1", &v, &err), 0);
    assert_string_equal(v->status, "running");
    assert_string_equal(v->kind, "drill");
    assert_int_equal(v->dry_run, 1);
    assert_int_equal(v->exit_code, -1);
    assert_int_equal(v->ended_at, -1);
    assert_int_equal(v->rto_ms, -1);
    assert_int_equal(v->rpo_ms, -1);
    assert_int_equal(v->rto_objective_ms, -1);
    assert_int_equal(v->rpo_objective_ms, -1);
    assert_null(v->rpo_method);
    assert_string_equal(v->steps[0].status, "pending");
    assert_int_equal(v->steps[0].started_at, -1);
    assert_int_equal(v->steps[0].ended_at, -1);
    assert_int_equal(v->steps[0].duration_ms, -1);
    lb_run_view_free(v);
    lb_store_close(s);
}

static void test_store_finds_runs_by_full_id_prefix_and_latest(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);

    begin_run(s, "20260101-000000-aaaa", "dropped-table", 3000);
    begin_run(s, "20260101-000000-aaab", "dropped-table", 1000);
    begin_run(s, "20260102-000000-bbbb", "region-loss", 2000);
    begin_run(s, "20260102-000000-bbbb0", "region-loss", 500);
    begin_run(s, "20260103-120000-cccc", "region-loss", 700);

    assert_int_equal(lb_store_load_run(s, "20260101-000000-aaab", &v, &err), 0);
    assert_string_equal(v->id, "20260101-000000-aaab");
    lb_run_view_free(v);

    /* A full id that is also a prefix of another still names itself. */
    assert_int_equal(lb_store_load_run(s, "20260102-000000-bbbb", &v, &err), 0);
    assert_string_equal(v->id, "20260102-000000-bbbb");
    lb_run_view_free(v);

    assert_int_equal(lb_store_load_run(s, "20260101-000000-aaaa", &v, &err), 0);
    lb_run_view_free(v);
    assert_int_equal(lb_store_load_run(s, "20260102-000000-bbbb0", &v, &err), 0);
    lb_run_view_free(v);

    assert_int_equal(lb_store_load_run(s, "20260103", &v, &err), 0);
    assert_string_equal(v->id, "20260103-120000-cccc");
    lb_run_view_free(v);

    /* "latest" is the newest start, not the newest insert. */
    assert_int_equal(lb_store_load_run(s, "latest", &v, &err), 0);
    assert_string_equal(v->id, "20260101-000000-aaaa");
    lb_run_view_free(v);

    v = NULL;
    assert_int_equal(lb_store_load_run(s, "20260101", &v, &err), LB_EINVAL);
    assert_null(v);
    assert_non_null(strstr(err.msg, "ambiguous"));
    assert_non_null(strstr(err.msg, "20260101-000000-aaaa"));
    assert_non_null(strstr(err.msg, "20260101-000000-aaab"));

    assert_int_equal(lb_store_load_run(s, "2027", &v, &err), LB_ENOTFOUND);
    assert_string_equal(err.msg, "store: no run matches '2027'");

    /* LIKE wildcards in the argument match only themselves. */
    assert_int_equal(lb_store_load_run(s, "2026%", &v, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_load_run(s, "", &v, &err), LB_EINVAL);
    lb_store_close(s);
}

static void test_store_latest_of_an_empty_store_is_not_found(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    assert_int_equal(lb_store_load_run(s, "latest", &v, &err), LB_ENOTFOUND);
    assert_null(v);
    lb_store_close(s);
}

static void test_store_lists_runs_newest_first_with_filter_and_limit(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view **list = NULL;
    size_t n = 0;
    struct lb_store *s = open_ok(f->path);

    begin_run(s, "a", "dropped-table", 1000);
    begin_run(s, "b", "region-loss", 3000);
    begin_run(s, "c", "dropped-table", 2000);

    assert_int_equal(lb_store_list_runs(s, NULL, 0, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->id, "b");
    assert_string_equal(list[1]->id, "c");
    assert_string_equal(list[2]->id, "a");
    assert_int_equal(list[0]->nsteps, 0);
    assert_null(list[0]->plan_json);
    lb_run_list_free(list, n);

    assert_int_equal(lb_store_list_runs(s, "dropped-table", -1, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->id, "c");
    assert_string_equal(list[1]->id, "a");
    lb_run_list_free(list, n);

    assert_int_equal(lb_store_list_runs(s, NULL, 1, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0]->id, "b");
    lb_run_list_free(list, n);

    assert_int_equal(lb_store_list_runs(s, "no-such", 0, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    lb_run_list_free(list, n);
    lb_store_close(s);
}

/* In a child process: begin a run, run step 1, start step 2, register two
 * rollbacks (one finished), then die without closing anything. */
static void die_mid_run(const char *path)
{
    struct lb_store *s = NULL;
    struct lb_err err = {0};
    struct lb_run_info info = run_info("dead", "dropped-table", 1000);
    struct lb_step_info st1 = {1, "baseline", "check", 0, -1, "x.lua:1"};
    struct lb_step_info st2 = {2, "drop inventory", "fault", 0, -1, "x.lua:2"};
    struct lb_step_info st3 = {3, "restore", "restore", 0, -1, "x.lua:3"};
    int rc = lb_store_open(path, &s, &err);
    if (rc == 0)
        rc = lb_store_run_begin(s, &info, &err);
    if (rc == 0)
        rc = lb_store_step_plan(s, "dead", &st1, &err);
    if (rc == 0)
        rc = lb_store_step_plan(s, "dead", &st2, &err);
    if (rc == 0)
        rc = lb_store_step_plan(s, "dead", &st3, &err);
    if (rc == 0)
        rc = lb_store_step_start(s, "dead", 1, 1100, &err);
    if (rc == 0)
        rc = lb_store_step_end(s, "dead", 1, "passed", 1500, 400, NULL, NULL, &err);
    if (rc == 0)
        rc = lb_store_rollback_register(s, "dead", 1, "undo a", "x.lua:9", &err);
    if (rc == 0)
        rc = lb_store_rollback_register(s, "dead", 2, "undo b", "x.lua:10", &err);
    if (rc == 0)
        rc = lb_store_rollback_status(s, "dead", 2, "passed", NULL, &err);
    if (rc == 0)
        rc = lb_store_step_start(s, "dead", 2, 1600, &err);
    _exit(rc == 0 ? 0 : 1);
}

static void test_store_marks_runs_of_a_dead_writer_interrupted(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s;
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        die_mid_run(f->path);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    s = open_ok(f->path);
    assert_int_equal(lb_store_load_run(s, "dead", &v, &err), 0);
    assert_string_equal(v->status, "interrupted");
    assert_int_equal(v->exit_code, 130);
    /* The last thing known to have happened: step 2 starting. */
    assert_int_equal(v->ended_at, 1600);
    assert_non_null(v->error);
    assert_string_equal(v->steps[0].status, "passed");
    assert_string_equal(v->steps[1].status, "interrupted");
    assert_non_null(v->steps[1].error);
    assert_string_equal(v->steps[2].status, "pending");
    assert_string_equal(v->rollbacks[0].status, "not_run");
    assert_non_null(v->rollbacks[0].error);
    assert_string_equal(v->rollbacks[1].status, "passed");
    lb_run_view_free(v);
    lb_store_close(s);
}

static void test_store_leaves_runs_of_a_live_writer_running(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    struct lb_store *other;

    begin_run(s, "mine", "dropped-table", 1000);
    plan_step(s, "mine", 1, "baseline", "check");
    assert_int_equal(lb_store_step_start(s, "mine", 1, 1100, &err), 0);
    assert_int_equal(lb_store_rollback_register(s, "mine", 1, "undo", NULL, &err), 0);

    /* A second open while this process (the writer) lives. */
    other = open_ok(f->path);
    assert_int_equal(lb_store_load_run(other, "mine", &v, &err), 0);
    assert_string_equal(v->status, "running");
    assert_string_equal(v->steps[0].status, "running");
    assert_string_equal(v->rollbacks[0].status, "registered");
    lb_run_view_free(v);
    lb_store_close(other);
    lb_store_close(s);
}

static void test_store_judges_writer_liveness_by_pid_and_start_time(void **state)
{
    char host[256];
    int status = 0;
    pid_t child;

    assert_int_equal(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';

    assert_true(lb_store_writer_alive(host, (long long)getpid(), -1));
    /* Our pid, but started at tick 1: a process that reused our pid. */
    assert_false(lb_store_writer_alive(host, (long long)getpid(), 1));
    /* Above any pid_max. */
    assert_false(lb_store_writer_alive(host, 0x7ffffff0LL, -1));
    /* Another machine's writer cannot be judged from here. */
    assert_true(lb_store_writer_alive("no-such-host.invalid", 0x7ffffff0LL, -1));

    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_false(lb_store_writer_alive(host, (long long)child, -1));
}

static void test_store_halt_flag_round_trips(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    char *reason = NULL;
    int on = -1;
    struct lb_store *s = open_ok(f->path);

    assert_int_equal(lb_store_halt_get(s, &on, &reason, &err), 0);
    assert_int_equal(on, 0);
    assert_null(reason);

    assert_int_equal(lb_store_halt_set(s, 1, "incident in progress", &err), 0);
    lb_store_close(s);
    s = open_ok(f->path);
    assert_int_equal(lb_store_halt_get(s, &on, &reason, &err), 0);
    assert_int_equal(on, 1);
    assert_string_equal(reason, "incident in progress");
    free(reason);
    reason = NULL;

    assert_int_equal(lb_store_halt_set(s, 0, NULL, &err), 0);
    assert_int_equal(lb_store_halt_get(s, &on, &reason, &err), 0);
    assert_int_equal(on, 0);
    assert_null(reason);

    assert_int_equal(lb_store_halt_set(s, 1, NULL, &err), 0);
    assert_int_equal(lb_store_halt_get(s, &on, &reason, &err), 0);
    assert_int_equal(on, 1);
    assert_null(reason);
    lb_store_close(s);
}

static void test_store_second_handle_sees_committed_data(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *writer = open_ok(f->path);
    struct lb_store *reader = open_ok(f->path);
    struct lb_run_result res = {"passed", 0, 9000, 100, 0, "heartbeat", NULL};

    begin_run(writer, "shared", "dropped-table", 1000);
    plan_step(writer, "shared", 1, "baseline", "check");
    assert_int_equal(lb_store_load_run(reader, "shared", &v, &err), 0);
    assert_int_equal(v->nsteps, 1);
    lb_run_view_free(v);

    assert_int_equal(lb_store_run_end(writer, "shared", &res, &err), 0);
    lb_store_close(writer);
    lb_store_close(reader);

    reader = open_ok(f->path);
    assert_int_equal(lb_store_load_run(reader, "shared", &v, &err), 0);
    assert_string_equal(v->status, "passed");
    assert_string_equal(v->rpo_method, "heartbeat");
    assert_int_equal(v->rpo_ms, 0);
    lb_run_view_free(v);
    lb_store_close(reader);
}

static void test_store_rejects_unknown_words_and_missing_rows(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_store *s = open_ok(f->path);
    struct lb_run_result res = {"sort-of", 0, 0, -1, -1, NULL, NULL};
    struct lb_step_info st = {1, "x", "check", 0, -1, NULL};

    begin_run(s, "r", "dropped-table", 1000);
    assert_int_equal(lb_store_gap(s, "r", 1, "huge", "x", "y", NULL, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "critical, major, minor"));
    assert_int_equal(lb_store_run_end(s, "r", &res, &err), LB_EINVAL);
    assert_int_equal(lb_store_step_end(s, "r", 1, "done", 0, 0, NULL, NULL, &err),
                     LB_EINVAL);
    assert_int_equal(lb_store_rollback_status(s, "r", 1, "ok", NULL, &err), LB_EINVAL);

    assert_int_equal(lb_store_step_start(s, "r", 7, 0, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_rollback_status(s, "r", 7, "passed", NULL, &err),
                     LB_ENOTFOUND);
    res.status = "passed";
    assert_int_equal(lb_store_run_end(s, "nope", &res, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_step_plan(s, "nope", &st, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_mark(s, "nope", "incident", 1, NULL, &err), LB_ENOTFOUND);

    assert_int_equal(lb_store_step_plan(s, "r", &st, &err), 0);
    assert_int_equal(lb_store_step_plan(s, "r", &st, &err), LB_EINVAL);
    begin_run(s, "r2", "dropped-table", 1000);
    {
        struct lb_run_info dup = run_info("r2", "dropped-table", 1);
        assert_int_equal(lb_store_run_begin(s, &dup, &err), LB_EINVAL);
    }
    lb_store_close(s);
}

static void test_store_open_of_an_unreachable_path_fails_cleanly(void **state)
{
    struct lb_store *s = NULL;
    struct lb_err err = {0};
    assert_int_equal(lb_store_open("/nonexistent-dir/sub/lifeboat.db", &s, &err),
                     LB_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/sub/lifeboat.db"));
}

static void test_store_new_run_id_has_the_documented_shape(void **state)
{
    char ids[8][32];
    int differ = 0;
    for (int k = 0; k < 8; k++) {
        lb_store_new_run_id(ids[k], sizeof ids[k]);
        assert_int_equal(strlen(ids[k]), 20);
        for (int i = 0; i < 20; i++) {
            char c = ids[k][i];
            if (i == 8 || i == 15)
                assert_int_equal(c, '-');
            else if (i < 15)
                assert_true(c >= '0' && c <= '9');
            else
                assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
        if (k > 0 && strcmp(ids[k], ids[0]) != 0)
            differ = 1;
    }
    assert_true(differ);
    assert_true(strncmp(ids[0], "20", 2) == 0);
}

static void test_store_works_in_memory(void **state)
{
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_store *s = open_ok(":memory:");
    begin_run(s, "m", "dropped-table", 1);
    assert_int_equal(lb_store_load_run(s, "latest", &v, &err), 0);
    assert_string_equal(v->id, "m");
    lb_run_view_free(v);
    lb_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_migrates_a_fresh_file_to_the_current_version),
        T(test_store_reopening_keeps_data_and_does_not_migrate_again),
        T(test_store_refuses_a_file_from_a_newer_schema),
        T(test_store_round_trips_every_field_of_a_run),
        T(test_store_reads_unset_numbers_of_a_running_run_as_minus_one),
        T(test_store_finds_runs_by_full_id_prefix_and_latest),
        T(test_store_latest_of_an_empty_store_is_not_found),
        T(test_store_lists_runs_newest_first_with_filter_and_limit),
        T(test_store_marks_runs_of_a_dead_writer_interrupted),
        T(test_store_leaves_runs_of_a_live_writer_running),
        T(test_store_judges_writer_liveness_by_pid_and_start_time),
        T(test_store_halt_flag_round_trips),
        T(test_store_second_handle_sees_committed_data),
        T(test_store_rejects_unknown_words_and_missing_rows),
        T(test_store_open_of_an_unreachable_path_fails_cleanly),
        T(test_store_new_run_id_has_the_documented_shape),
        T(test_store_works_in_memory),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
