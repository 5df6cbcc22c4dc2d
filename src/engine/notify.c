/*
 * Notifications: Slack, PagerDuty Events v2, a generic webhook and the
 * Pushgateway, each send bounded (per-attempt timeout, a few retries with
 * exponential backoff) and each failure handed back, redacted, for the run
 * to record as a gap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lifeboat/engine.h"
#include "lifeboat/http.h"
#include "lifeboat/notify.h"

#define MAX_BACKOFF_MS 10000
#define PD_SUMMARY_MAX 1024
#define ANSWER_SNIPPET 200

/* ---- configuration --------------------------------------------------- */

struct lb_notify_config *lb_notify_config_new(void)
{
    struct lb_notify_config *c = lb_xcalloc(1, sizeof(*c));

    c->pagerduty_page = 1;
    c->timeout_ms = LB_NOTIFY_DEFAULT_TIMEOUT_MS;
    c->retries = LB_NOTIFY_DEFAULT_RETRIES;
    c->backoff_ms = LB_NOTIFY_DEFAULT_BACKOFF_MS;
    return c;
}

static void free_secret(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static void clear_resolved(struct lb_notify_config *c)
{
    free_secret(&c->slack_url);
    free_secret(&c->pagerduty_routing_key);
    free_secret(&c->webhook_url);
    free_secret(&c->pushgateway_push_url);
    free(c->problems);
    c->problems = NULL;
}

void lb_notify_config_free(struct lb_notify_config *c)
{
    if (c == NULL)
        return;
    clear_resolved(c);
    free(c->slack_webhook_env);
    free(c->pagerduty_routing_key_env);
    free(c->pagerduty_endpoint);
    free(c->webhook_url_env);
    free(c->pushgateway_url);
    free(c->pushgateway_url_env);
    free(c->pushgateway_job);
    free(c);
}

static int is_http_url(const char *v)
{
    return lb_str_starts(v, "http://") || lb_str_starts(v, "https://");
}

/* The value of environment variable `var` for `channel`, or a problem line. */
static char *resolve_var(const char *channel, const char *var, int need_url,
                         struct lb_secrets *secrets, struct lb_buf *problems)
{
    const char *v = getenv(var);

    if (v == NULL || *v == '\0') {
        lb_buf_printf(problems, "%s: %s is not set\n", channel, var);
        return NULL;
    }
    if (strpbrk(v, "\r\n") != NULL || (need_url && !is_http_url(v))) {
        lb_buf_printf(problems, "%s: %s does not hold %s\n", channel, var,
                      need_url ? "an http:// or https:// URL" : "a one-line value");
        return NULL;
    }
    lb_secrets_add(secrets, v);
    return lb_xstrdup(v);
}

int lb_notify_config_resolve(struct lb_notify_config *c, struct lb_secrets *secrets,
                             struct lb_err *err)
{
    struct lb_buf problems = {0};

    if (c == NULL)
        return lb_err_set(err, LB_EINVAL, "no notify configuration");
    clear_resolved(c);
    if (c->slack_webhook_env)
        c->slack_url = resolve_var("slack", c->slack_webhook_env, 1, secrets, &problems);
    if (c->pagerduty_routing_key_env) {
        c->pagerduty_routing_key = resolve_var("pagerduty", c->pagerduty_routing_key_env, 0,
                                               secrets, &problems);
        if (c->pagerduty_endpoint && !is_http_url(c->pagerduty_endpoint)) {
            lb_buf_adds(&problems, "pagerduty: endpoint is not an http:// or https:// URL\n");
            free_secret(&c->pagerduty_routing_key);
        }
    }
    if (c->webhook_url_env)
        c->webhook_url = resolve_var("webhook", c->webhook_url_env, 1, secrets, &problems);
    if (c->pushgateway_url_env) {
        c->pushgateway_push_url = resolve_var("pushgateway", c->pushgateway_url_env, 1,
                                              secrets, &problems);
    } else if (c->pushgateway_url) {
        if (is_http_url(c->pushgateway_url))
            c->pushgateway_push_url = lb_xstrdup(c->pushgateway_url);
        else
            lb_buf_adds(&problems, "pushgateway: url is not an http:// or https:// URL\n");
    }
    if (problems.len) {
        problems.data[problems.len - 1] = '\0';   /* no trailing newline */
        c->problems = lb_buf_steal(&problems);
    }
    lb_buf_free(&problems);
    return 0;
}

int lb_notify_config_any(const struct lb_notify_config *c)
{
    return c && (c->slack_webhook_env || c->pagerduty_routing_key_env || c->webhook_url_env ||
                 c->pushgateway_url || c->pushgateway_url_env);
}

/* ---- failures -------------------------------------------------------- */

void lb_notify_failures_free(struct lb_notify_failures *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->items[i].channel);
        free(f->items[i].event);
        free(f->items[i].message);
    }
    free(f->items);
    f->items = NULL;
    f->n = 0;
}

static void add_failure(struct lb_notify_failures *f, const struct lb_secrets *secrets,
                        const char *channel, const char *event, const char *message)
{
    f->items = lb_xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
    f->items[f->n].channel = lb_xstrdup(channel);
    f->items[f->n].event = lb_xstrdup(event);
    f->items[f->n].message = lb_redact_text(secrets, *message ? message : "failed");
    f->n++;
}

int lb_notify_record_gaps(struct lb_run *r, const struct lb_notify_failures *f,
                          struct lb_err *err)
{
    int first = 0;

    for (size_t i = 0; f && i < f->n; i++) {
        char title[160];
        struct lb_err e = {0};
        snprintf(title, sizeof(title), "%s notification failed (%s)", f->items[i].channel,
                 f->items[i].event);
        if (lb_run_gap(r, "major", "notification", title, f->items[i].message, &e) < 0 &&
            first == 0) {
            first = e.code ? e.code : LB_EIO;
            *err = e;
        }
    }
    return first;
}

/* ---- the notifier ---------------------------------------------------- */

enum channel { CH_SLACK, CH_PAGERDUTY, CH_WEBHOOK, CH_PUSHGATEWAY, CH_COUNT };

static const char *const channel_names[CH_COUNT] = {"slack", "pagerduty", "webhook",
                                                    "pushgateway"};

struct lb_notifier {
    const struct lb_notify_config *cfg;
    struct lb_secrets *secrets;
    char *run_id, *scenario_id, *title, *environment;
    int64_t rto_objective_ms, rpo_objective_ms;
    int failed[CH_COUNT];      /* a channel that failed gets one attempt from then on */
    int problems_reported;
};

struct lb_notifier *lb_notifier_new(const struct lb_notify_config *cfg,
                                    const struct lb_notify_drill *d,
                                    struct lb_secrets *secrets)
{
    struct lb_notifier *n = lb_xcalloc(1, sizeof(*n));

    n->cfg = cfg;
    n->secrets = secrets;
    n->run_id = lb_xstrdup(d->run_id ? d->run_id : "");
    n->scenario_id = lb_xstrdup(d->scenario_id ? d->scenario_id : "");
    n->title = lb_xstrdup(d->scenario_title && *d->scenario_title ? d->scenario_title
                                                                  : n->scenario_id);
    n->environment = lb_xstrdup(d->environment ? d->environment : "");
    n->rto_objective_ms = d->rto_objective_ms;
    n->rpo_objective_ms = d->rpo_objective_ms;
    return n;
}

void lb_notifier_free(struct lb_notifier *n)
{
    if (n == NULL)
        return;
    free(n->run_id);
    free(n->scenario_id);
    free(n->title);
    free(n->environment);
    free(n);
}

/* One line, at most ANSWER_SNIPPET bytes, of what a server answered. */
static void snippet(const struct lb_http_resp *resp, char *out, size_t outsz)
{
    size_t k = 0;

    for (size_t i = 0; i < resp->body_len && i < ANSWER_SNIPPET && k + 1 < outsz; i++) {
        char c = resp->body[i];
        out[k++] = (c == '\n' || c == '\r' || c == '\t' || c == '\0') ? ' ' : c;
    }
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/*
 * Send one notification: up to 1 + retries attempts (1 if the channel has
 * failed before), each bounded by the configured timeout, with doubling
 * pauses between them. Success is a 2xx answer; 429, 5xx and transport
 * errors are retried, other answers are not. Returns 0, or 1 after adding
 * a failure.
 */
static int send(struct lb_notifier *n, enum channel ch, const char *event, const char *method,
                const char *url, const char *content_type, const char *body,
                struct lb_notify_failures *f)
{
    const struct lb_notify_config *c = n->cfg;
    int attempts = n->failed[ch] ? 1 : 1 + (c->retries > 0 ? c->retries : 0);
    int64_t pause = c->backoff_ms > 0 ? c->backoff_ms : LB_NOTIFY_DEFAULT_BACKOFF_MS;
    char ctype[128], why[1400] = "";
    const char *headers[] = {ctype, NULL};
    int attempt;

    snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
    for (attempt = 1; attempt <= attempts; attempt++) {
        struct lb_http_req req = {.method = method, .url = url, .headers = headers,
                                  .body = body,
                                  .timeout_ms = c->timeout_ms > 0 ? c->timeout_ms
                                                                  : LB_NOTIFY_DEFAULT_TIMEOUT_MS,
                                  .max_body = 4096};
        struct lb_http_resp resp;
        struct lb_err e = {0};
        int rc = lb_http_request(&req, &resp, &e);
        int retry;

        if (rc == 0 && resp.status >= 200 && resp.status < 300) {
            lb_http_resp_free(&resp);
            n->failed[ch] = 0;
            return 0;
        }
        if (rc < 0) {
            snprintf(why, sizeof(why), "%s", e.msg);
            retry = rc != LB_EINVAL && rc != LB_EINTR;
        } else {
            char origin[300], answer[ANSWER_SNIPPET + 1];
            lb_http_url_origin(url, origin, sizeof(origin));
            snippet(&resp, answer, sizeof(answer));
            snprintf(why, sizeof(why), "%s %s answered %ld%s%s", method, origin, resp.status,
                     *answer ? ": " : "", answer);
            retry = resp.status == 429 || resp.status >= 500;
        }
        lb_http_resp_free(&resp);
        if (!retry || attempt == attempts || lb_interrupted())
            break;
        lb_sleep_ms(pause);
        pause = pause * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : pause * 2;
    }
    if (attempt > attempts)
        attempt = attempts;
    {
        char msg[1600];
        snprintf(msg, sizeof(msg), "%s (%d attempt%s)", why, attempt, attempt == 1 ? "" : "s");
        add_failure(f, n->secrets, channel_names[ch], event, msg);
    }
    n->failed[ch] = 1;
    return 1;
}

/* Send a cJSON object (consumed) as JSON. */
static int send_json(struct lb_notifier *n, enum channel ch, const char *event, const char *url,
                     cJSON *obj, struct lb_notify_failures *f)
{
    char *body = cJSON_PrintUnformatted(obj);
    int rc;

    cJSON_Delete(obj);
    rc = send(n, ch, event, "POST", url, "application/json", body ? body : "{}", f);
    cJSON_free(body);
    return rc;
}

/* Redacted copy of a text that is about to leave the process. Caller frees. */
static char *outgoing(const struct lb_notifier *n, const char *text)
{
    return lb_redact_text(n->secrets, *text ? text : " ");
}

static void now_iso(char *out, size_t outsz)
{
    lb_wall_format(lb_wall_ms(), out, outsz);
}

static const char *pd_endpoint(const struct lb_notifier *n)
{
    return n->cfg->pagerduty_endpoint ? n->cfg->pagerduty_endpoint
                                      : LB_NOTIFY_PAGERDUTY_ENDPOINT;
}

/* The change-events endpoint next to an Events v2 enqueue endpoint:
 * .../v2/enqueue -> .../v2/change/enqueue. Caller frees. */
static char *pd_change_endpoint(const struct lb_notifier *n)
{
    const char *ep = pd_endpoint(n);
    size_t len = strlen(ep);

    if (lb_str_ends(ep, "/v2/enqueue"))
        return lb_xasprintf("%.*s/v2/change/enqueue", (int)(len - strlen("/v2/enqueue")), ep);
    return lb_xstrdup(ep);
}

static cJSON *details(const struct lb_notifier *n, const char *event)
{
    cJSON *d = cJSON_CreateObject();

    cJSON_AddStringToObject(d, "event", event);
    cJSON_AddStringToObject(d, "run_id", n->run_id);
    cJSON_AddStringToObject(d, "scenario", n->scenario_id);
    cJSON_AddStringToObject(d, "title", n->title);
    cJSON_AddStringToObject(d, "environment", n->environment);
    return d;
}

/* PagerDuty: an Events v2 trigger/resolve (paging) or a change event. */
static int send_pagerduty(struct lb_notifier *n, const char *event, const char *action,
                          const char *severity, const char *text, cJSON *custom,
                          struct lb_notify_failures *f)
{
    cJSON *o = cJSON_CreateObject();
    char summary[PD_SUMMARY_MAX + 1], ts[40], source[300];
    int rc;

    snprintf(summary, sizeof(summary), "%s", text);
    snprintf(source, sizeof(source), "lifeboat/%s", n->environment);
    now_iso(ts, sizeof(ts));
    cJSON_AddStringToObject(o, "routing_key", n->cfg->pagerduty_routing_key);
    if (n->cfg->pagerduty_page) {
        cJSON_AddStringToObject(o, "event_action", action);
        cJSON_AddStringToObject(o, "dedup_key", n->run_id);
        if (strcmp(action, "resolve") != 0) {
            cJSON *p = cJSON_AddObjectToObject(o, "payload");
            cJSON_AddStringToObject(p, "summary", summary);
            cJSON_AddStringToObject(p, "source", source);
            cJSON_AddStringToObject(p, "severity", severity);
            cJSON_AddStringToObject(p, "timestamp", ts);
            cJSON_AddStringToObject(p, "component", n->scenario_id);
            cJSON_AddStringToObject(p, "group", n->environment);
            cJSON_AddStringToObject(p, "class", "disaster-recovery drill");
            cJSON_AddItemToObject(p, "custom_details", custom);
            custom = NULL;
        }
        cJSON_Delete(custom);
        return send_json(n, CH_PAGERDUTY, event, pd_endpoint(n), o, f);
    }
    {
        cJSON *p = cJSON_AddObjectToObject(o, "payload");
        char *url = pd_change_endpoint(n);
        cJSON_AddStringToObject(p, "summary", summary);
        cJSON_AddStringToObject(p, "timestamp", ts);
        cJSON_AddStringToObject(p, "source", source);
        cJSON_AddItemToObject(p, "custom_details", custom);
        rc = send_json(n, CH_PAGERDUTY, event, url, o, f);
        free(url);
    }
    return rc;
}

static int send_slack(struct lb_notifier *n, const char *event, const char *text,
                      struct lb_notify_failures *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    return send_json(n, CH_SLACK, event, n->cfg->slack_url, o, f);
}

/* Every channel that is usable gets `text`; the webhook gets `hook` (consumed),
 * PagerDuty `custom` (consumed). */
static int broadcast(struct lb_notifier *n, const char *event, const char *text,
                     const char *pd_action, const char *pd_severity, cJSON *hook, cJSON *custom,
                     struct lb_notify_failures *f)
{
    const struct lb_notify_config *c = n->cfg;
    int failures = 0;
    char *clean = outgoing(n, text);

    if (c->slack_url)
        failures += send_slack(n, event, clean, f);
    if (c->pagerduty_routing_key) {
        failures += send_pagerduty(n, event, pd_action, pd_severity, clean, custom, f);
        custom = NULL;
    }
    if (c->webhook_url) {
        char ts[40];
        now_iso(ts, sizeof(ts));
        cJSON_AddStringToObject(hook, "text", clean);
        cJSON_AddStringToObject(hook, "timestamp", ts);
        failures += send_json(n, CH_WEBHOOK, event, c->webhook_url, hook, f);
        hook = NULL;
    }
    cJSON_Delete(hook);
    cJSON_Delete(custom);
    free(clean);
    return failures;
}

int lb_notify_drill_start(struct lb_notifier *n, struct lb_notify_failures *f)
{
    char text[1024];
    int failures = 0;

    if (n == NULL || n->cfg == NULL)
        return 0;
    if (n->cfg->problems && !n->problems_reported) {
        const char *p = n->cfg->problems;
        while (*p) {
            size_t len = strcspn(p, "\n");
            char *line = lb_xstrndup(p, len);
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = '\0';
                add_failure(f, n->secrets, line, "configuration", colon + 2);
            } else {
                add_failure(f, n->secrets, "notify", "configuration", line);
            }
            free(line);
            failures++;
            p += len;
            if (*p == '\n')
                p++;
        }
        n->problems_reported = 1;
    }
    snprintf(text, sizeof(text), "DRILL: %s in %s. Go. (scenario %s, run %s)", n->title,
             n->environment, n->scenario_id, n->run_id);
    failures += broadcast(n, "drill start", text, "trigger", "warning",
                          details(n, "drill_start"), details(n, "drill_start"), f);
    return failures;
}

int lb_notify_gap(struct lb_notifier *n, const char *severity, const char *category,
                  const char *title, struct lb_notify_failures *f)
{
    char text[1400];
    cJSON *hook, *custom, *gap;

    if (n == NULL || n->cfg == NULL || severity == NULL || strcmp(severity, "critical") != 0)
        return 0;
    snprintf(text, sizeof(text), "DRILL %s in %s: critical gap (%s): %s", n->title,
             n->environment, category ? category : "gap", title ? title : "");
    hook = details(n, "gap");
    gap = cJSON_AddObjectToObject(hook, "gap");
    cJSON_AddStringToObject(gap, "severity", severity);
    cJSON_AddStringToObject(gap, "category", category ? category : "");
    cJSON_AddStringToObject(gap, "title", title ? title : "");
    custom = details(n, "gap");
    cJSON_AddStringToObject(custom, "category", category ? category : "");
    return broadcast(n, "gap", text, "trigger", "critical", hook, custom, f);
}

/* Seconds as a JSON number, or null when not measured / not set. */
static void add_seconds(cJSON *o, const char *key, int64_t ms)
{
    if (ms >= 0)
        cJSON_AddNumberToObject(o, key, (double)ms / 1000.0);
    else
        cJSON_AddNullToObject(o, key);
}

int lb_notify_drill_end(struct lb_notifier *n, const struct lb_run_summary *sum,
                        const char *report_path, struct lb_notify_failures *f)
{
    char verdict[512], text[1600];
    cJSON *hook, *custom, *gaps;

    if (n == NULL || n->cfg == NULL || sum == NULL)
        return 0;
    lb_run_summary_line(sum, n->rto_objective_ms, n->rpo_objective_ms, verdict,
                        sizeof(verdict));
    snprintf(text, sizeof(text), "DRILL over: %s in %s. %s%s%s (run %s)", n->title,
             n->environment, verdict, report_path ? "  Report: " : "",
             report_path ? report_path : "", n->run_id);
    hook = details(n, "drill_end");
    cJSON_AddStringToObject(hook, "status", sum->status ? sum->status : "");
    cJSON_AddNumberToObject(hook, "exit_code", sum->exit_code);
    cJSON_AddStringToObject(hook, "verdict", verdict);
    add_seconds(hook, "rto_seconds", sum->rto_ms);
    add_seconds(hook, "rpo_seconds", sum->rpo_ms);
    if (sum->rpo_method)
        cJSON_AddStringToObject(hook, "rpo_method", sum->rpo_method);
    add_seconds(hook, "rto_objective_seconds", n->rto_objective_ms);
    add_seconds(hook, "rpo_objective_seconds", n->rpo_objective_ms);
    gaps = cJSON_AddObjectToObject(hook, "gaps");
    cJSON_AddNumberToObject(gaps, "critical", sum->gaps_critical);
    cJSON_AddNumberToObject(gaps, "major", sum->gaps_major);
    cJSON_AddNumberToObject(gaps, "minor", sum->gaps_minor);
    cJSON_AddNumberToObject(hook, "rollbacks_failed", sum->rollbacks_failed);
    if (report_path)
        cJSON_AddStringToObject(hook, "report", report_path);
    else
        cJSON_AddNullToObject(hook, "report");
    custom = details(n, "drill_end");
    cJSON_AddStringToObject(custom, "verdict", verdict);
    if (report_path)
        cJSON_AddStringToObject(custom, "report", report_path);
    return broadcast(n, "drill end", text, "resolve", "info", hook, custom, f);
}

/* ---- Pushgateway ----------------------------------------------------- */

/* "/NAME/VALUE" of a Pushgateway grouping key; values outside the URL-safe
 * set use the "NAME@base64/VALUE" form (base64url). */
static void add_label(struct lb_buf *b, const char *name, const char *value)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *v = (const unsigned char *)value;
    size_t len = strlen(value);
    int plain = len > 0;

    for (size_t i = 0; i < len && plain; i++)
        plain = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
                (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_' || v[i] == '.';
    if (plain) {
        lb_buf_printf(b, "/%s/%s", name, value);
        return;
    }
    lb_buf_printf(b, "/%s@base64/", name);
    if (len == 0) {
        lb_buf_addc(b, '=');
        return;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)v[i] << 16;
        if (i + 1 < len)
            x |= (uint32_t)v[i + 1] << 8;
        if (i + 2 < len)
            x |= v[i + 2];
        lb_buf_addc(b, b64[(x >> 18) & 63]);
        lb_buf_addc(b, b64[(x >> 12) & 63]);
        lb_buf_addc(b, i + 1 < len ? b64[(x >> 6) & 63] : '=');
        lb_buf_addc(b, i + 2 < len ? b64[x & 63] : '=');
    }
}

static void gauge(struct lb_buf *b, const char *name, const char *help)
{
    lb_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

char *lb_notify_metrics_text(const struct lb_notify_drill *d, const struct lb_run_summary *sum)
{
    struct lb_buf b = {0};
    int passed = sum->status && strcmp(sum->status, "passed") == 0;

    if (sum->rto_ms >= 0) {
        gauge(&b, "lifeboat_drill_rto_seconds", "Measured recovery time of the last drill.");
        lb_buf_printf(&b, "lifeboat_drill_rto_seconds %.3f\n", (double)sum->rto_ms / 1000.0);
    }
    if (sum->rpo_ms >= 0) {
        gauge(&b, "lifeboat_drill_rpo_seconds", "Measured data loss of the last drill.");
        lb_buf_printf(&b, "lifeboat_drill_rpo_seconds %.3f\n", (double)sum->rpo_ms / 1000.0);
    }
    if (d && d->rto_objective_ms >= 0) {
        gauge(&b, "lifeboat_drill_rto_objective_seconds", "RTO objective of the drill.");
        lb_buf_printf(&b, "lifeboat_drill_rto_objective_seconds %.3f\n",
                      (double)d->rto_objective_ms / 1000.0);
    }
    if (d && d->rpo_objective_ms >= 0) {
        gauge(&b, "lifeboat_drill_rpo_objective_seconds", "RPO objective of the drill.");
        lb_buf_printf(&b, "lifeboat_drill_rpo_objective_seconds %.3f\n",
                      (double)d->rpo_objective_ms / 1000.0);
    }
    gauge(&b, "lifeboat_drill_gaps", "Gaps the last drill recorded, by severity.");
    lb_buf_printf(&b, "lifeboat_drill_gaps{severity=\"critical\"} %d\n", sum->gaps_critical);
    lb_buf_printf(&b, "lifeboat_drill_gaps{severity=\"major\"} %d\n", sum->gaps_major);
    lb_buf_printf(&b, "lifeboat_drill_gaps{severity=\"minor\"} %d\n", sum->gaps_minor);
    gauge(&b, "lifeboat_drill_passed", "1 if the last drill passed, else 0.");
    lb_buf_printf(&b, "lifeboat_drill_passed %d\n", passed);
    gauge(&b, "lifeboat_drill_last_run_timestamp_seconds", "When the last drill ended.");
    lb_buf_printf(&b, "lifeboat_drill_last_run_timestamp_seconds %.3f\n",
                  (double)lb_wall_ms() / 1000.0);
    return lb_buf_steal(&b);
}

int lb_notify_push_metrics(struct lb_notifier *n, const struct lb_run_summary *sum,
                           struct lb_notify_failures *f)
{
    const struct lb_notify_config *c;
    struct lb_notify_drill d;
    struct lb_buf url = {0};
    char *text;
    int rc;

    if (n == NULL || n->cfg == NULL || sum == NULL || n->cfg->pushgateway_push_url == NULL)
        return 0;
    c = n->cfg;
    lb_buf_adds(&url, c->pushgateway_push_url);
    while (url.len > 0 && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    lb_buf_adds(&url, "/metrics");
    add_label(&url, "job", c->pushgateway_job ? c->pushgateway_job : LB_NOTIFY_DEFAULT_JOB);
    add_label(&url, "scenario", n->scenario_id);
    add_label(&url, "environment", n->environment);
    memset(&d, 0, sizeof(d));
    d.rto_objective_ms = n->rto_objective_ms;
    d.rpo_objective_ms = n->rpo_objective_ms;
    text = lb_notify_metrics_text(&d, sum);
    rc = send(n, CH_PUSHGATEWAY, "metrics", "PUT", url.data, "text/plain; version=0.0.4", text,
              f);
    free(text);
    lb_buf_free(&url);
    return rc;
}
