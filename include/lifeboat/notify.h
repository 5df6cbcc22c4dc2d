/*
 * notify: tell people about a drill, over http (http.h). Slack (incoming
 * webhook), PagerDuty (Events API v2: trigger at the start, resolve at the
 * end, dedup_key = run id; or change events when paging is not wanted), a
 * generic JSON webhook, and the drill's figures pushed to a Prometheus
 * Pushgateway in its text format.
 *
 * Sent at the start ("DRILL: region loss in staging. Go."), on each
 * critical gap, and at the end with the verdict and the report path. Each
 * send has a per-attempt timeout and retries with exponential backoff; a
 * channel that failed once gets one attempt per later event, so a dead
 * endpoint cannot stall the drill again and again. Nothing here fails the
 * drill: every failure comes back in a list, redacted, for the engine to
 * record as a gap (lb_notify_record_gaps).
 *
 * The configuration comes from the environment file's `notify` table
 * (parsed by the environment loader, names only) and the secrets from
 * environment variables, never from the file (lb_notify_config_resolve).
 * Used by the runner. No Lua types here.
 */
#ifndef LIFEBOAT_NOTIFY_H
#define LIFEBOAT_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_run;
struct lb_run_summary;

#define LB_NOTIFY_PAGERDUTY_ENDPOINT "https://events.pagerduty.com/v2/enqueue"
#define LB_NOTIFY_DEFAULT_TIMEOUT_MS 5000
#define LB_NOTIFY_DEFAULT_RETRIES 2
#define LB_NOTIFY_DEFAULT_BACKOFF_MS 500
#define LB_NOTIFY_DEFAULT_JOB "lifeboat"

/*
 * The `notify` table of an environment file:
 *
 *   notify = {
 *     slack       = { webhook_env = "LIFEBOAT_SLACK_WEBHOOK" },
 *     pagerduty   = { routing_key_env = "LIFEBOAT_PD_KEY",
 *                     endpoint = "https://events.pagerduty.com/v2/enqueue",  -- optional
 *                     page = true },          -- false: change events, never an incident
 *     webhook     = { url_env = "LIFEBOAT_WEBHOOK_URL" },
 *     pushgateway = { url = "http://pushgateway:9091" | url_env = "NAME",
 *                     job = "lifeboat" },     -- optional
 *     timeout = "5s",                         -- per attempt
 *     retries = 2,                            -- attempts after the first
 *   }
 *
 * All strings malloc'ed and owned by the config (lb_notify_config_free).
 * Create with lb_notify_config_new (defaults set), fill the names, then
 * lb_notify_config_resolve.
 */
struct lb_notify_config {
    /* from the file */
    char *slack_webhook_env;
    char *pagerduty_routing_key_env;
    char *pagerduty_endpoint;        /* NULL: LB_NOTIFY_PAGERDUTY_ENDPOINT */
    int pagerduty_page;              /* 1 (default): trigger/resolve; 0: change events */
    char *webhook_url_env;
    char *pushgateway_url;           /* not a secret: may be written in the file */
    char *pushgateway_url_env;       /* or a secret (credentials in the URL) */
    char *pushgateway_job;           /* default LB_NOTIFY_DEFAULT_JOB */
    int64_t timeout_ms;              /* per attempt; default LB_NOTIFY_DEFAULT_TIMEOUT_MS */
    int retries;                     /* default LB_NOTIFY_DEFAULT_RETRIES */
    int64_t backoff_ms;              /* first pause between attempts, doubled each time */
    int line;                        /* where `notify` is in the file (0: unknown) */

    /* filled by lb_notify_config_resolve: the secret values (NULL when the
     * channel is not configured or its variable is unset) */
    char *slack_url;
    char *pagerduty_routing_key;
    char *webhook_url;
    char *pushgateway_push_url;      /* pushgateway_url, or the value of its _env */
    /* channels configured but unusable: "slack: LIFEBOAT_SLACK_WEBHOOK is not
     * set", one per line (never a value); NULL when none */
    char *problems;
};

/* A config with the defaults. Caller frees with lb_notify_config_free. */
struct lb_notify_config *lb_notify_config_new(void);
void lb_notify_config_free(struct lb_notify_config *c);

/*
 * Read each *_env variable named in c (getenv), keep the values in c and
 * register every secret value in `secrets` (which may be NULL) so that it
 * is masked wherever it might be echoed. A variable that is unset, empty,
 * or not an http(s) URL where one is needed makes that channel unusable
 * and adds a line to c->problems; it is not an error here, because a drill
 * must still run: the problems come back as failures of the first
 * lb_notify_drill_start. Returns 0 (LB_EINVAL only for a NULL config).
 */
int lb_notify_config_resolve(struct lb_notify_config *c, struct lb_secrets *secrets,
                             struct lb_err *err);

/* Whether any channel (pushgateway included) is configured. */
int lb_notify_config_any(const struct lb_notify_config *c);

/* What every notification says about the run. Strings are copied. */
struct lb_notify_drill {
    const char *run_id;
    const char *scenario_id;
    const char *scenario_title;
    const char *environment;
    int64_t rto_objective_ms, rpo_objective_ms;   /* -1: none */
};

/* One failed notification: which channel and why (redacted, no secrets). */
struct lb_notify_failure {
    char *channel;     /* slack, pagerduty, webhook, pushgateway */
    char *event;       /* drill start, gap, drill end, metrics */
    char *message;
};

/* Failures collected by the send functions; they append. Zero-initialise. */
struct lb_notify_failures {
    struct lb_notify_failure *items;
    size_t n;
};
void lb_notify_failures_free(struct lb_notify_failures *f);

/* A run's notifier: the resolved config (borrowed: it must outlive the
 * notifier), the drill's identity, and which channels have failed. */
struct lb_notifier;

/* secrets (borrowed, may be NULL) masks everything that goes out or comes
 * back in a failure message. Caller frees with lb_notifier_free. */
struct lb_notifier *lb_notifier_new(const struct lb_notify_config *cfg,
                                    const struct lb_notify_drill *drill,
                                    struct lb_secrets *secrets);
void lb_notifier_free(struct lb_notifier *n);

/*
 * Drill start: Slack "DRILL: <title> in <environment>. Go.", PagerDuty
 * trigger (dedup_key = run id) or a change event, webhook event
 * "drill_start". Also reports c->problems as failures, once. Returns the
 * number of failures added to f.
 */
int lb_notify_drill_start(struct lb_notifier *n, struct lb_notify_failures *f);

/*
 * A gap. Only critical gaps are sent (others return 0 at once), so it can
 * be called for every gap; notification failures are recorded as major
 * gaps and so never notify in turn. PagerDuty: a trigger with the run's
 * dedup_key (it joins the drill's incident) or a change event.
 */
int lb_notify_gap(struct lb_notifier *n, const char *severity, const char *category,
                  const char *title, struct lb_notify_failures *f);

/*
 * Drill end: the verdict line (lb_run_summary_line) and the report path
 * (may be NULL). PagerDuty resolve (dedup_key = run id) or a change event;
 * webhook event "drill_end" with status, exit code, RTO/RPO in seconds
 * (null when not measured), objectives, gap counts and the report path.
 */
int lb_notify_drill_end(struct lb_notifier *n, const struct lb_run_summary *sum,
                        const char *report_path, struct lb_notify_failures *f);

/*
 * PUT the run's figures to the Pushgateway, grouped by job, scenario and
 * environment (PUT: the group holds this run's figures only):
 *   lifeboat_drill_rto_seconds, lifeboat_drill_rpo_seconds (absent when not
 *   measured), lifeboat_drill_gaps{severity="critical|major|minor"},
 *   lifeboat_drill_passed (1 or 0), lifeboat_drill_last_run_timestamp_seconds,
 *   and the objectives when set.
 * Does nothing when no pushgateway is configured.
 */
int lb_notify_push_metrics(struct lb_notifier *n, const struct lb_run_summary *sum,
                           struct lb_notify_failures *f);

/* The Pushgateway text body for a summary (what lb_notify_push_metrics
 * sends). Caller frees. */
char *lb_notify_metrics_text(const struct lb_notify_drill *drill,
                             const struct lb_run_summary *sum);

/*
 * Record each failure as a gap of the run: severity major (never critical,
 * so a failure to notify cannot itself be notified in a loop), category
 * "notification", title "<channel> notification failed (<event>)", detail
 * the message. Returns 0 or the first store error.
 */
int lb_notify_record_gaps(struct lb_run *r, const struct lb_notify_failures *f,
                          struct lb_err *err);

#endif
