/*
 * report: renders runs for people and machines, from the store only, so any
 * past run can be re-rendered. Markdown (wikis and tickets), HTML (one
 * self-contained page with an SVG timeline, for the post-mortem), JSON (the
 * whole run, for tools), JUnit XML (for CI test reporters) and the terminal
 * view of `lifeboat show`; a scenario's trend across runs and the drill index
 * of a quarter. Called by the CLI (report, show, trend, run --report).
 *
 * Renderers append to a caller's buffer and are deterministic for a given
 * view; nothing here prints. Every value that comes from the store is
 * escaped for the format it goes into.
 *
 * What the reports read beyond the store's columns (conventions for the
 * code that records a run; see docs/reports.md):
 *
 * - Sub-step phases. A step that goes through phases (a restore: "fetch",
 *   "pg_restore", "indexes"; a failover: "promote", "repoint") records each
 *   as metrics of that step, in milliseconds (unit "ms"):
 *       phase.<name>.start_ms     when it began, as an offset from the
 *                                 step's start (optional: without it the
 *                                 phase follows the previous one)
 *       phase.<name>.duration_ms  how long it took (required)
 *   <name> may hold dots; phases are drawn in the order their first metric
 *   was recorded. They appear as sub-bars in the HTML timeline and as
 *   indented rows in the Markdown and terminal timelines, and are left out
 *   of the metrics tables.
 * - Foreign-key violations of a table: its checks named "fk <constraint>"
 *   (as lb_validate_fk_findings records them) or ending in "foreign keys";
 *   a failed one shows as "<check>: <observed>" (count and sample keys).
 * - Sample keys found by a row diff: its checks named "<t>: missing rows",
 *   "<t>: extra rows", "<t>: changed rows" (as lb_validate_findings records
 *   them) or "<t>: diff"; shown as "<kind>: <observed>".
 * - Target identities: the run's plan_json "targets" array may hold objects
 *   instead of names: { "name", "role", "region", "system_identifier",
 *   "cluster_name", "host", "port", "server_version" } (strings or numbers;
 *   never a conninfo or a secret: the report shows every field it is given
 *   except those whose names contain "conninfo", "password", "secret",
 *   "token" or "key").
 */
#ifndef LIFEBOAT_REPORT_H
#define LIFEBOAT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_run_view;
struct lb_store;

enum lb_report_format {
    LB_REPORT_MD = 1 << 0,
    LB_REPORT_JSON = 1 << 1,
    LB_REPORT_HTML = 1 << 2,
    LB_REPORT_JUNIT = 1 << 3,
};
#define LB_REPORT_ALL (LB_REPORT_MD | LB_REPORT_JSON | LB_REPORT_HTML | LB_REPORT_JUNIT)

/* Metric name prefix of sub-step phases (see above). */
#define LB_REPORT_PHASE_PREFIX "phase."

/* Parse "md,html,json,junit" ("markdown" and "xml" also accepted) into a
 * bit set. LB_EINVAL for an unknown format or none. */
int lb_report_parse_formats(const char *text, unsigned *out, struct lb_err *err);

/* File name ending of a format: "md", "json", "html", "junit.xml". */
const char *lb_report_extension(enum lb_report_format f);

/*
 * The run's verdict in words, from its status: "PASSED", "FAILED",
 * "REFUSED", "ABORTED", "INTERRUPTED", "ROLLBACK FAILED", "PLANNED (dry run)",
 * "ERROR", "RUNNING" or "UNKNOWN". Static string.
 */
const char *lb_report_verdict(const struct lb_run_view *v);

/* Render one run into b (appends). */
void lb_report_markdown(const struct lb_run_view *v, struct lb_buf *b);
void lb_report_json(const struct lb_run_view *v, struct lb_buf *b);
/* One self-contained HTML page: inline CSS and SVG, no script at all. */
void lb_report_html(const struct lb_run_view *v, struct lb_buf *b);
/*
 * JUnit XML (the Jenkins/ant form, tests/fixtures/junit/junit-10.xsd): one
 * <testsuite> per run inside <testsuites>; in each, a testcase per step, per
 * check, per objective and per rollback. A testcase fails when its step
 * failed or recorded a gap; the failure text carries the gaps.
 */
void lb_report_junit(const struct lb_run_view *const *runs, size_t n, struct lb_buf *b);

/* The terminal view of `lifeboat show`. */
struct lb_report_text_opts {
    int color;       /* ANSI colours (the CLI decides: a TTY and no NO_COLOR) */
    int bar_width;   /* columns of the timeline's time axis; <= 0: 40 */
};
/* Timeline with aligned durations and bars on a shared time axis, then
 * checks, gaps (most severe first) and rollbacks. Control characters from
 * the store are shown escaped, never sent to the terminal. */
void lb_report_text(const struct lb_run_view *v, const struct lb_report_text_opts *o,
                    struct lb_buf *b);

/*
 * Load run `run_id` from the store and write one file per format into
 * `outdir` (created if needed) named "<run id>.<extension>". The paths
 * written go to *paths (caller frees with lb_report_paths_free), in the
 * order md, html, json, junit.
 */
int lb_report_write_files(struct lb_store *s, const char *run_id, unsigned formats,
                          const char *outdir, char ***paths, size_t *npaths,
                          struct lb_err *err);
void lb_report_paths_free(char **paths, size_t n);

/* As lb_report_write_files; the first path goes to *first_path (caller
 * frees) if not NULL. */
int lb_report_write(struct lb_store *s, const char *run_id, unsigned formats,
                    const char *outdir, char **first_path, struct lb_err *err);

/* ---- across runs ------------------------------------------------------ */

/*
 * How a scenario's drills went over time: RTO and RPO of every run against
 * its objectives, the gaps that recurred (same category and title once
 * numbers are set aside) and whether the latest run improved on the one
 * before it. `runs` are loaded runs of one scenario in any order (dry runs
 * are left out); format is one of LB_REPORT_MD, LB_REPORT_JSON or
 * LB_REPORT_HTML (an SVG line chart per objective).
 */
void lb_report_trend_render(const struct lb_run_view *const *runs, size_t n,
                            enum lb_report_format format, struct lb_buf *b);

/* Load every run of scenario_id from the store and render its trend.
 * LB_ENOTFOUND when the scenario has no run; LB_EINVAL for a format that
 * trend does not have (junit). */
int lb_report_trend(struct lb_store *s, const char *scenario_id,
                    enum lb_report_format format, struct lb_buf *b, struct lb_err *err);

/*
 * "Improved", "regressed", "mixed", "unchanged" or "first run": the latest
 * of `runs` (by start time) against the one before it. The first rule that
 * tells them apart decides: passed beats any other verdict, then more
 * objectives met, then fewer gaps (critical, then major, then minor), then
 * RTO and RPO (a change under 5% counts as none; one better and one worse
 * is "mixed"). Static string.
 */
const char *lb_report_trend_verdict(const struct lb_run_view *const *runs, size_t n);

/* Parse the --all-since date: "YYYY-MM-DD", a full UTC timestamp, or a
 * quarter "YYYY-Qn" (its first day). UTC milliseconds. LB_EINVAL if bad. */
int lb_report_parse_since(const char *text, int64_t *out_ms, struct lb_err *err);

/*
 * The drill index: every run started at or after since_ms, with verdict,
 * RTO/RPO against objectives and gaps, linking to each run's report. Writes
 * each run's reports (formats) into outdir and an index per format:
 * index.md, index.html, index.json, and for junit one index.junit.xml with a
 * testsuite per run. Paths written go to *paths (index files first).
 */
int lb_report_index(struct lb_store *s, int64_t since_ms, unsigned formats,
                    const char *outdir, char ***paths, size_t *npaths, struct lb_err *err);

#endif
