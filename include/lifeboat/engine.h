/*
 * engine: the drill's bookkeeping and its safety rules, in plain C.
 *
 * - The environment (targets, backups, objectives, protected systems) as
 *   loaded from an environment file (the loader lives in the Lua bindings,
 *   see script.h; the data lives here).
 * - A run: steps, deadlines, marks, checks, gaps, metrics, rollbacks,
 *   RTO/RPO and the verdict, all written to the store as they happen, all
 *   text redacted first.
 * - The safety guard: proves a connection reaches the pinned staging target.
 *
 * No Lua types here. The runner (runner.h) drives a scenario through this.
 */
#ifndef LIFEBOAT_ENGINE_H
#define LIFEBOAT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_store;
struct lb_pg;
struct lb_notify_config;

/* ---- environment ----------------------------------------------------- */

struct lb_env_target {
    char *name;
    char *conninfo;            /* secret parts registered in env->secrets */
    char *role;                /* must be "staging" */
    char *region;
    char *system_identifier;   /* pinned, decimal string */
    char *cluster_name;        /* optional pin */
    char *guard_token;
    char *replica_of;
    char **stop_argv;          /* NULL-ended or NULL */
    char **start_argv;
    char **fence_argv;         /* make an accidental restart impossible (region loss) */
    char **unfence_argv;
    char *data_dir;            /* optional: server data directory (sandbox) */
    int line;                  /* where declared in the environment file */
};

struct lb_env_backup {
    char *name;
    char *kind;                /* pg_dump, basebackup, pgbackrest, command */
    char *path;
    char *wal_archive;
    char *source;              /* target name it claims to back up */
    int64_t max_age_ms;        /* -1: none */
    double tolerance;          /* row-count tolerance, default 0.05 */
    char *stanza;
    int repo;
    char **argv;               /* kind=command */
    int line;
};

struct lb_env_route { char *name, *target; };

struct lb_env {
    char *name;
    char *path;                /* file it was loaded from */
    struct lb_env_target *targets; size_t ntargets;
    struct lb_env_backup *backups; size_t nbackups;
    struct lb_env_route *routes; size_t nroutes;
    char *scratch;
    char **protected_sysids; size_t nprotected_sysids;
    char **protected_hosts; size_t nprotected_hosts;
    int64_t rto_ms, rpo_ms;    /* defaults; -1 if none */
    struct lb_secrets *secrets; /* owned: every secret value the file holds */
    struct lb_notify_config *notify; /* owned; NULL without a notify table (notify.h) */
};

void lb_env_free(struct lb_env *env);
/* Lookups (borrowed; NULL if absent). Targets are found through routes too. */
const struct lb_env_target *lb_env_target(const struct lb_env *env, const char *name);
const struct lb_env_backup *lb_env_backup(const struct lb_env *env, const char *name);
/* Add a target shaped like `like` (role staging, same pinned identity and
 * token) for a scratch restore lifeboat made itself; remove it afterwards.
 * Adding moves the target array: pointers into it are stale afterwards. */
void lb_env_add_target(struct lb_env *env, const struct lb_env_target *like, const char *name,
                       const char *conninfo, const char *cluster_name, const char *data_dir);
void lb_env_remove_target(struct lb_env *env, const char *name);
/* A deep copy of a target (caller frees with lb_env_target_clear + free),
 * and the freeing of one target's fields (the struct is zeroed). */
struct lb_env_target *lb_env_target_dup(const struct lb_env_target *src);
void lb_env_target_clear(struct lb_env_target *t);
/* Re-point a route (failover); adds it if missing. */
void lb_env_set_route(struct lb_env *env, const char *route, const char *target);

/* ---- safety guard ---------------------------------------------------- */

/* What the guard observed (for the report; no secrets). */
struct lb_guard_seen {
    char system_identifier[32];
    char cluster_name[128];
    char host[256];
    char server_addr[64];
    char port[16];
    int server_version;
    int in_recovery;
};

/*
 * Prove that `c` reaches target `t` of `env`: role staging, live
 * system_identifier equal to the pin and not protected, cluster_name when
 * pinned, the lifeboat_guard marker with the environment name and token,
 * host (as libpq reports it, and the server address) not protected.
 * Fail-closed: anything missing or unreadable is a refusal. Returns 0 or
 * LB_ESAFETY (err->msg says which factor), or LB_ETIMEOUT/LB_EINTR.
 */
int lb_guard_check(struct lb_pg *c, const struct lb_env *env,
                   const struct lb_env_target *t, int64_t deadline_ms,
                   struct lb_guard_seen *seen, struct lb_err *err);

/* Create (or replace the row of) the marker table lifeboat_guard(environment,
 * token) through `c`, with no identity checks: for the sandbox, which has
 * just created the cluster itself. */
int lb_guard_install_marker(struct lb_pg *c, const char *environment,
                            const char *token, struct lb_err *err);

/* Create the opt-in marker on a target (what `lifeboat guard install` does).
 * Refuses when the target's role is not staging or its identifier is
 * protected. */
int lb_guard_install(struct lb_pg *c, const struct lb_env *env,
                     const struct lb_env_target *t, struct lb_err *err);

/* ---- runs ------------------------------------------------------------ */

enum lb_step_status {
    LB_STEP_PENDING = 0,
    LB_STEP_RUNNING,
    LB_STEP_PASSED,
    LB_STEP_FAILED,
    LB_STEP_TIMEOUT,
    LB_STEP_SKIPPED,
    LB_STEP_INTERRUPTED,
    LB_STEP_REFUSED,
};
const char *lb_step_status_name(enum lb_step_status s);

/* Progress events, for the CLI to print. Library code never prints. */
enum lb_event_kind {
    LB_EV_STEP_START,
    LB_EV_STEP_END,
    LB_EV_GAP,
    LB_EV_CHECK,
    LB_EV_LOG,
    LB_EV_MARK,
    LB_EV_ROLLBACK_START,
    LB_EV_ROLLBACK_END,
};
struct lb_event {
    enum lb_event_kind kind;
    int seq;                 /* step seq (0 if none) */
    const char *name;        /* step / check / mark name */
    const char *stepkind;
    enum lb_step_status status;
    int64_t duration_ms;
    const char *text;        /* error, gap title, log line (redacted) */
    const char *severity;    /* gaps */
    int ok;                  /* checks */
};
typedef void (*lb_event_fn)(const struct lb_event *ev, void *ud);

struct lb_run;

struct lb_run_opts {
    struct lb_store *store;        /* borrowed */
    const struct lb_env *env;      /* borrowed, may be NULL (check mode) */
    struct lb_secrets *secrets;    /* borrowed: redaction set (env's) */
    const char *scenario_id;
    const char *scenario_title;
    const char *scenario_file;
    const char *kind;              /* "drill" (default) or "audit" */
    int dry_run;
    int64_t rto_objective_ms;      /* -1: none */
    int64_t rpo_objective_ms;
    const char *plan_json;
    lb_event_fn on_event;
    void *event_ud;
};

/* Create the run and store its header. */
int lb_run_new(const struct lb_run_opts *opts, struct lb_run **out,
               struct lb_err *err);
void lb_run_free(struct lb_run *r);
const char *lb_run_id(const struct lb_run *r);
int lb_run_dry(const struct lb_run *r);
struct lb_secrets *lb_run_secrets(struct lb_run *r);

/* Declare a step of the plan; returns its seq (1-based) or a negative rc. */
int lb_run_plan_step(struct lb_run *r, const char *name, const char *kind,
                     int critical, int64_t timeout_ms, const char *declared_at,
                     struct lb_err *err);
int lb_run_nsteps(const struct lb_run *r);

/*
 * Start step seq: checks the halt switch and the interrupt flag, stores the
 * start, arms the deadline. LB_EHALT / LB_EINTR if it must not start.
 */
int lb_run_step_begin(struct lb_run *r, int seq, struct lb_err *err);
/* End the current step. error may be NULL. Records a gap for a failure. */
int lb_run_step_end(struct lb_run *r, enum lb_step_status status,
                    const char *error, struct lb_err *err);
/* Mark a step that never ran (skipped / not reached). */
int lb_run_step_skip(struct lb_run *r, int seq, const char *why,
                     struct lb_err *err);
/* Append to the current step's captured output (kept as a bounded tail). */
void lb_run_step_output(struct lb_run *r, const char *text);
/* Current step seq (0 outside a step), its kind, and its deadline
 * (monotonic ms, LB_NO_DEADLINE if none). */
int lb_run_current_step(const struct lb_run *r);
const char *lb_run_current_kind(const struct lb_run *r);
int64_t lb_run_deadline(const struct lb_run *r);
/* Wall time the current step started (ms), -1 outside a step. */
int64_t lb_run_step_started_at(const struct lb_run *r);
/* Set the deadline of the current step explicitly (monotonic ms). */
void lb_run_set_deadline(struct lb_run *r, int64_t deadline_ms);

/* Marks: incident, detected, recovered (or any name). Explicit marks win
 * over the automatic ones. */
int lb_run_mark(struct lb_run *r, const char *name, struct lb_err *err);
/* Wall time of a mark, -1 if not set (explicit or automatic so far). */
int64_t lb_run_mark_time(const struct lb_run *r, const char *name);

int lb_run_check(struct lb_run *r, const char *name, int ok,
                 const char *expected, const char *observed,
                 const char *table_name, struct lb_err *err);
/* Gap; severity critical|major|minor; detail may be NULL. */
int lb_run_gap(struct lb_run *r, const char *severity, const char *category,
               const char *title, const char *detail, struct lb_err *err);
int lb_run_metric(struct lb_run *r, const char *name, double value,
                  const char *unit, struct lb_err *err);
int lb_run_table_stat(struct lb_run *r, const char *phase, const char *table,
                      int64_t rows, const char *fingerprint,
                      const char *schema_fingerprint, struct lb_err *err);
void lb_run_log(struct lb_run *r, const char *text);

/*
 * RPO evidence. `newest_data_ms` is the wall time of the newest data that
 * survived (a heartbeat row, a backup's snapshot time); RPO is computed at
 * the end as incident − newest_data_ms. The most recent call wins.
 */
void lb_run_set_rpo_evidence(struct lb_run *r, const char *method,
                             int64_t newest_data_ms);

/* Rollbacks: register (committed to the store first), then report. */
int lb_run_rollback_register(struct lb_run *r, const char *name,
                             const char *declared_at, struct lb_err *err);
int lb_run_rollback_begin(struct lb_run *r, int id, const char *name,
                          struct lb_err *err);
int lb_run_rollback_end(struct lb_run *r, int id, int ok, const char *error,
                        int64_t duration_ms, struct lb_err *err);

/* How the run ended, as the runner saw it. */
enum lb_outcome {
    LB_OUTCOME_COMPLETED = 0,  /* every step ran (some may have failed) */
    LB_OUTCOME_FAILED,         /* a critical step failed; rest skipped */
    LB_OUTCOME_REFUSED,        /* a safety guard refused */
    LB_OUTCOME_ABORTED,        /* halt / blast radius / stop condition */
    LB_OUTCOME_INTERRUPTED,    /* SIGINT/SIGTERM */
    LB_OUTCOME_PLANNED,        /* dry run */
};

/* Summary of a finished run. */
struct lb_run_summary {
    const char *status;     /* borrowed static string */
    int exit_code;
    int64_t rto_ms, rpo_ms; /* -1 if not measured */
    const char *rpo_method; /* borrowed, may be NULL */
    int gaps_critical, gaps_major, gaps_minor;
    int rollbacks_failed;
};

/*
 * Finish: compute RTO and RPO, record objective gaps, decide status and
 * exit code, store the run's end. `error` is the failure that ended the run
 * (NULL if none).
 */
int lb_run_finish(struct lb_run *r, enum lb_outcome outcome, const char *error,
                  struct lb_run_summary *sum, struct lb_err *err);

/* Verdict line as the CLI prints it:
 * "PASSED  RTO 41.2s (objective 10m)  RPO 3h12m (objective 26h)  gaps 0" */
void lb_run_summary_line(const struct lb_run_summary *sum,
                         int64_t rto_objective_ms, int64_t rpo_objective_ms,
                         char *out, size_t outsz);

/* ---- manual steps and scheduled drills (issue 6: schedule, due, ack) ---
 * Added for manual() and `lifeboat due`; the rest of this header is not
 * theirs to change. */

/* The results store a run writes to (borrowed). */
struct lb_store *lb_run_store(const struct lb_run *r);

struct lb_manual_opts {
    const char *prompt;
    int64_t timeout_ms;      /* -1: until the step's deadline */
    int64_t deadline_ms;     /* the step's deadline, monotonic; LB_NO_DEADLINE: none */
    int tty_in;              /* the operator's terminal (fd), or -1: `lifeboat ack` only */
    int tty_out;             /* where the prompt is written when tty_in >= 0 */
    int64_t poll_ms;         /* how often the store is read; 0: 500 ms */
};

struct lb_manual_result {
    char by[128];            /* who acknowledged (user name) */
    char via[16];            /* "tty", "cli" or what `lifeboat ack` recorded */
    int64_t waited_ms;       /* the human's time */
};

/*
 * A human step: open a wait for (run, current step) in `store`, then wait
 * until someone acknowledges it: on the terminal (tty_in: the prompt is
 * written to tty_out, the operator types "done"; the one place the library
 * talks to a terminal, because the step is a conversation) or from another
 * shell with `lifeboat ack RUN [STEP]`, which the store is polled for.
 * Returns 0 (res says who and how long; a "manual_wait" metric is stored),
 * LB_ETIMEOUT when nobody acknowledged before the timeout or the step's
 * deadline (a major "people" gap "nobody acknowledged the page within 10m"
 * is recorded first), LB_EINTR on SIGINT/SIGTERM, LB_EHALT when the halt
 * switch is thrown meanwhile. The wait's end is stored in every case.
 */
int lb_manual_wait(struct lb_run *r, struct lb_store *store, const struct lb_manual_opts *o,
                   struct lb_manual_result *res, struct lb_err *err);

#endif
