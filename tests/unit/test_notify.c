/*
 * Unit tests of notify: the Slack, PagerDuty, webhook and Pushgateway
 * payloads as a real HTTP server on 127.0.0.1 receives them (tests/support),
 * retries and timeouts against a server that answers 500 or hangs, and the
 * failures recorded as gaps of a real run in an in-memory store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lifeboat/engine.h"
#include "lifeboat/notify.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"
#include "test_server.h"

#define SLACK_PATH "/services/T000/B000/slack-hook-secret-path"
#define PD_KEY "R0UT1NGKEYxxxxxxxxxxxxxxxxxxxxxx"

struct fx {
    struct lb_test_server srv;
    struct lb_notify_config *cfg;
    struct lb_secrets *secrets;
    struct lb_notifier *n;
    struct lb_notify_failures f;
};

static const struct lb_notify_drill drill = {
    .run_id = "20261126T145736Z-ab12cd",
    .scenario_id = "region-loss",
    .scenario_title = "region loss",
    .environment = "staging",
    .rto_objective_ms = 600000,
    .rpo_objective_ms = -1,
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_int_equal(lb_test_server_init(&x->srv), 0);
    x->secrets = lb_secrets_new();
    lb_interrupt_reset();
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    lb_test_server_stop(&x->srv);
    lb_notifier_free(x->n);
    lb_notify_config_free(x->cfg);
    lb_notify_failures_free(&x->f);
    lb_secrets_free(x->secrets);
    unsetenv("LB_TEST_SLACK");
    unsetenv("LB_TEST_PD");
    unsetenv("LB_TEST_HOOK");
    unsetenv("LB_TEST_PUSH");
    free(x);
    return 0;
}

/*
 * Start the server with `routes`, then configure every channel at it the
 * way an operator would: names in the config, secrets in the environment.
 */
static void configure(struct fx *x, const char *const *routes, int page)
{
    struct lb_err err = {0};
    char buf[256];

    assert_int_equal(lb_test_server_start(&x->srv, routes), 0);
    x->cfg = lb_notify_config_new();
    x->cfg->slack_webhook_env = strdup("LB_TEST_SLACK");
    x->cfg->pagerduty_routing_key_env = strdup("LB_TEST_PD");
    snprintf(buf, sizeof(buf), "%s/v2/enqueue", x->srv.url);
    x->cfg->pagerduty_endpoint = strdup(buf);
    x->cfg->pagerduty_page = page;
    x->cfg->webhook_url_env = strdup("LB_TEST_HOOK");
    x->cfg->pushgateway_url = lb_xasprintf("%s/", x->srv.url);
    x->cfg->timeout_ms = 2000;
    x->cfg->retries = 2;
    x->cfg->backoff_ms = 50;
    snprintf(buf, sizeof(buf), "%s%s", x->srv.url, SLACK_PATH);
    setenv("LB_TEST_SLACK", buf, 1);
    setenv("LB_TEST_PD", PD_KEY, 1);
    snprintf(buf, sizeof(buf), "%s/hook", x->srv.url);
    setenv("LB_TEST_HOOK", buf, 1);
    assert_int_equal(lb_notify_config_resolve(x->cfg, x->secrets, &err), 0);
    assert_null(x->cfg->problems);
    x->n = lb_notifier_new(x->cfg, &drill, x->secrets);
}

/* The logged requests to `path`, parsed; the caller deletes `all`. */
static cJSON *requests_to(const struct fx *x, const char *path, cJSON **all, int *count)
{
    cJSON *r, *match = NULL;
    *all = lb_test_server_requests(&x->srv);
    *count = 0;
    cJSON_ArrayForEach(r, *all) {
        const cJSON *p = cJSON_GetObjectItem(r, "path");
        if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0) {
            if (!match)
                match = r;
            ++*count;
        }
    }
    return match;
}

/* The JSON body of the first request to `path`. Caller deletes. */
static cJSON *body_to(const struct fx *x, const char *path)
{
    cJSON *all;
    int n;
    cJSON *r = requests_to(x, path, &all, &n);
    assert_non_null(r);
    cJSON *body = cJSON_Parse(cJSON_GetObjectItem(r, "body")->valuestring);
    assert_non_null(body);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "headers"),
                                            "content-type")->valuestring,
                        "application/json");
    cJSON_Delete(all);
    return body;
}

static int count_to(const struct fx *x, const char *path)
{
    cJSON *all;
    int n;
    requests_to(x, path, &all, &n);
    cJSON_Delete(all);
    return n;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_notify_config_reads_secrets_from_the_environment(void **state)
{
    struct fx *x = *state;
    struct lb_err err = {0};
    char *masked;

    x->cfg = lb_notify_config_new();
    assert_int_equal(x->cfg->retries, LB_NOTIFY_DEFAULT_RETRIES);
    assert_int_equal(x->cfg->pagerduty_page, 1);
    assert_false(lb_notify_config_any(x->cfg));
    x->cfg->slack_webhook_env = strdup("LB_TEST_SLACK");
    x->cfg->pagerduty_routing_key_env = strdup("LB_TEST_PD");
    x->cfg->webhook_url_env = strdup("LB_TEST_HOOK");
    x->cfg->pushgateway_url_env = strdup("LB_TEST_PUSH");
    assert_true(lb_notify_config_any(x->cfg));
    setenv("LB_TEST_SLACK", "https://hooks.slack.com/services/T1/B2/zzzzsecret", 1);
    setenv("LB_TEST_PD", PD_KEY, 1);
    setenv("LB_TEST_HOOK", "ftp://not-http.example/with-secret-token", 1);
    unsetenv("LB_TEST_PUSH");
    assert_int_equal(lb_notify_config_resolve(x->cfg, x->secrets, &err), 0);
    assert_string_equal(x->cfg->slack_url, "https://hooks.slack.com/services/T1/B2/zzzzsecret");
    assert_string_equal(x->cfg->pagerduty_routing_key, PD_KEY);
    assert_null(x->cfg->webhook_url);
    assert_null(x->cfg->pushgateway_push_url);
    assert_string_equal(x->cfg->problems,
                        "webhook: LB_TEST_HOOK does not hold an http:// or https:// URL\n"
                        "pushgateway: LB_TEST_PUSH is not set");
    /* the values are secrets now: masked wherever they would be echoed */
    masked = lb_redact_text(x->secrets, "posting to https://hooks.slack.com/services/T1/B2/"
                                        "zzzzsecret with " PD_KEY);
    assert_string_equal(masked, "posting to **** with ****");
    free(masked);
}

static void test_notify_drill_start_sends_slack_pagerduty_and_webhook(void **state)
{
    struct fx *x = *state;
    cJSON *b, *p;

    configure(x, NULL, 1);
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 0);
    assert_int_equal(x->f.n, 0);

    b = body_to(x, SLACK_PATH);
    assert_true(lb_str_starts(str(b, "text"), "DRILL: region loss in staging. Go."));
    assert_non_null(strstr(str(b, "text"), drill.run_id));
    cJSON_Delete(b);

    b = body_to(x, "/v2/enqueue");
    assert_string_equal(str(b, "routing_key"), PD_KEY);
    assert_string_equal(str(b, "event_action"), "trigger");
    assert_string_equal(str(b, "dedup_key"), drill.run_id);
    p = cJSON_GetObjectItem(b, "payload");
    assert_true(lb_str_starts(str(p, "summary"), "DRILL: region loss in staging. Go."));
    assert_string_equal(str(p, "source"), "lifeboat/staging");
    assert_string_equal(str(p, "severity"), "warning");
    assert_string_equal(str(p, "component"), "region-loss");
    assert_string_equal(str(cJSON_GetObjectItem(p, "custom_details"), "run_id"), drill.run_id);
    cJSON_Delete(b);

    b = body_to(x, "/hook");
    assert_string_equal(str(b, "event"), "drill_start");
    assert_string_equal(str(b, "run_id"), drill.run_id);
    assert_string_equal(str(b, "scenario"), "region-loss");
    assert_string_equal(str(b, "environment"), "staging");
    assert_true(lb_str_starts(str(b, "text"), "DRILL: region loss in staging. Go."));
    cJSON_Delete(b);
    assert_int_equal(lb_test_server_count(&x->srv), 3);
}

static void test_notify_drill_end_resolves_and_reports_the_verdict(void **state)
{
    struct fx *x = *state;
    struct lb_run_summary sum = {.status = "failed", .exit_code = 1, .rto_ms = 41200,
                                 .rpo_ms = -1, .gaps_critical = 1, .gaps_major = 2};
    cJSON *b;

    configure(x, NULL, 1);
    assert_int_equal(lb_notify_drill_end(x->n, &sum, "reports/run.md", &x->f), 0);

    b = body_to(x, SLACK_PATH);
    assert_non_null(strstr(str(b, "text"), "DRILL over: region loss in staging. FAILED"));
    assert_non_null(strstr(str(b, "text"), "RTO 41.2s (objective "));
    assert_non_null(strstr(str(b, "text"), "Report: reports/run.md"));
    cJSON_Delete(b);

    b = body_to(x, "/v2/enqueue");
    assert_string_equal(str(b, "event_action"), "resolve");
    assert_string_equal(str(b, "dedup_key"), drill.run_id);
    assert_string_equal(str(b, "routing_key"), PD_KEY);
    cJSON_Delete(b);

    b = body_to(x, "/hook");
    assert_string_equal(str(b, "event"), "drill_end");
    assert_string_equal(str(b, "status"), "failed");
    assert_int_equal(cJSON_GetObjectItem(b, "exit_code")->valueint, 1);
    assert_true(cJSON_GetObjectItem(b, "rto_seconds")->valuedouble == 41.2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(b, "rpo_seconds")));
    assert_true(cJSON_GetObjectItem(b, "rto_objective_seconds")->valuedouble == 600);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "gaps"), "critical")->valueint,
                     1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "gaps"), "major")->valueint, 2);
    assert_string_equal(str(b, "report"), "reports/run.md");
    cJSON_Delete(b);
}

static void test_notify_change_events_when_paging_is_not_wanted(void **state)
{
    struct fx *x = *state;
    struct lb_run_summary sum = {.status = "passed", .rto_ms = 1000, .rpo_ms = 0};
    cJSON *b, *p;

    configure(x, NULL, 0);
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 0);
    assert_int_equal(lb_notify_drill_end(x->n, &sum, NULL, &x->f), 0);
    assert_int_equal(count_to(x, "/v2/enqueue"), 0);
    assert_int_equal(count_to(x, "/v2/change/enqueue"), 2);
    b = body_to(x, "/v2/change/enqueue");
    assert_string_equal(str(b, "routing_key"), PD_KEY);
    assert_null(cJSON_GetObjectItem(b, "event_action"));
    assert_null(cJSON_GetObjectItem(b, "dedup_key"));
    p = cJSON_GetObjectItem(b, "payload");
    assert_true(lb_str_starts(str(p, "summary"), "DRILL: region loss in staging. Go."));
    assert_string_equal(str(p, "source"), "lifeboat/staging");
    assert_true(lb_str_ends(str(p, "timestamp"), "Z"));
    cJSON_Delete(b);
}

static void test_notify_only_critical_gaps_are_sent(void **state)
{
    struct fx *x = *state;
    cJSON *b;

    configure(x, NULL, 1);
    assert_int_equal(lb_notify_gap(x->n, "major", "validation", "row count off", &x->f), 0);
    assert_int_equal(lb_notify_gap(x->n, "minor", "validation", "slow", &x->f), 0);
    assert_int_equal(lb_test_server_count(&x->srv), 0);
    assert_int_equal(lb_notify_gap(x->n, "critical", "validation",
                                   "restore came back empty", &x->f), 0);
    assert_int_equal(lb_test_server_count(&x->srv), 3);
    b = body_to(x, "/hook");
    assert_string_equal(str(b, "event"), "gap");
    assert_string_equal(str(cJSON_GetObjectItem(b, "gap"), "severity"), "critical");
    assert_string_equal(str(cJSON_GetObjectItem(b, "gap"), "title"), "restore came back empty");
    cJSON_Delete(b);
    b = body_to(x, SLACK_PATH);
    assert_non_null(strstr(str(b, "text"), "critical gap (validation): restore came back empty"));
    cJSON_Delete(b);
    b = body_to(x, "/v2/enqueue");
    assert_string_equal(str(b, "event_action"), "trigger");
    assert_string_equal(str(b, "dedup_key"), drill.run_id);
    assert_string_equal(str(cJSON_GetObjectItem(b, "payload"), "severity"), "critical");
    cJSON_Delete(b);
}

static void test_notify_a_500_is_retried_with_backoff(void **state)
{
    struct fx *x = *state;
    const char *routes[] = {SLACK_PATH "=500,503,200", NULL};

    configure(x, routes, 1);
    free(x->cfg->pagerduty_routing_key);
    x->cfg->pagerduty_routing_key = NULL;
    free(x->cfg->webhook_url);
    x->cfg->webhook_url = NULL;
    int64_t t0 = lb_mono_ms();
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 0);
    assert_int_equal(x->f.n, 0);
    assert_int_equal(count_to(x, SLACK_PATH), 3);
    assert_true(lb_mono_ms() - t0 >= 50 + 100);   /* backoff 50ms, then 100ms */
}

static void test_notify_a_hung_endpoint_fails_within_the_timeout(void **state)
{
    struct fx *x = *state;
    const char *routes[] = {SLACK_PATH "=hang", NULL};

    configure(x, routes, 1);
    x->cfg->timeout_ms = 300;
    x->cfg->retries = 1;
    int64_t t0 = lb_mono_ms();
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 1);
    int64_t took = lb_mono_ms() - t0;
    assert_true(took >= 600 && took < 3000);   /* two attempts of 300 ms, and no more */
    assert_int_equal(x->f.n, 1);
    assert_string_equal(x->f.items[0].channel, "slack");
    assert_string_equal(x->f.items[0].event, "drill start");
    assert_non_null(strstr(x->f.items[0].message, "no complete answer within 300 ms"));
    assert_non_null(strstr(x->f.items[0].message, "(2 attempts)"));
    assert_null(strstr(x->f.items[0].message, "slack-hook-secret-path"));
    assert_int_equal(count_to(x, SLACK_PATH), 2);
    /* the other channels were still told */
    assert_int_equal(count_to(x, "/v2/enqueue"), 1);
    assert_int_equal(count_to(x, "/hook"), 1);

    /* a channel that failed gets one attempt per later event */
    t0 = lb_mono_ms();
    assert_int_equal(lb_notify_gap(x->n, "critical", "step", "restore failed", &x->f), 1);
    assert_true(lb_mono_ms() - t0 < 1500);
    assert_int_equal(lb_test_server_wait(&x->srv, 7, 1000), 7);
    assert_int_equal(count_to(x, SLACK_PATH), 3);
    assert_int_equal(x->f.n, 2);
    assert_string_equal(x->f.items[1].event, "gap");
    assert_non_null(strstr(x->f.items[1].message, "(1 attempt)"));
}

static void test_notify_a_4xx_is_not_retried_and_echoes_no_secret(void **state)
{
    struct fx *x = *state;
    const char *answer = lb_test_server_file(&x->srv, "answer.json",
        "{\"status\":\"invalid event\",\"message\":\"routing key " PD_KEY " unknown\"}");
    char *route = lb_xasprintf("/v2/enqueue=400:@%s", answer);
    const char *routes[] = {route, NULL};

    configure(x, routes, 1);
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 1);
    assert_int_equal(count_to(x, "/v2/enqueue"), 1);
    assert_int_equal(x->f.n, 1);
    assert_string_equal(x->f.items[0].channel, "pagerduty");
    assert_non_null(strstr(x->f.items[0].message, "answered 400"));
    assert_non_null(strstr(x->f.items[0].message, "invalid event"));
    assert_null(strstr(x->f.items[0].message, PD_KEY));
    assert_non_null(strstr(x->f.items[0].message, "routing key **** unknown"));
    free(route);
}

static void test_notify_configuration_problems_are_reported_once(void **state)
{
    struct fx *x = *state;
    struct lb_err err = {0};

    configure(x, NULL, 1);
    unsetenv("LB_TEST_SLACK");
    assert_int_equal(lb_notify_config_resolve(x->cfg, x->secrets, &err), 0);
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 1);
    assert_int_equal(x->f.n, 1);
    assert_string_equal(x->f.items[0].channel, "slack");
    assert_string_equal(x->f.items[0].event, "configuration");
    assert_string_equal(x->f.items[0].message, "LB_TEST_SLACK is not set");
    assert_int_equal(lb_test_server_count(&x->srv), 2);   /* pagerduty and webhook went */
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 0);
    assert_int_equal(x->f.n, 1);
}

static void test_notify_pushgateway_gets_the_text_format(void **state)
{
    struct fx *x = *state;
    struct lb_run_summary sum = {.status = "passed", .rto_ms = 41250, .rpo_ms = -1,
                                 .gaps_minor = 1};
    struct lb_notify_drill odd = drill;
    cJSON *all, *r;
    int n;

    configure(x, NULL, 1);
    assert_int_equal(lb_notify_push_metrics(x->n, &sum, &x->f), 0);
    r = requests_to(x, "/metrics/job/lifeboat/scenario/region-loss/environment/staging", &all,
                    &n);
    assert_int_equal(n, 1);
    assert_string_equal(str(r, "method"), "PUT");
    assert_true(lb_str_starts(str(cJSON_GetObjectItem(r, "headers"), "content-type"),
                              "text/plain; version=0.0.4"));
    const char *body = str(r, "body");
    assert_non_null(strstr(body, "# TYPE lifeboat_drill_rto_seconds gauge\n"
                                 "lifeboat_drill_rto_seconds 41.250\n"));
    assert_null(strstr(body, "lifeboat_drill_rpo_seconds"));
    assert_non_null(strstr(body, "lifeboat_drill_gaps{severity=\"critical\"} 0\n"));
    assert_non_null(strstr(body, "lifeboat_drill_gaps{severity=\"minor\"} 1\n"));
    assert_non_null(strstr(body, "lifeboat_drill_passed 1\n"));
    assert_non_null(strstr(body, "lifeboat_drill_rto_objective_seconds 600.000\n"));
    assert_true(lb_str_ends(body, "\n"));
    cJSON_Delete(all);

    /* a label value that is not URL-safe goes base64url-encoded */
    lb_notifier_free(x->n);
    odd.environment = "eu west/1";
    x->n = lb_notifier_new(x->cfg, &odd, x->secrets);
    sum.status = "failed";
    assert_int_equal(lb_notify_push_metrics(x->n, &sum, &x->f), 0);
    r = requests_to(x, "/metrics/job/lifeboat/scenario/region-loss/environment@base64/"
                       "ZXUgd2VzdC8x", &all, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(str(r, "body"), "lifeboat_drill_passed 0\n"));
    cJSON_Delete(all);
}

static void test_notify_failures_are_major_gaps_and_the_run_completes(void **state)
{
    struct fx *x = *state;
    const char *routes[] = {SLACK_PATH "=hang", "/hook=500", NULL};
    struct lb_store *store = NULL;
    struct lb_run *run = NULL;
    struct lb_run_view *view = NULL;
    struct lb_run_summary sum;
    struct lb_err err = {0};
    struct lb_run_opts o = {0};

    configure(x, routes, 1);
    x->cfg->timeout_ms = 300;
    x->cfg->retries = 1;
    assert_int_equal(lb_store_open(":memory:", &store, &err), 0);
    o.store = store;
    o.secrets = x->secrets;
    o.scenario_id = "region-loss";
    o.scenario_title = "region loss";
    o.scenario_file = "region_loss.lua";
    o.rto_objective_ms = o.rpo_objective_ms = -1;
    assert_int_equal(lb_run_new(&o, &run, &err), 0);
    struct lb_notify_drill d = drill;
    d.run_id = lb_run_id(run);
    lb_notifier_free(x->n);
    x->n = lb_notifier_new(x->cfg, &d, x->secrets);

    int64_t t0 = lb_mono_ms();
    assert_int_equal(lb_notify_drill_start(x->n, &x->f), 2);
    assert_true(lb_mono_ms() - t0 < 5000);
    assert_int_equal(lb_notify_record_gaps(run, &x->f, &err), 0);
    assert_int_equal(lb_run_finish(run, LB_OUTCOME_COMPLETED, NULL, &sum, &err), 0);
    assert_string_equal(sum.status, "failed");
    assert_int_equal(sum.exit_code, 1);
    assert_int_equal(sum.gaps_major, 2);
    assert_int_equal(sum.gaps_critical, 0);

    assert_int_equal(lb_store_load_run(store, lb_run_id(run), &view, &err), 0);
    assert_int_equal(view->ngaps, 2);
    for (size_t i = 0; i < view->ngaps; i++) {
        assert_string_equal(view->gaps[i].severity, "major");
        assert_string_equal(view->gaps[i].category, "notification");
        assert_null(strstr(view->gaps[i].detail, "slack-hook-secret-path"));
    }
    assert_string_equal(view->gaps[0].title, "slack notification failed (drill start)");
    assert_string_equal(view->gaps[1].title, "webhook notification failed (drill start)");
    assert_non_null(strstr(view->gaps[1].detail, "answered 500"));
    lb_run_view_free(view);
    lb_run_free(run);
    lb_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_config_reads_secrets_from_the_environment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_drill_start_sends_slack_pagerduty_and_webhook,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_drill_end_resolves_and_reports_the_verdict,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_change_events_when_paging_is_not_wanted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_only_critical_gaps_are_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_a_500_is_retried_with_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_a_hung_endpoint_fails_within_the_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_a_4xx_is_not_retried_and_echoes_no_secret,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_configuration_problems_are_reported_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_pushgateway_gets_the_text_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_failures_are_major_gaps_and_the_run_completes,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
