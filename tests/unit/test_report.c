/*
 * Unit tests of the reports: Markdown, JSON, HTML, JUnit, the terminal view,
 * trends and the drill index.
 *
 * The fixture run below is rendered and compared byte for byte with
 * tests/fixtures/report/fixture.md, fixture.json and fixture.junit.xml.
 * After an intended change to a report, regenerate them and read the diff
 * before committing:
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
#include <dirent.h>
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
    /* Named as lb_validate_findings and lb_validate_fk_findings name them. */
    {.step_seq = 2, .ok = 0, .name = "inventory: missing rows", .expected = "0",
     .observed = "1200: id 17, 18, 19", .table_name = "public.inventory"},
    {.step_seq = 2, .ok = 1, .name = "fk transactions_inventory_id_fkey",
     .expected = "0 rows without a parent", .observed = "0",
     .table_name = "public.transactions"},
};

static struct lb_metric_view fixture_metrics[] = {
    {.step_seq = 2, .name = "restore_seconds", .unit = "s", .value = 392.5},
    {.step_seq = 2, .name = "rows_restored", .unit = "rows", .value = 47},
    /* Sub-step phases (report.h): the first and last have no start. */
    {.step_seq = 2, .name = "phase.download.duration_ms", .unit = "ms", .value = 1500},
    {.step_seq = 2, .name = "phase.pg_restore.start_ms", .unit = "ms", .value = 1500},
    {.step_seq = 2, .name = "phase.pg_restore.duration_ms", .unit = "ms", .value = 390000},
    {.step_seq = 2, .name = "phase.analyze.duration_ms", .unit = "ms", .value = 1000},
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
        .plan_json = "{\"steps\":[\"baseline\",\"restore from nightly dump\"],"
                     "\"targets\":[{\"name\":\"staging\",\"role\":\"staging\","
                     "\"region\":\"us-east-1\",\"system_identifier\":"
                     "\"7441234567890123456\",\"cluster_name\":\"sandbox-us-east-1\","
                     "\"host\":\"127.0.0.1\",\"port\":54321,\"conninfo\":"
                     "\"host=127.0.0.1 password=hunter2\",\"guard_token\":\"s3cr3t-tok\"}],"
                     "\"backups\":[\"nightly_dump\"]}",
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
                                   "`e3b0c44298fc` | - | **missing rows: 1200: id 17, 18, 19** | "
                                   "**EMPTY RESTORE** |"));
    assert_non_null(strstr(b.data, "| accounts | 47 | `3f2a9c1be07d` | 47 | "
                                   "`3f2a9c1be07d` | - | - | match |"));
    /* A table known only from its FK check still gets its row. */
    assert_non_null(strstr(b.data, "| transactions | - | - | - | - | 0 | - | checked |"));
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
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "checks")), 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "metrics")), 6);
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
    assert_true(cJSON_GetObjectItem(sum, "checks_failed")->valuedouble == 2.0);
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

static void test_report_parse_formats_accepts_every_format_and_aliases(void **state)
{
    struct lb_err err = {0};
    unsigned f = 0;
    assert_int_equal(lb_report_parse_formats("md,json", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_MD | LB_REPORT_JSON);
    assert_int_equal(lb_report_parse_formats("markdown", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_MD);
    assert_int_equal(lb_report_parse_formats(" json , JSON ", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_JSON);
    assert_int_equal(lb_report_parse_formats("html,junit", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_HTML | LB_REPORT_JUNIT);
    assert_int_equal(lb_report_parse_formats("xml", &f, &err), 0);
    assert_int_equal(f, LB_REPORT_JUNIT);
    assert_string_equal(lb_report_extension(LB_REPORT_JUNIT), "junit.xml");
}

static void test_report_parse_formats_rejects_unknown_formats(void **state)
{
    struct lb_err err = {0};
    unsigned f = 7;
    assert_int_equal(lb_report_parse_formats("md,pdf", &f, &err), LB_EINVAL);
    assert_int_equal(f, 0);
    assert_non_null(strstr(err.msg, "'pdf'"));
    assert_int_equal(lb_report_parse_formats("", &f, &err), LB_EINVAL);
    assert_int_equal(lb_report_parse_formats(",", &f, &err), LB_EINVAL);
    assert_int_equal(lb_report_parse_formats("htmlx", &f, &err), LB_EINVAL);
}

/* ---- HTML ------------------------------------------------------------- */

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_report_html_has_one_bar_per_step_and_every_gap(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    const char *gaps, *critical, *major, *minor;

    lb_report_html(&v, &b);
    assert_true(lb_str_starts(b.data, "<!DOCTYPE html>"));
    assert_true(lb_str_ends(b.data, "</html>\n"));
    assert_int_equal(count_of(b.data, "<rect class=\"bar "), v.nsteps);
    assert_non_null(strstr(b.data, "<rect class=\"bar step-restore status-failed\""));
    assert_int_equal(count_of(b.data, "<li class=\"gap "), v.ngaps);
    gaps = strstr(b.data, "<ol class=\"gaps\">");
    assert_non_null(gaps);
    critical = strstr(gaps, "restore came back empty");
    major = strstr(gaps, "nightly dump is 27h old");
    minor = strstr(gaps, "RPO missed by 1h00m");
    assert_true(critical != NULL && major != NULL && minor != NULL);
    assert_true(critical < major && major < minor);
    /* Each gap says what was expected, what was observed and its step. */
    assert_non_null(strstr(gaps, "<dt>expected</dt><dd>1200</dd><dt>observed</dt><dd>0</dd>"));
    assert_non_null(strstr(gaps, "<dt>step</dt><dd>2 \xc2\xb7 restore from nightly dump</dd>"));
    assert_non_null(strstr(gaps, "<dt>expected</dt><dd>at most 1d02h</dd>"
                                 "<dt>observed</dt><dd>1d03h</dd>"));
    assert_non_null(strstr(gaps, "<dt>step</dt><dd>the run as a whole</dd>"));
    /* The three marks are vertical lines. */
    assert_non_null(strstr(b.data, "<line class=\"mark mark-incident\""));
    assert_non_null(strstr(b.data, "<line class=\"mark mark-detected\""));
    assert_non_null(strstr(b.data, "<line class=\"mark mark-recovered\""));
    assert_non_null(strstr(b.data, "class=\"banner verdict-failed\""));
    lb_buf_free(&b);
}

static void test_report_html_is_self_contained_without_any_script(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    lb_report_html(&v, &b);
    assert_null(strstr(b.data, "<script"));
    /* The only URI is the SVG namespace, which loads nothing. */
    assert_int_equal(count_of(b.data, "http"), count_of(b.data, "xmlns=\"http://www.w3.org/"));
    assert_null(strstr(b.data, "https://"));
    assert_int_equal(count_of(b.data, "src="), 0);
    assert_int_equal(count_of(b.data, "<link"), 0);
    /* Secrets a target identity might carry never show. */
    assert_null(strstr(b.data, "hunter2"));
    assert_null(strstr(b.data, "s3cr3t-tok"));
    assert_non_null(strstr(b.data, "system_identifier <code>7441234567890123456</code>"));
    lb_buf_free(&b);
}

static void test_report_html_draws_phases_under_their_step(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_buf b = {0};
    lb_report_html(&v, &b);
    assert_int_equal(count_of(b.data, "<rect class=\"phase "), 3);
    assert_non_null(strstr(b.data, "<title>phase download: 1.5s, from +0ms</title>"));
    assert_non_null(strstr(b.data, "<title>phase pg_restore: 6m30s, from +1500ms</title>"));
    /* analyze has no start: it follows pg_restore. */
    assert_non_null(strstr(b.data, "<title>phase analyze: 1.0s, from +391500ms</title>"));
    /* Phases are in the timeline, not the metrics table. */
    assert_null(strstr(b.data, "phase.download.duration_ms"));
    lb_buf_free(&b);
}

/* A run whose every text field tries to break out of its context. */
#define EVIL "<script>alert('x')</script> \"q\" & 'a' ]]> \x01"

static struct lb_run_view evil_view(struct lb_step_view *steps, struct lb_gap_view *gap,
                                    struct lb_check_view *check, struct lb_mark_view *mark,
                                    struct lb_rollback_view *rb)
{
    struct lb_run_view v = fixture_view();
    memcpy(steps, fixture_steps, sizeof fixture_steps);
    steps[0].name = EVIL;
    steps[0].kind = EVIL;
    steps[0].status = EVIL;
    steps[1].error = EVIL;
    steps[1].output_tail = EVIL;
    *gap = (struct lb_gap_view){.step_seq = 1, .severity = "critical", .category = EVIL,
                                .title = EVIL, .detail = EVIL};
    *check = (struct lb_check_view){.step_seq = 1, .ok = 0, .name = EVIL, .expected = EVIL,
                                    .observed = EVIL, .table_name = EVIL};
    *mark = (struct lb_mark_view){.name = EVIL, .source = EVIL, .at = T0 + 10};
    *rb = (struct lb_rollback_view){.id = 1, .name = EVIL, .status = EVIL, .error = EVIL};
    v.id = "r-evil";
    v.scenario_id = EVIL;
    v.scenario_title = EVIL;
    v.environment = EVIL;
    v.operator_name = EVIL;
    v.error = EVIL;
    v.rpo_method = EVIL;
    v.steps = steps;
    v.gaps = gap;
    v.ngaps = 1;
    v.checks = check;
    v.nchecks = 1;
    v.marks = mark;
    v.nmarks = 1;
    v.rollbacks = rb;
    v.nrollbacks = 1;
    return v;
}

static void test_report_html_shows_script_quotes_and_ampersands_as_text(void **state)
{
    struct lb_step_view steps[2];
    struct lb_gap_view gap;
    struct lb_check_view check;
    struct lb_mark_view mark;
    struct lb_rollback_view rb;
    struct lb_run_view v = evil_view(steps, &gap, &check, &mark, &rb);
    struct lb_buf b = {0};

    lb_report_html(&v, &b);
    assert_null(strstr(b.data, "<script"));
    assert_null(strstr(b.data, "\x01"));
    assert_non_null(strstr(b.data, "&lt;script&gt;alert('x')&lt;/script&gt; \"q\" &amp; 'a' "
                                   "]]&gt; \xef\xbf\xbd"));
    /* In attributes, quotes are references too: no attribute can be closed. */
    assert_non_null(strstr(b.data, "status-"));
    assert_null(strstr(b.data, "status-<"));
    assert_int_equal(count_of(b.data, "<rect class=\"bar "), 2);
    assert_int_equal(count_of(b.data, "<li class=\"gap "), 1);
    lb_buf_reset(&b);
    lb_report_markdown(&v, &b);
    /* In Markdown it is raw only inside fenced blocks (the run's error, the
     * step's error and output), where renderers show it as code. */
    assert_int_equal(count_of(b.data, "<script"), 3);
    assert_int_equal(count_of(b.data, "```text\n<script"), 3);
    lb_buf_free(&b);
}

static void test_report_junit_shows_script_quotes_and_ampersands_as_text(void **state)
{
    struct lb_step_view steps[2];
    struct lb_gap_view gap;
    struct lb_check_view check;
    struct lb_mark_view mark;
    struct lb_rollback_view rb;
    struct lb_run_view v = evil_view(steps, &gap, &check, &mark, &rb);
    const struct lb_run_view *runs[1] = {&v};
    struct lb_buf b = {0};

    lb_report_junit(runs, 1, &b);
    assert_null(strstr(b.data, "<script"));
    assert_null(strstr(b.data, "\x01"));
    assert_null(strstr(b.data, "]]>"));
    assert_non_null(strstr(b.data, "name=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                                   "&quot;q&quot; &amp; &#39;a&#39; ]]&gt; \xef\xbf\xbd\""));
    lb_buf_free(&b);
}

/* ---- JUnit ------------------------------------------------------------ */

static void test_report_junit_matches_the_golden_file(void **state)
{
    struct lb_run_view v = fixture_view();
    const struct lb_run_view *runs[1] = {&v};
    struct lb_buf b = {0};
    lb_report_junit(runs, 1, &b);
    assert_golden("fixture.junit.xml", &b);
    lb_buf_free(&b);
}

static void test_report_junit_has_a_testcase_per_step_and_check_carrying_gaps(void **state)
{
    struct lb_run_view v = fixture_view();
    const struct lb_run_view *runs[2] = {&v, &v};
    struct lb_buf b = {0};
    const char *step2, *end;

    lb_report_junit(runs, 1, &b);
    /* 2 steps + 5 checks + RTO + RPO + 2 rollbacks + the run. */
    assert_int_equal(count_of(b.data, "<testcase "), 12);
    assert_int_equal(count_of(b.data, "<testsuite "), 1);
    assert_non_null(strstr(b.data, "<testsuite name=\"lifeboat.dropped-table\" id=\"0\" "
                                   "package=\"lifeboat\" hostname=\"drill-runner-1\" "
                                   "timestamp=\"2026-11-26T14:57:36\" tests=\"12\" "
                                   "failures=\"6\" errors=\"0\" skipped=\"0\""));
    step2 = strstr(b.data, "classname=\"lifeboat.dropped-table.steps\" "
                           "name=\"restore from nightly dump\"");
    assert_non_null(step2);
    end = strstr(step2, "</testcase>");
    assert_non_null(end);
    /* The failed step's failure carries its error and both of its gaps. */
    assert_non_null(strstr(step2, "<failure message=\"restored table inventory is empty&#10;"
                                  "(0 of 1200 rows)\" type=\"failed\">"));
    assert_true(strstr(step2, "gap [critical] validation: restore came back empty") < end);
    assert_true(strstr(step2, "gap [major] backup: nightly dump is 27h old") < end);
    /* The run-level RPO gap fails the RPO testcase. */
    assert_non_null(strstr(b.data, "name=\"RPO\" time=\"0.000\">\n      <failure "
                                   "message=\"RPO 1d03h, objective 1d02h\" type=\"objective\">"));
    /* Checks are named with their table when the name lacks it. */
    assert_non_null(strstr(b.data, "name=\"row count (inventory)\""));
    assert_non_null(strstr(b.data, "name=\"row count (accounts)\" time=\"0.000\"/>"));

    lb_buf_reset(&b);
    lb_report_junit(runs, 2, &b);
    assert_int_equal(count_of(b.data, "<testsuite "), 2);
    assert_non_null(strstr(b.data, "<testsuites name=\"lifeboat\" tests=\"24\" "
                                   "failures=\"12\" errors=\"0\""));
    lb_buf_free(&b);
}

static void test_report_junit_errors_an_interrupted_step_and_skips_unrun_ones(void **state)
{
    struct lb_run_view v = fixture_view();
    const struct lb_run_view *runs[1] = {&v};
    struct lb_step_view steps[2];
    struct lb_buf b = {0};

    memcpy(steps, fixture_steps, sizeof steps);
    steps[0].status = "interrupted";
    steps[1].status = "skipped";
    steps[1].error = NULL;
    v.steps = steps;
    v.status = "interrupted";
    v.ngaps = 0;
    lb_report_junit(runs, 1, &b);
    assert_non_null(strstr(b.data, "<error message=\"interrupted\" type=\"interrupted\">"));
    assert_non_null(strstr(b.data, "<skipped message=\"skipped\"/>"));
    assert_non_null(strstr(b.data, "name=\"verdict\" time=\"400.000\">\n      <error "
                                   "message=\"INTERRUPTED\" type=\"interrupted\">"));
    lb_buf_free(&b);
}

static void test_report_junit_gives_repeated_names_a_number(void **state)
{
    struct lb_run_view v = fixture_view();
    const struct lb_run_view *runs[1] = {&v};
    struct lb_step_view steps[3];
    struct lb_buf b = {0};

    memcpy(steps, fixture_steps, sizeof fixture_steps);
    steps[2] = fixture_steps[0];
    steps[2].seq = 3;
    v.steps = steps;
    v.nsteps = 3;
    lb_report_junit(runs, 1, &b);
    assert_int_equal(count_of(b.data, "steps\" name=\"baseline\""), 1);
    assert_int_equal(count_of(b.data, "steps\" name=\"baseline #2\""), 1);
    /* The same name in another group is no repeat. */
    assert_int_equal(count_of(b.data, "checks\" name=\"foreign keys\""), 1);
    lb_buf_free(&b);
}

/* ---- terminal --------------------------------------------------------- */

static void test_report_text_has_colour_only_when_asked(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_report_text_opts plain = {0, 20}, color = {1, 20};
    struct lb_buf b = {0};

    lb_report_text(&v, &plain, &b);
    assert_null(strchr(b.data, '\x1b'));
    assert_non_null(strstr(b.data, "FAILED (exit 1)"));
    lb_buf_reset(&b);
    lb_report_text(&v, &color, &b);
    assert_non_null(strstr(b.data, "\x1b[31m"));
    lb_buf_free(&b);
}

/* The bar of the step whose name starts the line holding `name`. */
static size_t bar_cells(const char *text, const char *name, size_t *offset)
{
    const char *line = strstr(text, name), *end, *p;
    size_t n = 0;
    assert_non_null(line);
    end = strchr(line, '\n');
    p = strstr(line, "\xe2\x96\x88");
    if (p == NULL || p > end)
        return 0;
    *offset = (size_t)(p - line);
    for (; p + 3 <= end && memcmp(p, "\xe2\x96\x88", 3) == 0; p += 3)
        n++;
    return n;
}

static void test_report_text_sizes_bars_to_durations_on_one_axis(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_report_text_opts o = {0, 40};
    struct lb_buf b = {0};
    size_t off1 = 0, off2 = 0, w1, w2;

    lb_report_text(&v, &o, &b);
    w1 = bar_cells(b.data, " baseline ", &off1);
    w2 = bar_cells(b.data, " restore from nightly dump ", &off2);
    /* 1.2s of a 400s axis is one cell; 392.5s is nearly all of it. */
    assert_int_equal(w1, 1);
    assert_true(w2 >= 38 && w2 <= 40);
    /* Durations are right-aligned in one column. */
    assert_non_null(strstr(b.data, "passed        +377ms       1.2s  "));
    assert_non_null(strstr(b.data, "failed         +3.1s      6m32s  "));
    /* Phases follow their step, indented. */
    assert_non_null(strstr(b.data, "\xe2\x86\xb3 phase   pg_restore"));
    lb_buf_free(&b);
}

static void test_report_text_never_sends_control_characters(void **state)
{
    struct lb_run_view v = fixture_view();
    struct lb_step_view steps[2];
    struct lb_report_text_opts o = {0, 20};
    struct lb_buf b = {0};

    memcpy(steps, fixture_steps, sizeof steps);
    steps[0].name = "evil\x1b]0;pwned\x07 \xc2\x9b" "2J name";
    v.steps = steps;
    lb_report_text(&v, &o, &b);
    assert_null(strchr(b.data, '\x1b'));
    assert_null(strchr(b.data, '\x07'));
    assert_null(strstr(b.data, "\xc2\x9b"));
    assert_non_null(strstr(b.data, "evil?]0;pwned? ?2J name"));
    lb_buf_free(&b);
}

/* ---- trend ------------------------------------------------------------ */

static struct lb_run_view trend_run(const char *id, int64_t at, const char *status,
                                    int64_t rto, int64_t rpo, struct lb_gap_view *gaps,
                                    size_t ngaps)
{
    struct lb_run_view v = {
        .id = (char *)id, .scenario_id = "dropped-table",
        .scenario_title = "An operator drops the inventory table",
        .scenario_sha256 = "c4bb17de7c6a69b2", .status = (char *)status, .exit_code = 0,
        .started_at = at, .ended_at = at + 1000, .rto_ms = rto, .rpo_ms = rpo,
        .rto_objective_ms = 600000, .rpo_objective_ms = 93600000,
        .gaps = gaps, .ngaps = ngaps,
    };
    return v;
}

static void test_report_trend_verdict_follows_its_rules(void **state)
{
    struct lb_gap_view g1 = {.step_seq = -1, .severity = "major", .category = "backup",
                             .title = "dump is 27h old"};
    struct lb_run_view a = trend_run("a", T0, "failed", 700000, 3600000, &g1, 1);
    struct lb_run_view b = trend_run("b", T0 + 1000, "passed", 500000, 3600000, NULL, 0);
    struct lb_run_view c = trend_run("c", T0 + 2000, "passed", 400000, 3600000, NULL, 0);
    struct lb_run_view d = trend_run("d", T0 + 3000, "passed", 300000, 7200000, NULL, 0);
    struct lb_run_view e = trend_run("e", T0 + 4000, "passed", 310000, 7100000, NULL, 0);
    struct lb_run_view dry = trend_run("z", T0 + 9000, "planned", -1, -1, NULL, 0);
    const struct lb_run_view *ab[] = {&b, &a}, *ba[] = {&b, &a, &dry};
    const struct lb_run_view *bc[] = {&c, &b}, *cd[] = {&c, &d}, *de[] = {&d, &e};
    const struct lb_run_view *one[] = {&a};

    assert_string_equal(lb_report_trend_verdict(one, 1), "first run");
    /* Order of the array does not matter; dry runs are left out. */
    assert_string_equal(lb_report_trend_verdict(ab, 2), "improved");
    assert_string_equal(lb_report_trend_verdict(ba, 3), "improved");
    assert_string_equal(lb_report_trend_verdict(bc, 2), "improved");
    assert_string_equal(lb_report_trend_verdict(cd, 2), "mixed");
    /* Within 5%: no change. */
    assert_string_equal(lb_report_trend_verdict(de, 2), "unchanged");
    b.status = "failed";
    assert_string_equal(lb_report_trend_verdict(bc, 2), "improved");
    c.status = "failed";
    b.status = "passed";
    assert_string_equal(lb_report_trend_verdict(bc, 2), "regressed");
}

static void test_report_trend_finds_gaps_that_recur_with_other_numbers(void **state)
{
    struct lb_gap_view g1[] = {{.step_seq = -1, .severity = "minor", .category = "objective",
                                .title = "RPO missed by 1h00m"},
                               {.step_seq = 2, .severity = "critical", .category = "validation",
                                .title = "inventory: restore is empty (0 rows, 20000 expected)"}};
    struct lb_gap_view g2[] = {{.step_seq = -1, .severity = "major", .category = "objective",
                                .title = "RPO missed by 2h10m"}};
    struct lb_gap_view g3[] = {{.step_seq = -1, .severity = "minor", .category = "objective",
                                .title = "RPO missed by 3h05m"}};
    struct lb_run_view r1 = trend_run("r1", T0, "failed", 1000, 97200000, g1, 2);
    struct lb_run_view r2 = trend_run("r2", T0 + 86400000, "failed", 900, 98000000, g2, 1);
    struct lb_run_view r3 = trend_run("r3", T0 + 172800000, "failed", 800, 93612500, g3, 1);
    const struct lb_run_view *runs[] = {&r3, &r1, &r2};
    struct lb_buf b = {0};
    cJSON *root, *rec, *first;

    lb_report_trend_render(runs, 3, LB_REPORT_JSON, &b);
    root = cJSON_Parse(b.data);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "runs")), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetArrayItem(cJSON_GetObjectItem(root, "runs"), 0), "id")),
                        "r1");
    rec = cJSON_GetObjectItem(root, "recurring_gaps");
    assert_int_equal(cJSON_GetArraySize(rec), 1);
    first = cJSON_GetArrayItem(rec, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(first, "title")),
                        "RPO missed by 3h05m");
    assert_true(cJSON_GetObjectItem(first, "runs")->valuedouble == 3.0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(first, "worst_severity")),
                        "major");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(first, "in_latest")));
    /* r3 beats r2: fewer major gaps. */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetObjectItem(root, "latest"), "trend")),
                        "improved");
    cJSON_Delete(root);

    lb_buf_reset(&b);
    lb_report_trend_render(runs, 3, LB_REPORT_MD, &b);
    assert_non_null(strstr(b.data, "**Latest run: improved**"));
    assert_non_null(strstr(b.data, "| RPO missed by 3h05m | objective | major | 3 | r1 | r3 |"
                                   " **yes** |"));
    lb_buf_free(&b);
}

static void test_report_trend_html_draws_a_point_per_measured_run(void **state)
{
    struct lb_run_view r1 = trend_run("r1", T0, "passed", 500000, 97200000, NULL, 0);
    struct lb_run_view r2 = trend_run("r2", T0 + 1000, "passed", 700000, -1, NULL, 0);
    struct lb_run_view r3 = trend_run("<r3>", T0 + 2000, "passed", 300000, 3600000, NULL, 0);
    const struct lb_run_view *runs[] = {&r1, &r2, &r3};
    struct lb_buf b = {0};

    lb_report_trend_render(runs, 3, LB_REPORT_HTML, &b);
    assert_int_equal(count_of(b.data, "<circle class=\"point rto "), 3);
    /* r2 measured no RPO: two points. */
    assert_int_equal(count_of(b.data, "<circle class=\"point rpo "), 2);
    assert_int_equal(count_of(b.data, "<circle class=\"point rto missed\""), 1);
    assert_int_equal(count_of(b.data, "<circle class=\"point rpo missed\""), 1);
    assert_int_equal(count_of(b.data, "<path class=\"objective\""), 2);
    assert_null(strstr(b.data, "<r3>"));
    assert_null(strstr(b.data, "<script"));
    lb_buf_free(&b);
}

/* ---- size --------------------------------------------------------------- */

/* The speed target (500 steps under a second) is held by bench/report.sh and
 * recorded in bench/RESULTS.md; this test proves a run that size renders
 * whole in every format, and prints the time for information only. */
static void test_report_renders_a_run_of_500_steps_in_every_format(void **state)
{
    enum { N = 500 };
    struct lb_run_view v = fixture_view();
    struct lb_step_view *steps = lb_xcalloc(N, sizeof *steps);
    struct lb_check_view *checks = lb_xcalloc(N, sizeof *checks);
    struct lb_metric_view *metrics = lb_xcalloc(N, sizeof *metrics);
    char (*names)[48] = lb_xcalloc(N, sizeof *names);
    const struct lb_run_view *runs[1] = {&v};
    struct lb_buf b = {0};
    int64_t start;

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "step %d <of> 500 & more", i + 1);
        steps[i] = (struct lb_step_view){.seq = i + 1, .name = names[i], .kind = "action",
                                         .status = i % 50 == 7 ? "failed" : "passed",
                                         .timeout_ms = -1, .started_at = T0 + i * 1000,
                                         .ended_at = T0 + i * 1000 + 900, .duration_ms = 900};
        checks[i] = (struct lb_check_view){.step_seq = i + 1, .ok = i % 50 != 7,
                                           .name = names[i], .expected = "1", .observed = "1"};
        metrics[i] = (struct lb_metric_view){.step_seq = i + 1,
                                             .name = "phase.work.duration_ms", .value = 500};
    }
    v.steps = steps;
    v.nsteps = N;
    v.checks = checks;
    v.nchecks = N;
    v.metrics = metrics;
    v.nmetrics = N;
    start = lb_mono_ms();
    lb_report_html(&v, &b);
    lb_report_markdown(&v, &b);
    lb_report_junit(runs, 1, &b);
    lb_report_json(&v, &b);
    print_message("html+md+junit+json of %d steps: %lld ms, %zu bytes\n", N,
                  (long long)(lb_mono_ms() - start), b.len);
    assert_int_equal(count_of(b.data, "<rect class=\"bar "), N);
    /* a testcase per step, check, objective (2), rollback and the run */
    assert_int_equal(count_of(b.data, "<testcase "), 2 * N + 2 + (int)v.nrollbacks + 1);
    assert_non_null(strstr(b.data, "step 500 &lt;of&gt; 500 &amp; more"));
    lb_buf_reset(&b);
    lb_report_html(&v, &b);
    assert_int_equal(count_of(b.data, "<rect class=\"bar "), N);
    lb_buf_free(&b);
    free(steps);
    free(checks);
    free(metrics);
    free(names);
}

static void test_report_parse_since_takes_dates_timestamps_and_quarters(void **state)
{
    struct lb_err err = {0};
    int64_t ms = 0, want = 0;

    assert_int_equal(lb_report_parse_since("2026-10-01", &ms, &err), 0);
    assert_int_equal(lb_wall_parse("2026-10-01T00:00:00Z", &want), 0);
    assert_true(ms == want);
    assert_int_equal(lb_report_parse_since("2026-Q4", &ms, &err), 0);
    assert_true(ms == want);
    assert_int_equal(lb_report_parse_since("2026-q1", &ms, &err), 0);
    assert_int_equal(lb_wall_parse("2026-01-01T00:00:00Z", &want), 0);
    assert_true(ms == want);
    assert_int_equal(lb_report_parse_since("2026-11-26T14:57:36Z", &ms, &err), 0);
    assert_int_equal(lb_report_parse_since("2026-Q5", &ms, &err), LB_EINVAL);
    assert_int_equal(lb_report_parse_since("last quarter", &ms, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "'last quarter' is not a date"));
    assert_int_equal(lb_report_parse_since("2026-13-01", &ms, &err), LB_EINVAL);
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

/* Remove a directory's files and the directory (one level of nesting). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *p;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = lb_path_join(dir, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
        free(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

static int store_teardown(void **state)
{
    struct store_fx *f = *state;
    lb_store_close(f->s);
    remove_tree(f->dir);
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

/* A finished run in the store: one step, a gap, RTO/RPO measured. */
static void store_run(struct lb_store *s, const char *id, int64_t at, const char *status,
                      int64_t rto)
{
    struct lb_err err = {0};
    struct lb_run_info info = {.id = id, .scenario_id = "dropped-table",
                               .scenario_title = "Drop it", .started_at = at,
                               .host = "h", .rto_objective_ms = 600000,
                               .rpo_objective_ms = 93600000};
    struct lb_step_info st = {1, "restore <it>", "restore", 0, -1, "x.lua:1"};
    struct lb_run_result res = {.status = status, .exit_code = 0, .ended_at = at + 5000,
                                .rto_ms = rto, .rpo_ms = 1000, .rpo_method = "heartbeat"};
    assert_int_equal(lb_store_run_begin(s, &info, &err), 0);
    assert_int_equal(lb_store_step_plan(s, id, &st, &err), 0);
    assert_int_equal(lb_store_step_start(s, id, 1, at + 10, &err), 0);
    assert_int_equal(lb_store_step_end(s, id, 1, "passed", at + 4000, 3990, NULL, "ok\n",
                                       &err), 0);
    assert_int_equal(lb_store_gap(s, id, 1, "major", "backup", "dump is 27h old", NULL, &err),
                     0);
    assert_int_equal(lb_store_run_end(s, id, &res, &err), 0);
}

static void test_report_write_files_writes_every_format(void **state)
{
    struct store_fx *f = *state;
    struct lb_err err = {0};
    char **paths = NULL, *text = NULL;
    size_t n = 0, len = 0;

    store_run(f->s, "r1", T0, "passed", 4000);
    assert_int_equal(lb_report_write_files(f->s, "latest", LB_REPORT_ALL, f->out, &paths, &n,
                                           &err), 0);
    assert_int_equal(n, 4);
    assert_true(lb_str_ends(paths[0], "/r1.md"));
    assert_true(lb_str_ends(paths[1], "/r1.html"));
    assert_true(lb_str_ends(paths[2], "/r1.json"));
    assert_true(lb_str_ends(paths[3], "/r1.junit.xml"));
    assert_int_equal(lb_file_read(paths[1], &text, &len, &err), 0);
    assert_int_equal(count_of(text, "<rect class=\"bar "), 1);
    assert_int_equal(count_of(text, "<li class=\"gap "), 1);
    free(text);
    lb_report_paths_free(paths, n);
}

static void test_report_index_lists_every_run_since_the_date(void **state)
{
    struct store_fx *f = *state;
    struct lb_err err = {0};
    char **paths = NULL, *text = NULL, *p;
    size_t n = 0, len = 0;
    int64_t since = 0;

    store_run(f->s, "old", T0 - 100LL * 86400000, "passed", 4000);
    store_run(f->s, "q1", T0, "failed", 700000);
    store_run(f->s, "q2", T0 + 86400000, "passed", 3000);
    assert_int_equal(lb_report_parse_since("2026-Q4", &since, &err), 0);
    assert_int_equal(lb_report_index(f->s, since, LB_REPORT_MD | LB_REPORT_HTML |
                                     LB_REPORT_JUNIT, f->out, &paths, &n, &err), 0);
    /* 3 index files, then 3 reports for each of the 2 runs since the date. */
    assert_int_equal(n, 9);
    assert_true(lb_str_ends(paths[0], "/index.md"));
    assert_true(lb_str_ends(paths[1], "/index.html"));
    assert_true(lb_str_ends(paths[2], "/index.junit.xml"));
    assert_int_equal(lb_file_read(paths[0], &text, &len, &err), 0);
    assert_non_null(strstr(text, "# Drill index since 2026-10-01"));
    assert_non_null(strstr(text, "2 runs: 1 passed, 1 did not."));
    assert_null(strstr(text, "`old`"));
    /* Oldest first, each linking to its report. */
    p = strstr(text, "[`q1`](q1.md) | dropped-table | FAILED | 11m40s / 10m00s (missed)");
    assert_non_null(p);
    assert_true(strstr(text, "[`q2`](q2.md)") > p);
    free(text);
    assert_int_equal(lb_file_read(paths[1], &text, &len, &err), 0);
    assert_non_null(strstr(text, "<a href=\"q1.html\"><code>q1</code></a>"));
    free(text);
    assert_int_equal(lb_file_read(paths[2], &text, &len, &err), 0);
    assert_int_equal(count_of(text, "<testsuite "), 2);
    free(text);
    p = lb_path_join(f->out, "q2.html");
    assert_true(lb_file_exists(p));
    free(p);
    p = lb_path_join(f->out, "old.html");
    assert_false(lb_file_exists(p));
    free(p);
    lb_report_paths_free(paths, n);
}

static void test_report_trend_from_the_store_needs_runs_of_the_scenario(void **state)
{
    struct store_fx *f = *state;
    struct lb_err err = {0};
    struct lb_buf b = {0};

    assert_int_equal(lb_report_trend(f->s, "dropped-table", LB_REPORT_MD, &b, &err),
                     LB_ENOTFOUND);
    store_run(f->s, "q1", T0, "failed", 700000);
    store_run(f->s, "q2", T0 + 86400000, "passed", 3000);
    assert_int_equal(lb_report_trend(f->s, "dropped-table", LB_REPORT_JUNIT, &b, &err),
                     LB_EINVAL);
    assert_int_equal(lb_report_trend(f->s, "dropped-table", LB_REPORT_MD, &b, &err), 0);
    assert_non_null(strstr(b.data, "**Latest run: improved** (PASSED, the run before FAILED)"));
    assert_non_null(strstr(b.data, "| dump is 27h old | backup | major | 2 | q1 | q2 |"));
    lb_buf_free(&b);
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
        cmocka_unit_test(test_report_parse_formats_accepts_every_format_and_aliases),
        cmocka_unit_test(test_report_parse_formats_rejects_unknown_formats),
        cmocka_unit_test(test_report_html_has_one_bar_per_step_and_every_gap),
        cmocka_unit_test(test_report_html_is_self_contained_without_any_script),
        cmocka_unit_test(test_report_html_draws_phases_under_their_step),
        cmocka_unit_test(test_report_html_shows_script_quotes_and_ampersands_as_text),
        cmocka_unit_test(test_report_junit_shows_script_quotes_and_ampersands_as_text),
        cmocka_unit_test(test_report_junit_matches_the_golden_file),
        cmocka_unit_test(test_report_junit_has_a_testcase_per_step_and_check_carrying_gaps),
        cmocka_unit_test(test_report_junit_errors_an_interrupted_step_and_skips_unrun_ones),
        cmocka_unit_test(test_report_junit_gives_repeated_names_a_number),
        cmocka_unit_test(test_report_text_has_colour_only_when_asked),
        cmocka_unit_test(test_report_text_sizes_bars_to_durations_on_one_axis),
        cmocka_unit_test(test_report_text_never_sends_control_characters),
        cmocka_unit_test(test_report_trend_verdict_follows_its_rules),
        cmocka_unit_test(test_report_trend_finds_gaps_that_recur_with_other_numbers),
        cmocka_unit_test(test_report_trend_html_draws_a_point_per_measured_run),
        cmocka_unit_test(test_report_renders_a_run_of_500_steps_in_every_format),
        cmocka_unit_test(test_report_parse_since_takes_dates_timestamps_and_quarters),
        cmocka_unit_test_setup_teardown(test_report_write_renders_a_stored_run_into_files,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_report_write_of_an_unknown_run_is_not_found,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_report_write_files_writes_every_format,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_report_index_lists_every_run_since_the_date,
                                        store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(
            test_report_trend_from_the_store_needs_runs_of_the_scenario, store_setup,
            store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
