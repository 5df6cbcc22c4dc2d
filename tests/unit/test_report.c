/*
 * Unit tests of the Markdown and JSON reports.
 *
 * The fixture run below is rendered and compared byte for byte with
 * tests/fixtures/report/fixture.md and fixture.json. After an intended
 * change to a report, regenerate them and read the diff before committing:
 *
 *     LB_REGEN_GOLDEN=1 ./test_report
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lifeboat/report.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"

/* 2026-11-26T14:57:36.123Z */
#define T0 INT64_C(1795705056123)

/* A failed drill: the restore of the inventory table came back empty. */
static struct lb_step_view fixture_steps[] = {
    {.seq = 1, .name = "baseline", .kind = "check", .status = "passed",
     .declared_at = "scenarios/dropped-table.lua:12", .critical = 0,
     .timeout_ms = -1, .started_at = T0 + 377, .ended_at = T0 + 1577,
     .duration_ms = 1200},
    {.seq = 2, .name = "restore from nightly dump", .kind = "restore",
     .status = "failed", .error = "restored table inventory is empty\n(0 of 1200 rows)",
     .output_tail = "pg_restore: processing data for table \"public.inventory\"\n"
                    "pg_restore: warning: ```fence``` in output\n",
     .declared_at = "scenarios/dropped-table.lua:20", .critical = 1,
     .timeout_ms = 900000, .started_at = T0 + 3127, .ended_at = T0 + 395627,
     .duration_ms = 392500},
};

static struct lb_mark_view fixture_marks[] = {
    {.name = "incident", .source = "scenario", .at = T0 + 1877},
    {.name = "detected", .source = "scenario", .at = T0 + 3127},
    {.name = "recovered", .source = "auto", .at = T0 + 395877},
};

static struct lb_check_view fixture_checks[] = {
    {.step_seq = 2, .ok = 1, .name = "row count", .expected = "47",
     .observed = "47", .table_name = "accounts"},
    {.step_seq = 2, .ok = 0, .name = "row count", .expected = "1200",
     .observed = "0", .table_name = "inventory"},
    {.step_seq = 2, .ok = 1, .name = "foreign keys", .expected = "0 violations",
     .observed = "0 violations", .table_name = NULL},
};

static struct lb_metric_view fixture_metrics[] = {
    {.step_seq = 2, .name = "restore_seconds", .unit = "s", .value = 392.5},
    {.step_seq = 2, .name = "rows_restored", .unit = "rows", .value = 47},
};

/* Stored least severe first: the report must reorder them. */
static struct lb_gap_view fixture_gaps[] = {
    {.step_seq = -1, .severity = "minor", .category = "objective",
     .title = "RPO missed by 1h00m", .detail = "27h00m of writes lost, objective 26h00m"},
    {.step_seq = 2, .severity = "critical", .category = "validation",
     .title = "restore came back empty", .detail = "inventory: 0 of 1200 rows"},
    {.step_seq = 2, .severity = "major", .category = "backup",
     .title = "nightly dump is 27h old", .detail = "max_age is 26h"},
};

static struct lb_table_stat_view fixture_stats[] = {
    {.step_seq = 1, .phase = "baseline", .table_name = "accounts",
     .fingerprint = "3f2a9c1be07d4e5f8a6b", .schema_fingerprint = "s1", .rows = 47},
    {.step_seq = 1, .phase = "baseline", .table_name = "inventory",
     .fingerprint = "9d8c7b6a5f4e3d2c1b0a", .schema_fingerprint = "s2", .rows = 1200},
    {.step_seq = 2, .phase = "restored", .table_name = "accounts",
     .fingerprint = "3f2a9c1be07d4e5f8a6b", .schema_fingerprint = "s1", .rows = 47},
    {.step_seq = 2, .phase = "restored", .table_name = "inventory",
     .fingerprint = "e3b0c44298fc1c149afb", .schema_fingerprint = "s2", .rows = 0},
};

static struct lb_rollback_view fixture_rollbacks[] = {
    {.id = 1, .name = "drop the restored copy", .status = "passed",
     .declared_at = "scenarios/dropped-table.lua:30"},
    {.id = 2, .name = "restart the replica", .status = "failed",
     .error = "pg_ctl: server did not start in time",
     .declared_at = "scenarios/dropped-table.lua:34"},
};

static struct lb_run_view fixture_view(void)
{
    struct lb_run_view v = {
        .id = "20261126-145736-ab12",
        .scenario_id = "dropped-table",
        .scenario_title = "An operator drops the inventory table",
        .scenario_file = "scenarios/dropped-table.lua",
        .scenario_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .environment = "sandbox",
        .kind = "drill",
        .operator_name = "alice",
        .host = "drill-runner-1",
        .version = "0.1.0",
        .status = "failed",
        .rpo_method = "backup snapshot time",
        .error = "validation failed: 1 of 3 checks",
        .plan_json = "{\"steps\":[\"baseline\",\"restore from nightly dump\"]}",
        .dry_run = 0,
        .exit_code = 1,
        .started_at = T0,
        .ended_at = T0 + 400000,
        .rto_ms = 394000,
        .rpo_ms = 97200000,
        .rto_objective_ms = 600000,
        .rpo_objective_ms = 93600000,
        .steps = fixture_steps,
        .nsteps = sizeof fixture_steps / sizeof fixture_steps[0],
        .marks = fixture_marks,
        .nmarks = sizeof fixture_marks / sizeof fixture_marks[0],
        .checks = fixture_checks,
        .nchecks = sizeof fixture_checks / sizeof fixture_checks[0],
        .metrics = fixture_metrics,
        .nmetrics = sizeof fixture_metrics / sizeof fixture_metrics[0],
        .gaps = fixture_gaps,
        .ngaps = sizeof fixture_gaps / sizeof fixture_gaps[0],
        .stats = fixture_stats,
        .nstats = sizeof fixture_stats / sizeof fixture_stats[0],
        .rollbacks = fixture_rollbacks,
        .nrollbacks = sizeof fixture_rollbacks / sizeof fixture_rollbacks[0],
    };
    return v;
}

/* Compare text with a golden file, or rewrite it under LB_REGEN_GOLDEN=1. */
static void assert_golden(const char *name, const struct lb_buf *b)
{
    struct lb_err err = {0};
    char *path = lb_xasprintf("%s/report/%s", LB_TEST_FIXTURES, name);
    char *want = NULL;
    size_t len = 0;
    const char *regen = getenv("LB_REGEN_GOLDEN");

    if (regen != NULL && strcmp(regen, "1") == 0) {
        char *dir = lb_path_dir(path);
        assert_int_equal(lb_mkdirs(dir, 0755, &err), 0);
        assert_int_equal(lb_file_write(path, b->data, b->len, &err), 0);
        print_message("rewrote %s\n", path);
        free(dir);
    }
    if (lb_file_read(path, &want, &len, &err) != 0)
        fail_msg("%s (regenerate with LB_REGEN_GOLDEN=1)", err.msg);
    if (len != b->len || memcmp(want, b->data, len) != 0) {
        print_error("--- %s differs; rendered:\n%s\n", path, b->data);
        fail_msg("%s differs from the rendered report", name);
    }
    free(want);
    free(path);
}

static void test_report_markdown_matches_the_golden_file(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    lb_report_markdown(&v, &b);
    assert_golden("fixture.md", &b);
    lb_buf_free(&b);
}

static void test_report_json_matches_the_golden_file(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    lb_report_json(&v, &b);
    assert_golden("fixture.json", &b);
    lb_buf_free(&b);
}

static void test_report_rendering_is_deterministic(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf a = {0}, b = {0};
    lb_report_markdown(&v, &a);
    lb_report_json(&v, &a);
    lb_report_markdown(&v, &b);
    lb_report_json(&v, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    lb_buf_free(&a);
    lb_buf_free(&b);
}

static void test_report_markdown_lists_gaps_most_severe_first(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    const char *gaps, *critical, *major, *minor;

    lb_report_markdown(&v, &b);
    gaps = strstr(b.data, "## Gaps");
    assert_non_null(gaps);
    critical = strstr(gaps, "| **critical** | validation | restore came back empty |");
    major = strstr(gaps, "| major | backup | nightly dump is 27h old |");
    minor = strstr(gaps, "| minor | objective | RPO missed by 1h00m |");
    assert_non_null(critical);
    assert_non_null(major);
    assert_non_null(minor);
    assert_true(critical < major);
    assert_true(major < minor);
    lb_buf_free(&b);
}

/* Cell separators in one Markdown table row: pipes not escaped by '\'. */
static int row_separators(const char *line, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\\')
            i++;
        else if (line[i] == '|')
            n++;
    }
    return n;
}

static void test_report_markdown_keeps_a_pipe_in_a_step_name_inside_its_cell(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_step_view steps[2];
    struct lb_buf b = {0};
    const char *header, *row, *end;

    memcpy(steps, fixture_steps, sizeof steps);
    steps[1].name = "restore | verify\nthen \\ check";
    v.steps = steps;
    lb_report_markdown(&v, &b);

    header = strstr(b.data, "| # | step | kind |");
    assert_non_null(header);
    row = strstr(b.data, "| 2 | restore \\| verify<br>then \\\\ check | restore, critical |");
    assert_non_null(row);
    end = strchr(row, '\n');
    assert_non_null(end);
    assert_int_equal(row_separators(row, (size_t)(end - row)),
                     row_separators(header, (size_t)(strchr(header, '\n') - header)));
    /* The step output heading stays on one line. */
    assert_non_null(strstr(b.data, "### 2. restore \\| verify then \\\\ check (failed)\n"));
    lb_buf_free(&b);
}

static void test_report_markdown_flags_an_empty_restore(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    lb_report_markdown(&v, &b);
    assert_non_null(strstr(b.data, "| inventory | 1200 | `9d8c7b6a5f4e` | 0 | "
                                   "`e3b0c44298fc` | **EMPTY RESTORE** |"));
    assert_non_null(strstr(b.data, "| accounts | 47 | `3f2a9c1be07d` | 47 | "
                                   "`3f2a9c1be07d` | match |"));
    lb_buf_free(&b);
}

static void test_report_markdown_shows_each_verdict(void **state)
{
    static const struct {
        const char *status, *line;
    } cases[] = {
        {"passed", "**Verdict: PASSED**"},
        {"refused", "**Verdict: REFUSED**"},
        {"aborted", "**Verdict: ABORTED**"},
        {"interrupted", "**Verdict: INTERRUPTED**"},
        {"rollback_failed", "**Verdict: ROLLBACK FAILED**"},
        {"planned", "**Verdict: PLANNED (dry run)**"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lb_run_view v = fixture_view();
        struct lb_buf b = {0};
        v.status = (char *)cases[i].status;
        lb_report_markdown(&v, &b);
        assert_non_null(strstr(b.data, cases[i].line));
        lb_buf_free(&b);
    }
}

static void test_report_renders_a_run_with_nothing_recorded(void **state)
{
    struct lb_run_view v = {
        .id = "r", .scenario_id = "s", .exit_code = -1, .started_at = -1,
        .ended_at = -1, .rto_ms = -1, .rpo_ms = -1, .rto_objective_ms = -1,
        .rpo_objective_ms = -1,
    };
    struct lb_buf b = {0};
    cJSON *root;

    lb_report_markdown(&v, &b);
    assert_true(lb_str_starts(b.data, "# Drill report: s\n"));
    assert_non_null(strstr(b.data, "**Verdict: UNKNOWN**"));
    assert_non_null(strstr(b.data, "No steps recorded."));
    assert_non_null(strstr(b.data, "| RTO | - | - | not measured |"));
    lb_buf_reset(&b);
    lb_report_json(&v, &b);
    root = cJSON_Parse(b.data);
    assert_non_null(root);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(root, "started_at")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "steps")), 0);
    cJSON_Delete(root);
    lb_buf_free(&b);
}

static void test_report_json_parses_back_with_the_right_counts(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    cJSON *root, *steps, *step2, *plan, *sum;

    lb_report_json(&v, &b);
    root = cJSON_Parse(b.data);
    assert_non_null(root);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "id")),
                        "20261126-145736-ab12");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "verdict")),
                        "FAILED");
    assert_true(cJSON_GetObjectItem(root, "started_at_ms")->valuedouble == (double)T0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "started_at")),
                        "2026-11-26T14:57:36.123Z");
    steps = cJSON_GetObjectItem(root, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "marks")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "checks")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "metrics")), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "gaps")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "table_stats")), 4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "rollbacks")), 2);
    step2 = cJSON_GetArrayItem(steps, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(step2, "critical")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(step2, "error")),
                        "restored table inventory is empty\n(0 of 1200 rows)");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(steps, 0),
                                                 "timeout_ms")));
    plan = cJSON_GetObjectItem(root, "plan");
    assert_true(cJSON_IsObject(plan));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(plan, "steps")), 2);
    sum = cJSON_GetObjectItem(root, "summary");
    assert_true(cJSON_GetObjectItem(sum, "checks_failed")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(sum, "gaps_critical")->valuedouble == 1.0);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(root, "objectives"), "rpo"), "result")),
        "missed");
    cJSON_Delete(root);
    lb_buf_free(&b);
}

static void test_report_json_replaces_invalid_utf8(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_step_view steps[2];
    struct lb_buf b = {0};
    cJSON *root;

    memcpy(steps, fixture_steps, sizeof steps);
    steps[0].output_tail = "bad \xff byte, caf\xc3\xa9";
    v.steps = steps;
    lb_report_json(&v, &b);
    root = cJSON_Parse(b.data);
    assert_non_null(root);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(root, "steps"), 0), "output_tail")),
        "bad \xef\xbf\xbd byte, caf\xc3\xa9");
    cJSON_Delete(root);
    lb_buf_free(&b);
}

static void test_report_parse_formats_accepts_md_markdown_and_json(void **state)
{
    struct lb_err err = {0};
    unsigned f = 0;
    assert_int_equal(lb_report_parse_formats("md,json", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_MD | LB_REPORT_JSON);
    assert_int_equal(lb_report_parse_formats("markdown", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_MD);
    assert_int_equal(lb_report_parse_formats(" json , JSON ", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_JSON);
}

static void test_report_parse_formats_rejects_pdf_and_later_formats(void **state)
{
    struct lb_err err = {0};
    unsigned f = 7;
    assert_int_equal(lb_report_parse_formats("md,pdf", &f, &err), LB_EINVAL);
    assert_int_equal(f, 0);
    assert_non_null(strstr(err.msg, "'pdf'"));
    assert_int_equal(lb_report_parse_formats("html", &f, &err), LB_EINVAL);
    assert_string_equal(err.msg, "format 'html' is not supported yet (md, json)");
    assert_int_equal(lb_report_parse_formats("junit", &f, &err), LB_EINVAL);
    assert_int_equal(lb_report_parse_formats("", &f, &err), LB_EINVAL);
    assert_int_equal(lb_report_parse_formats(",", &f, &err), LB_EINVAL);
}

struct store_fx {
    char dir[64];
    char *db, *out;
    struct lb_store *s;
};

static int store_setup(void **state)
{
    struct store_fx *f = lb_xcalloc(1, sizeof *f);
    struct lb_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/lb-test-report-XXXXXX");
    if (mkdtemp(f->dir) == NULL || (f->db = lb_path_join(f->dir, "lifeboat.db")) == NULL ||
        lb_store_open(f->db, &f->s, &err) != 0) {
        free(f->db);
        free(f);
        return -1;
    }
    f->out = lb_path_join(f->dir, "reports/nested");
    *state = f;
    return 0;
}

static int store_teardown(void **state)
{
    struct store_fx *f = *state;
    const char *files[] = {"reports/nested/r1.md", "reports/nested/r1.json",
                           "lifeboat.db", "lifeboat.db-wal", "lifeboat.db-shm"};
    lb_store_close(f->s);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = lb_path_join(f->dir, files[i]);
        unlink(p);
        free(p);
    }
    {
        char *nested = lb_path_join(f->dir, "reports/nested");
        char *reports = lb_path_join(f->dir, "reports");
        rmdir(nested);
        rmdir(reports);
        free(nested);
        free(reports);
    }
    rmdir(f->dir);
    free(f->db);
    free(f->out);
    free(f);
    return 0;
}

static void test_report_write_renders_a_stored_run_into_files(void **state)
{
    struct store_fx *f = *state;
    struct lb_err err = {0};
    struct lb_run_info info = {.id = "r1", .scenario_id = "dropped-table",
                               .scenario_title = "Drop it", .started_at = T0,
                               .rto_objective_ms = -1, .rpo_objective_ms = -1};
    struct lb_step_info st = {1, "baseline", "check", 0, -1, "x.lua:1"};
    char *first = NULL, *text = NULL, *json_path;
    size_t len = 0;
    cJSON *root;

    assert_int_equal(lb_store_run_begin(f->s, &info, &err), 0);
    assert_int_equal(lb_store_step_plan(f->s, "r1", &st, &err), 0);
    assert_int_equal(lb_store_gap(f->s, "r1", 1, "major", "backup", "stale", NULL, &err),
                     0);

    assert_int_equal(lb_report_write(f->s, "r1", LB_REPORT_MD | LB_REPORT_JSON, f->out,
                                     &first, &err), 0);
    assert_non_null(first);
    assert_true(lb_str_ends(first, "reports/nested/r1.md"));
    assert_int_equal(lb_file_read(first, &text, &len, &err), 0);
    assert_true(lb_str_starts(text, "# Drill report: Drop it\n"));
    assert_non_null(strstr(text, "**Verdict: RUNNING**"));
    free(text);

    json_path = lb_path_join(f->out, "r1.json");
    assert_int_equal(lb_file_read(json_path, &text, &len, &err), 0);
    root = cJSON_Parse(text);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "gaps")), 1);
    cJSON_Delete(root);
    free(text);
    free(json_path);
    free(first);
}

static void test_report_write_of_an_unknown_run_is_not_found(void **state)
{
    struct store_fx *f = *state;
    struct lb_err err = {0};
    char *first = NULL;
    assert_int_equal(lb_report_write(f->s, "nope", LB_REPORT_MD, f->out, &first, &err),
                     LB_ENOTFOUND);
    assert_null(first);
    assert_non_null(strstr(err.msg, "no run matches 'nope'"));
    assert_false(lb_file_exists(f->out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_markdown_matches_the_golden_file),
        cmocka_unit_test(test_report_json_matches_the_golden_file),
        cmocka_unit_test(test_report_rendering_is_deterministic),
        cmocka_unit_test(test_report_markdown_lists_gaps_most_severe_first),
        cmocka_unit_test(test_report_markdown_keeps_a_pipe_in_a_step_name_inside_its_cell),
        cmocka_unit_test(test_report_markdown_flags_an_empty_restore),
        cmocka_unit_test(test_report_markdown_shows_each_verdict),
        cmocka_unit_test(test_report_renders_a_run_with_nothing_recorded),
        cmocka_unit_test(test_report_json_parses_back_with_the_right_counts),
        cmocka_unit_test(test_report_json_replaces_invalid_utf8),
        cmocka_unit_test(test_report_parse_formats_accepts_md_markdown_and_json),
        cmocka_unit_test(test_report_parse_formats_rejects_pdf_and_later_formats),
        cmocka_unit_test_setup_teardown(test_report_write_renders_a_stored_run_into_files,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_report_write_of_an_unknown_run_is_not_found,
                                        store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
