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

/* Only to build a store file as schema version 1 wrote it, byte for byte
 * what lifeboat 0.1.0 left behind, for the upgrade test. */
#include <sqlite3.h>

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

/* ---- schema version 2: schedules and acknowledgements -------------------- */

/* `sqlite3 .dump` of a store written by the version 1 code (one passed run,
 * a check, a metric), with its user_version. */
static const char v1_dump[] =
    "PRAGMA user_version = 1;"
    "BEGIN TRANSACTION;"
    "CREATE TABLE runs (  id TEXT PRIMARY KEY NOT NULL,  scenario_id TEXT NOT NULL,"
    "  scenario_title TEXT,  scenario_file TEXT,  scenario_sha256 TEXT,  environment TEXT,"
    "  kind TEXT NOT NULL DEFAULT 'drill',  operator_name TEXT,  host TEXT,  version TEXT,"
    "  dry_run INTEGER NOT NULL DEFAULT 0,  status TEXT NOT NULL DEFAULT 'running',"
    "  exit_code INTEGER,  started_at INTEGER NOT NULL,  ended_at INTEGER,"
    "  rto_objective_ms INTEGER,  rpo_objective_ms INTEGER,  rto_ms INTEGER,  rpo_ms INTEGER,"
    "  rpo_method TEXT,  error TEXT,  plan_json TEXT,  writer_pid INTEGER,"
    "  writer_host TEXT,  writer_start_time INTEGER);"
    "INSERT INTO runs VALUES('20261126-153827-253f','v1-fixture',"
    "'a run written by schema version 1','s.lua',"
    "'87229f6badade91ecf16bd5d11e111b1d6d96761b8f00aaf4c79cc67965ec1e5','v1fixture',"
    "'drill','root','vm','0.1.0',0,'passed',0,1795707507365,1795707507370,600000,NULL,"
    "NULL,NULL,NULL,NULL,'{\"steps\":[]}',8853,'vm',250912);"
    "CREATE TABLE steps (  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,  name TEXT NOT NULL,  kind TEXT NOT NULL,"
    "  critical INTEGER NOT NULL DEFAULT 0,  timeout_ms INTEGER,  declared_at TEXT,"
    "  status TEXT NOT NULL DEFAULT 'pending',  started_at INTEGER,  ended_at INTEGER,"
    "  duration_ms INTEGER,  error TEXT,  output_tail TEXT,  PRIMARY KEY (run_id, seq));"
    "INSERT INTO steps VALUES('20261126-153827-253f',1,'look','check',0,1800000,"
    "'s.lua:2','passed',1795707507366,1795707507368,2,NULL,NULL);"
    "CREATE TABLE marks (  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  name TEXT NOT NULL,"
    "  at INTEGER NOT NULL,  source TEXT);"
    "CREATE TABLE checks (  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  step_seq INTEGER,"
    "  name TEXT NOT NULL,  ok INTEGER NOT NULL,  expected TEXT,  observed TEXT,"
    "  table_name TEXT);"
    "INSERT INTO checks VALUES(1,'20261126-153827-253f',1,'one is one',1,'1','1',NULL);"
    "CREATE TABLE metrics (  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  step_seq INTEGER,"
    "  name TEXT NOT NULL,  value REAL NOT NULL,  unit TEXT);"
    "INSERT INTO metrics VALUES(1,'20261126-153827-253f',1,'answer',42.0,'count');"
    "CREATE TABLE gaps (  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  step_seq INTEGER,"
    "  severity TEXT NOT NULL    CHECK (severity IN ('critical', 'major', 'minor')),"
    "  category TEXT NOT NULL,  title TEXT NOT NULL,  detail TEXT);"
    "CREATE TABLE table_stats (  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  step_seq INTEGER,"
    "  phase TEXT NOT NULL,  table_name TEXT NOT NULL,  rows INTEGER,  fingerprint TEXT,"
    "  schema_fingerprint TEXT);"
    "CREATE TABLE rollbacks (  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,  name TEXT NOT NULL,  declared_at TEXT,"
    "  status TEXT NOT NULL DEFAULT 'registered',  error TEXT,  PRIMARY KEY (run_id, id));"
    "CREATE TABLE settings (  key TEXT PRIMARY KEY NOT NULL,  value TEXT,"
    "  updated_at INTEGER);"
    "CREATE INDEX runs_started ON runs(started_at);"
    "CREATE INDEX runs_scenario ON runs(scenario_id, started_at);"
    "CREATE INDEX runs_status ON runs(status);"
    "CREATE INDEX marks_run ON marks(run_id, at);"
    "CREATE INDEX checks_run ON checks(run_id);"
    "CREATE INDEX metrics_run ON metrics(run_id);"
    "CREATE INDEX gaps_run ON gaps(run_id);"
    "CREATE INDEX table_stats_run ON table_stats(run_id);"
    "COMMIT;";

static const char SHA_X[] = "87229f6badade91ecf16bd5d11e111b1d6d96761b8f00aaf4c79cc67965ec1e5";

/* A plan "label" whose drills are due at the given instants. */
static void add_plan(struct lb_store *s, const char *id, const char *label,
                     const int64_t *due, size_t n, int replace, int expect_rc)
{
    struct lb_err err = {0};
    struct lb_sched_drill_info d[8];
    char commitment[65];
    struct lb_sched_plan_info p = {id, label, commitment, "lifeboat schedule v1\n", "alice",
                                   1000, 2000, (int)n};
    snprintf(commitment, sizeof commitment, "%s%s", id, SHA_X + strlen(id));
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        d[i].seq = (int)i + 1;
        d[i].due_at = due[i];
        d[i].scenario_id = i % 2 ? "dropped-table" : "backup-that-wasnt";
        d[i].scenario_file = "/srv/scenarios/x.lua";
        d[i].scenario_sha256 = SHA_X;
    }
    int rc = lb_store_sched_add(s, &p, d, n, replace, &err);
    if (rc != expect_rc)
        print_error("lb_store_sched_add: %s\n", err.msg);
    assert_int_equal(rc, expect_rc);
}

static void test_store_upgrades_a_version_1_file_to_version_2(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_view *v = NULL;
    struct lb_sched_view *plan = NULL;
    sqlite3 *db = NULL;
    struct lb_store *s;
    int64_t due[1] = {5000};

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_dump, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    s = open_ok(f->path);
    assert_int_equal(lb_store_version(s), 2);
    /* The version 1 run is whole... */
    assert_int_equal(lb_store_load_run(s, "20261126-153827-253f", &v, &err), 0);
    assert_string_equal(v->status, "passed");
    assert_int_equal(v->nsteps, 1);
    assert_int_equal(v->nchecks, 1);
    assert_int_equal(v->nmetrics, 1);
    lb_run_view_free(v);
    /* ...and the version 2 tables work, foreign keys to old runs included. */
    add_plan(s, "0123456789abcdef", "2027Q1", due, 1, 0, 0);
    assert_int_equal(lb_store_sched_load(s, "2027Q1", &plan, &err), 0);
    assert_int_equal(plan->ndrills, 1);
    lb_sched_view_free(plan);
    {
        int64_t id = -1;
        assert_int_equal(lb_store_ack_wait_begin(s, "20261126-153827-253f", 1, "look", 1, -1,
                                                 &id, &err), 0);
        assert_true(id > 0);
    }
    lb_store_close(s);
    /* Opening again migrates nothing twice. */
    s = open_ok(f->path);
    assert_int_equal(lb_store_version(s), 2);
    lb_store_close(s);
}

static void test_store_sched_keeps_one_active_plan_per_period(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_sched_view *v = NULL, **list = NULL;
    struct lb_store *s = open_ok(f->path);
    int64_t due[3] = {1000, 2000, 3000};
    size_t n = 0;

    add_plan(s, "aaaa000000000001", "2027Q1", due, 3, 0, 0);
    /* A second plan for the period is refused: no quiet re-rolls. */
    add_plan(s, "aaaa000000000002", "2027Q1", due, 2, 0, LB_EINVAL);
    add_plan(s, "aaaa000000000002", "2027Q1", due, 2, 1, 0);
    add_plan(s, "bbbb000000000003", "2027Q2", due, 1, 0, 0);

    assert_int_equal(lb_store_sched_load(s, "aaaa000000000001", &v, &err), 0);
    assert_string_equal(v->status, "superseded");
    assert_true(v->superseded_at >= 0);
    assert_int_equal(v->ndrills, 3);
    for (size_t i = 0; i < v->ndrills; i++)
        assert_string_equal(v->drills[i].state, "cancelled");
    lb_sched_view_free(v);

    /* By label: its active plan; by prefix; the newest active plan. */
    assert_int_equal(lb_store_sched_load(s, "2027Q1", &v, &err), 0);
    assert_string_equal(v->id, "aaaa000000000002");
    assert_string_equal(v->drills[1].state, "pending");
    assert_int_equal(v->drills[1].due_at, 2000);
    assert_string_equal(v->drills[1].scenario_id, "dropped-table");
    assert_int_equal(v->drills[1].exit_code, -1);
    assert_null(v->drills[1].run_id);
    lb_sched_view_free(v);
    assert_int_equal(lb_store_sched_load(s, "bbbb", &v, &err), 0);
    assert_string_equal(v->label, "2027Q2");
    lb_sched_view_free(v);
    assert_int_equal(lb_store_sched_load(s, "aaaa", &v, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "ambiguous"));
    assert_int_equal(lb_store_sched_load(s, "2031Q4", &v, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_sched_load(s, NULL, &v, &err), 0);
    assert_string_equal(v->id, "bbbb000000000003");
    lb_sched_view_free(v);

    assert_int_equal(lb_store_sched_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0]->ndrills, 0);
    lb_sched_list_free(list, n);

    assert_int_equal(lb_store_sched_revealed(s, "bbbb000000000003", "carol", 7000, &err), 0);
    assert_int_equal(lb_store_sched_revealed(s, "bbbb000000000003", "dave", 8000, &err), 0);
    assert_int_equal(lb_store_sched_load(s, "bbbb000000000003", &v, &err), 0);
    assert_string_equal(v->revealed_by, "carol");   /* the first reveal counts */
    assert_int_equal(v->revealed_at, 7000);
    lb_sched_view_free(v);
    lb_store_close(s);
}

static void test_store_sched_claim_runs_a_due_drill_once_and_one_at_a_time(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_sched_claim c;
    struct lb_sched_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    int64_t now = lb_wall_ms();
    int64_t due[3] = {now - 60000, now - 30000, now + 3600000};
    int n = -1;

    add_plan(s, "cccc000000000001", "2027Q1", due, 3, 0, 0);
    assert_int_equal(lb_store_sched_due_count(s, now, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lb_store_sched_claim(s, now, 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_RUN);
    assert_int_equal(c.seq, 1);
    assert_int_equal(c.count, 3);
    assert_string_equal(c.label, "2027Q1");
    assert_string_equal(c.scenario_file, "/srv/scenarios/x.lua");
    lb_sched_claim_free(&c);
    /* Its holder (this process) lives: nothing else starts meanwhile. */
    assert_int_equal(lb_store_sched_claim(s, now, 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_BUSY);
    assert_int_equal(c.busy_pid, (long long)getpid());
    lb_sched_claim_free(&c);

    begin_run(s, "20270101-000000-aaaa", "backup-that-wasnt", now);
    assert_int_equal(lb_store_sched_finish(s, "cccc000000000001", 1, "ran",
                                           "20270101-000000-aaaa", 0, now + 5, &err), 0);
    assert_int_equal(lb_store_sched_finish(s, "cccc000000000001", 1, "ran", NULL, 0, now, &err),
                     LB_ENOTFOUND);
    assert_int_equal(lb_store_sched_finish(s, "cccc000000000001", 2, "exploded", NULL, 0, now,
                                           &err), LB_EINVAL);
    assert_int_equal(lb_store_sched_claim(s, now, 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_RUN);
    assert_int_equal(c.seq, 2);
    lb_sched_claim_free(&c);
    assert_int_equal(lb_store_sched_finish(s, "cccc000000000001", 2, "failed", NULL, 1, now,
                                           &err), 0);
    /* The third is not due yet. */
    assert_int_equal(lb_store_sched_claim(s, now, 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_NONE);

    assert_int_equal(lb_store_sched_load(s, NULL, &v, &err), 0);
    assert_string_equal(v->drills[0].state, "ran");
    assert_string_equal(v->drills[0].run_id, "20270101-000000-aaaa");
    assert_int_equal(v->drills[0].exit_code, 0);
    assert_int_equal(v->drills[0].claimed_pid, (long long)getpid());
    assert_string_equal(v->drills[1].state, "failed");
    assert_string_equal(v->drills[2].state, "pending");
    lb_sched_view_free(v);
    lb_store_close(s);
}

/* Child of the race: wait for the start signal, claim, hold the claim a
 * moment (a drill runs), exit with what it got. */
static void claim_in_child(const char *path, int go_fd)
{
    struct lb_store *s = NULL;
    struct lb_err err = {0};
    struct lb_sched_claim c;
    char b;
    int kind = 99;
    if (read(go_fd, &b, 1) == 1 && lb_store_open(path, &s, &err) == 0 &&
        lb_store_sched_claim(s, lb_wall_ms(), 3600000, &c, &err) == 0) {
        kind = (int)c.kind;
        lb_sched_claim_free(&c);
    }
    lb_sleep_ms(500);
    lb_store_close(s);
    _exit(kind);
}

static void test_store_sched_two_claims_at_once_take_the_drill_once(void **state)
{
    struct fx *f = *state;
    struct lb_store *s = open_ok(f->path);
    int64_t due[1] = {lb_wall_ms() - 1000};
    int go[2], runs = 0, others = 0;
    pid_t kids[2];

    add_plan(s, "dddd000000000001", "2027Q1", due, 1, 0, 0);
    lb_store_close(s);   /* no SQLite handle crosses a fork */
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(go[1]);
            claim_in_child(f->path, go[0]);
        }
    }
    close(go[0]);
    assert_int_equal(write(go[1], "gg", 2), 2);
    close(go[1]);
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == LB_SCHED_RUN)
            runs++;
        else if (WEXITSTATUS(status) == LB_SCHED_BUSY || WEXITSTATUS(status) == LB_SCHED_NONE)
            others++;
    }
    assert_int_equal(runs, 1);
    assert_int_equal(others, 1);
}

static void test_store_sched_claim_records_late_drills_missed_and_closes_dead_claims(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_sched_claim c;
    struct lb_sched_view *v = NULL;
    struct lb_store *s = open_ok(f->path);
    int64_t now = lb_wall_ms();
    int64_t due[2] = {now - 3 * 3600000LL, now - 60000};
    int status = 0;
    pid_t kid;

    add_plan(s, "eeee000000000001", "2027Q1", due, 2, 0, 0);
    /* Three hours late with a grace of one: missed, not run. */
    assert_int_equal(lb_store_sched_claim(s, now, 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_MISSED);
    assert_int_equal(c.seq, 1);
    assert_int_equal(c.due_at, due[0]);
    lb_sched_claim_free(&c);
    lb_store_close(s);

    /* A `due` that claims drill 2, begins its run and dies (kill -9). */
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        struct lb_store *cs = NULL;
        struct lb_run_info info = {.id = "20270101-000000-dead", .scenario_id = "dropped-table"};
        if (lb_store_open(f->path, &cs, &err) != 0 ||
            lb_store_sched_claim(cs, lb_wall_ms(), 3600000, &c, &err) != 0 ||
            c.kind != LB_SCHED_RUN)
            _exit(1);
        info.started_at = lb_wall_ms();
        if (lb_store_run_begin(cs, &info, &err) != 0)
            _exit(2);
        _exit(0);
    }
    assert_int_equal(waitpid(kid, &status, 0), kid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    s = open_ok(f->path);
    assert_int_equal(lb_store_sched_claim(s, lb_wall_ms(), 3600000, &c, &err), 0);
    assert_int_equal(c.kind, LB_SCHED_NONE);
    assert_int_equal(c.reaped, 1);
    assert_int_equal(lb_store_sched_load(s, "eeee000000000001", &v, &err), 0);
    assert_string_equal(v->drills[0].state, "missed");
    assert_true(v->drills[0].finished_at >= now);
    assert_string_equal(v->drills[1].state, "interrupted");
    assert_non_null(v->drills[1].run_id);
    assert_string_equal(v->drills[1].run_id, "20270101-000000-dead");
    lb_sched_view_free(v);
    lb_store_close(s);
}

static void test_store_ack_refuses_when_nothing_waits_there(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_ack_view v = {0};
    struct lb_store *s = open_ok(f->path);
    struct lb_run_result done = {"passed", 0, 9000, -1, -1, NULL, NULL};
    int64_t id = -1, id2 = -1;
    int changed = -1;

    begin_run(s, "20270101-000000-ack1", "people", 1000);
    plan_step(s, "20270101-000000-ack1", 1, "baseline", "check");
    plan_step(s, "20270101-000000-ack1", 2, "page the DBA", "manual");
    assert_int_equal(lb_store_ack(s, "20270101-000000-ack1", NULL, "bob", "cli", NULL, 1500,
                                  &v, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nothing waits for an acknowledgement in run "
                                    "20270101-000000-ack1"));

    assert_int_equal(lb_store_ack_wait_begin(s, "20270101-000000-ack1", 2, "call the DBA",
                                             2000, 62000, &id, &err), 0);
    /* One open wait per run. */
    assert_int_equal(lb_store_ack_wait_begin(s, "20270101-000000-ack1", 2, "again", 2000, -1,
                                             &id2, &err), LB_EINVAL);
    assert_int_equal(lb_store_ack(s, "20270101-000000-ack1", "1", "bob", "cli", NULL, 3000, &v,
                                  &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "step 2 'page the DBA' does"));
    assert_int_equal(lb_store_ack(s, "20270101-000000-ack1", "no such step", "bob", "cli", NULL,
                                  3000, &v, &err), LB_ENOTFOUND);
    assert_int_equal(lb_store_ack(s, "20270101-000000-ack1", NULL, "bob", "cli", NULL, 70000,
                                  &v, &err), LB_ESTATE);
    assert_non_null(strstr(err.msg, "too late"));
    /* By prefix and step name, in time: acknowledged, by whom and when. */
    assert_int_equal(lb_store_ack(s, "20270101-000000-ac", "page the DBA", "bob", "cli",
                                  "laptop", 5000, &v, &err), 0);
    assert_int_equal(v.id, id);
    assert_int_equal(v.step_seq, 2);
    assert_string_equal(v.state, "acknowledged");
    lb_ack_view_clear(&v);
    /* The waiter's timeout, arriving after, changes nothing. */
    assert_int_equal(lb_store_ack_wait_end(s, id, "timeout", NULL, NULL, NULL, 62000, &changed,
                                           &err), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(lb_store_ack_wait_get(s, id, &v, &err), 0);
    assert_string_equal(v.state, "acknowledged");
    assert_string_equal(v.acked_by, "bob");
    assert_string_equal(v.acked_via, "cli");
    assert_int_equal(v.ended_at, 5000);
    lb_ack_view_clear(&v);
    assert_int_equal(lb_store_ack_wait_end(s, id, "exploded", NULL, NULL, NULL, 1, &changed,
                                           &err), LB_EINVAL);

    /* A run that is over waits for nobody. */
    assert_int_equal(lb_store_ack_wait_begin(s, "20270101-000000-ack1", 2, "again", 6000, -1,
                                             &id2, &err), 0);
    assert_int_equal(lb_store_run_end(s, "20270101-000000-ack1", &done, &err), 0);
    assert_int_equal(lb_store_ack(s, "20270101-000000-ack1", NULL, "bob", "cli", NULL, 7000, &v,
                                  &err), LB_ESTATE);
    assert_non_null(strstr(err.msg, "is not running"));
    lb_store_close(s);
}

static void test_store_a_dead_writer_leaves_no_manual_wait_open(void **state)
{
    struct fx *f = *state;
    struct lb_err err = {0};
    struct lb_ack_view v = {0};
    struct lb_store *s;
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct lb_run_info info = run_info("gone", "people", 1000);
        struct lb_step_info st = {1, "page the DBA", "manual", 0, -1, "x.lua:1"};
        int64_t id = -1;
        s = NULL;
        if (lb_store_open(f->path, &s, &err) != 0 || lb_store_run_begin(s, &info, &err) != 0 ||
            lb_store_step_plan(s, "gone", &st, &err) != 0 ||
            lb_store_step_start(s, "gone", 1, 1100, &err) != 0 ||
            lb_store_ack_wait_begin(s, "gone", 1, "call the DBA", 1200, -1, &id, &err) != 0)
            _exit(1);
        _exit(0);   /* dies waiting */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    s = open_ok(f->path);
    assert_int_equal(lb_store_ack_wait_get(s, 1, &v, &err), 0);
    assert_string_equal(v.state, "interrupted");
    assert_true(v.ended_at > 0);
    lb_ack_view_clear(&v);
    assert_int_equal(lb_store_ack(s, "gone", NULL, "bob", "cli", NULL, 2000, &v, &err),
                     LB_ESTATE);
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
        T(test_store_upgrades_a_version_1_file_to_version_2),
        T(test_store_sched_keeps_one_active_plan_per_period),
        T(test_store_sched_claim_runs_a_due_drill_once_and_one_at_a_time),
        T(test_store_sched_two_claims_at_once_take_the_drill_once),
        T(test_store_sched_claim_records_late_drills_missed_and_closes_dead_claims),
        T(test_store_ack_refuses_when_nothing_waits_there),
        T(test_store_a_dead_writer_leaves_no_manual_wait_open),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
