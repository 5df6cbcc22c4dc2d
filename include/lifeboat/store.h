/*
 * store: the results store, SQLite (WAL, synchronous=FULL, BEGIN IMMEDIATE,
 * busy_timeout). Every write is its own short transaction, so a kill -9 of
 * lifeboat loses at most the step in flight; lb_store_open marks runs whose
 * process is gone as `interrupted`, with their registered-but-not-run
 * rollbacks.
 *
 * The engine writes through this API, reports read through lb_store_load_run.
 * The only module that includes sqlite3.h. Strings passed in must already be
 * redacted: the store writes what it is given.
 */
#ifndef LIFEBOAT_STORE_H
#define LIFEBOAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_store;

/* Current schema version (PRAGMA user_version). */
#define LB_STORE_VERSION 2

/* Open (creating and migrating as needed). path ":memory:" works for tests. */
int lb_store_open(const char *path, struct lb_store **out, struct lb_err *err);
void lb_store_close(struct lb_store *s);
int lb_store_version(struct lb_store *s);

/* ---- writing a run --------------------------------------------------- */

/* Header of a run. Strings borrowed; the store copies them. */
struct lb_run_info {
    const char *id;            /* run id; see lb_store_new_run_id */
    const char *scenario_id;
    const char *scenario_title;
    const char *scenario_file;
    const char *scenario_sha256;
    const char *environment;
    const char *kind;          /* "drill" or "audit" */
    const char *operator_name;
    const char *host;
    const char *version;       /* lifeboat version */
    int dry_run;
    int64_t started_at;        /* wall ms */
    int64_t rto_objective_ms;  /* -1 if none */
    int64_t rpo_objective_ms;  /* -1 if none */
    const char *plan_json;     /* the declared plan, as JSON */
};

/* A fresh run id: "YYYYMMDD-HHMMSS-xxxx" (UTC, 4 random hex). out >= 32. */
void lb_store_new_run_id(char *out, size_t outsz);

/*
 * Every write below is its own transaction. Errors: LB_EINVAL for a status
 * or severity not in the lists given here, a missing required string (ids,
 * names, kind, category, title, phase, table) or a duplicate (run id, step
 * seq, rollback id); LB_ENOTFOUND when the run, step or rollback does not
 * exist; LB_ETIMEOUT when another writer holds the lock past the 10 s busy
 * timeout; LB_EDB otherwise. The run begins as status "running" and records
 * this process (pid, host, start time) as its writer.
 *
 * A child row's step_seq is the step it came from; pass -1 for the run as
 * a whole (it reads back as -1).
 */
int lb_store_run_begin(struct lb_store *s, const struct lb_run_info *info,
                       struct lb_err *err);

/* Final state of a run. status: passed, failed, refused, aborted,
 * rollback_failed, interrupted, error, planned (dry run). */
struct lb_run_result {
    const char *status;
    int exit_code;
    int64_t ended_at;       /* wall ms */
    int64_t rto_ms;         /* -1 if not measured */
    int64_t rpo_ms;         /* -1 if not measured */
    const char *rpo_method; /* "heartbeat", "backup snapshot time", ... or NULL */
    const char *error;      /* NULL or the failure that ended the run */
};
int lb_store_run_end(struct lb_store *s, const char *run_id,
                     const struct lb_run_result *res, struct lb_err *err);

/* Steps are numbered by the engine (seq from 1, in plan order; rollbacks
 * continue the numbering). */
struct lb_step_info {
    int seq;
    const char *name;
    const char *kind;         /* fault, restore, check, manual, action, rollback */
    int critical;
    int64_t timeout_ms;       /* -1: none */
    const char *declared_at;  /* "file:line" */
};
/* Insert the planned step (status "pending"). */
int lb_store_step_plan(struct lb_store *s, const char *run_id,
                       const struct lb_step_info *st, struct lb_err *err);
/* Mark running, with wall start time. */
int lb_store_step_start(struct lb_store *s, const char *run_id, int seq,
                        int64_t started_at, struct lb_err *err);
/* status: passed, failed, timeout, skipped, interrupted, refused */
int lb_store_step_end(struct lb_store *s, const char *run_id, int seq,
                      const char *status, int64_t ended_at, int64_t duration_ms,
                      const char *error, const char *output_tail,
                      struct lb_err *err);

int lb_store_mark(struct lb_store *s, const char *run_id, const char *name,
                  int64_t at, const char *source, struct lb_err *err);

int lb_store_check(struct lb_store *s, const char *run_id, int step_seq,
                   const char *name, int ok, const char *expected,
                   const char *observed, const char *table_name,
                   struct lb_err *err);

int lb_store_metric(struct lb_store *s, const char *run_id, int step_seq,
                    const char *name, double value, const char *unit,
                    struct lb_err *err);

/* severity: critical, major, minor */
int lb_store_gap(struct lb_store *s, const char *run_id, int step_seq,
                 const char *severity, const char *category, const char *title,
                 const char *detail, struct lb_err *err);

/* phase: baseline, restored (or any label a scenario gives). */
struct lb_table_stat {
    const char *phase;
    const char *table_name;
    int64_t rows;
    const char *fingerprint;
    const char *schema_fingerprint;
};
int lb_store_table_stat(struct lb_store *s, const char *run_id, int step_seq,
                        const struct lb_table_stat *ts, struct lb_err *err);

/* Rollbacks: registered (committed before the fault runs), then the result.
 * status: registered, running, passed, failed, not_run. A rollback caught
 * running by a dead writer is recorded failed (it may have half-run). */
int lb_store_rollback_register(struct lb_store *s, const char *run_id, int id,
                               const char *name, const char *declared_at,
                               struct lb_err *err);
int lb_store_rollback_status(struct lb_store *s, const char *run_id, int id,
                             const char *status, const char *error,
                             struct lb_err *err);

/*
 * Whether the process that began a run is still alive, from the writer
 * identity a run records (pid, host name, start time in clock ticks after
 * boot from /proc/<pid>/stat field 22, or -1 if unknown). A writer on
 * another host, or with no pid, counts as alive: we cannot tell. A pid that
 * is gone, a zombie, or now a different process (its start time differs) is
 * dead. lb_store_open uses this to mark runs of dead writers 'interrupted'.
 */
int lb_store_writer_alive(const char *host, long long pid, long long start_time);

/* ---- halt switch ----------------------------------------------------- */

int lb_store_halt_set(struct lb_store *s, int on, const char *reason,
                      struct lb_err *err);
/* *on = 1 if halted; *reason malloc'ed or NULL (caller frees). */
int lb_store_halt_get(struct lb_store *s, int *on, char **reason,
                      struct lb_err *err);

/* ---- reading --------------------------------------------------------- */

struct lb_step_view {
    int seq;
    char *name, *kind, *status, *error, *output_tail, *declared_at;
    int critical;
    int64_t timeout_ms, started_at, ended_at, duration_ms;  /* -1 if unset */
};
struct lb_mark_view { char *name, *source; int64_t at; };
struct lb_check_view {
    int step_seq, ok;
    char *name, *expected, *observed, *table_name;
};
struct lb_metric_view { int step_seq; char *name, *unit; double value; };
struct lb_gap_view {
    int step_seq;
    char *severity, *category, *title, *detail;
};
struct lb_table_stat_view {
    int step_seq;
    char *phase, *table_name, *fingerprint, *schema_fingerprint;
    int64_t rows;
};
struct lb_rollback_view { int id; char *name, *status, *error, *declared_at; };

/* One run, loaded whole. */
struct lb_run_view {
    char *id, *scenario_id, *scenario_title, *scenario_file, *scenario_sha256;
    char *environment, *kind, *operator_name, *host, *version, *status;
    char *rpo_method, *error, *plan_json;
    int dry_run, exit_code;
    int64_t started_at, ended_at, rto_ms, rpo_ms, rto_objective_ms,
        rpo_objective_ms;
    struct lb_step_view *steps; size_t nsteps;
    struct lb_mark_view *marks; size_t nmarks;
    struct lb_check_view *checks; size_t nchecks;
    struct lb_metric_view *metrics; size_t nmetrics;
    struct lb_gap_view *gaps; size_t ngaps;
    struct lb_table_stat_view *stats; size_t nstats;
    struct lb_rollback_view *rollbacks; size_t nrollbacks;
};

/* Load a run by id (or unique id prefix, or "latest"). LB_ENOTFOUND if none.
 * Caller frees with lb_run_view_free. */
int lb_store_load_run(struct lb_store *s, const char *id,
                      struct lb_run_view **out, struct lb_err *err);
void lb_run_view_free(struct lb_run_view *v);

/* Run headers (no children), newest first; scenario filter may be NULL. */
int lb_store_list_runs(struct lb_store *s, const char *scenario_id, int limit,
                       struct lb_run_view ***out, size_t *n, struct lb_err *err);
void lb_run_list_free(struct lb_run_view **v, size_t n);

/* ---- schedules (schema version 2) ---------------------------------------
 *
 * A sealed plan of unannounced drills (see schedule.h): its canonical text
 * and commitment, and one row per drill that `lifeboat due` claims, runs
 * and records. Writes are single BEGIN IMMEDIATE transactions like every
 * other; the claim is the lock that makes a drill run exactly once.
 */

struct lb_sched_plan_info {
    const char *id;            /* the first 16 hex digits of the commitment */
    const char *label;         /* "2027Q1", ... */
    const char *commitment;    /* 64 hex */
    const char *canonical;     /* the text the commitment hashes */
    const char *created_by;
    int64_t created_at;        /* wall ms */
    int64_t period_end;        /* wall ms after which the plan may be revealed */
    int count;
};
struct lb_sched_drill_info {
    int seq;
    int64_t due_at;            /* wall ms */
    const char *scenario_id;
    const char *scenario_file;
    const char *scenario_sha256;
};

/*
 * Store a plan and its drills (state "pending"). An active plan with the
 * same label is LB_EINVAL unless `replace`, which marks it "superseded"
 * and cancels its drills that have not run: a plan cannot be re-rolled
 * quietly, the old one stays in the store for anyone to see.
 */
int lb_store_sched_add(struct lb_store *s, const struct lb_sched_plan_info *plan,
                       const struct lb_sched_drill_info *drills, size_t n, int replace,
                       struct lb_err *err);

/* Drill states: pending, claimed (a `due` is running it), ran, missed,
 * failed (could not start), interrupted (its `due` died), cancelled
 * (plan superseded). */
struct lb_sched_drill_view {
    int seq;
    int64_t due_at;
    char *scenario_id, *scenario_file, *scenario_sha256, *state;
    char *claimed_host, *run_id;
    long long claimed_pid;     /* -1 if unset */
    int64_t claimed_at, finished_at;   /* -1 if unset */
    int exit_code;             /* -1 if unset */
};
struct lb_sched_view {
    char *id, *label, *commitment, *canonical, *status, *created_by, *revealed_by;
    int64_t created_at, period_end, superseded_at, revealed_at;   /* -1 if unset */
    int count;
    struct lb_sched_drill_view *drills; size_t ndrills;   /* none in a list */
};

/* Load a plan with its drills: `which` is a plan id, a unique id prefix, a
 * label (its newest plan, active first), or NULL / "latest" (the newest
 * active plan). LB_ENOTFOUND if none. Caller frees with lb_sched_view_free. */
int lb_store_sched_load(struct lb_store *s, const char *which, struct lb_sched_view **out,
                        struct lb_err *err);
void lb_sched_view_free(struct lb_sched_view *v);
/* Every plan (headers only), newest first. Caller frees. */
int lb_store_sched_list(struct lb_store *s, struct lb_sched_view ***out, size_t *n,
                        struct lb_err *err);
void lb_sched_list_free(struct lb_sched_view **v, size_t n);
/* Record that a plan was revealed (by whom, when); kept on the plan. */
int lb_store_sched_revealed(struct lb_store *s, const char *plan_id, const char *by,
                            int64_t at, struct lb_err *err);

enum lb_sched_claim_kind {
    LB_SCHED_NONE = 0,   /* nothing is due */
    LB_SCHED_RUN,        /* claimed: run it now, then lb_store_sched_finish */
    LB_SCHED_MISSED,     /* already too late: recorded missed, record the gap */
    LB_SCHED_BUSY,       /* another `due` is still running a drill */
};
struct lb_sched_claim {
    enum lb_sched_claim_kind kind;
    char plan_id[32];
    char label[64];
    int seq, count;
    int64_t due_at;
    char *scenario_id, *scenario_file, *scenario_sha256;   /* owned */
    long long busy_pid;        /* LB_SCHED_BUSY: who holds the claim */
    char busy_host[256];
    int reaped;                /* claims of dead `due` processes closed now */
};

/*
 * One BEGIN IMMEDIATE transaction: first close the claims whose process is
 * gone (state "interrupted", linked to the run that process began, if any);
 * if a live process still holds a claim, claim nothing (LB_SCHED_BUSY: one
 * drill at a time); else take the earliest pending drill of an active plan
 * whose instant is at or before `now`: when now > instant + grace it is
 * marked "missed" (LB_SCHED_MISSED), else "claimed" by this process
 * (LB_SCHED_RUN). Two processes calling this at once: one gets the drill,
 * the other LB_SCHED_BUSY (or LB_SCHED_NONE). Free with lb_sched_claim_free.
 */
int lb_store_sched_claim(struct lb_store *s, int64_t now, int64_t grace_ms,
                         struct lb_sched_claim *out, struct lb_err *err);
void lb_sched_claim_free(struct lb_sched_claim *c);
/* Close a claimed or missed drill: state ran|missed|failed, the run that
 * records it (may be NULL), its exit code (-1: none). LB_ENOTFOUND if the
 * drill is not claimed or missed. */
int lb_store_sched_finish(struct lb_store *s, const char *plan_id, int seq,
                          const char *state, const char *run_id, int exit_code,
                          int64_t finished_at, struct lb_err *err);
/* How many drills of active plans are pending with an instant <= now. */
int lb_store_sched_due_count(struct lb_store *s, int64_t now, int *n, struct lb_err *err);

/* ---- acknowledgements of manual steps (schema version 2) ------------------
 *
 * manual() in a scenario opens a wait for (run, step); `lifeboat ack` (or
 * the terminal, or later an HTTP POST) acknowledges it. At most one wait
 * per run is open. States: waiting, acknowledged, timeout, interrupted,
 * halted.
 */
struct lb_ack_view {
    int64_t id;
    char *run_id;
    int step_seq;              /* 0: outside a step (a rollback) */
    char *step_name;           /* NULL outside a step */
    char *prompt, *state, *acked_by, *acked_via, *acked_host;
    int64_t started_at, deadline_at, ended_at;   /* wall ms, -1 if unset */
};
void lb_ack_view_clear(struct lb_ack_view *v);

/* Open a wait. deadline_at: wall ms or -1. LB_EINVAL if the run already has
 * one open. */
int lb_store_ack_wait_begin(struct lb_store *s, const char *run_id, int step_seq,
                            const char *prompt, int64_t started_at, int64_t deadline_at,
                            int64_t *id, struct lb_err *err);
/* Read a wait (to poll it). Clears and fills *out. */
int lb_store_ack_wait_get(struct lb_store *s, int64_t id, struct lb_ack_view *out,
                          struct lb_err *err);
/* Close a wait that is still waiting: state acknowledged (on the terminal),
 * timeout, interrupted or halted. *changed = 0 when it was no longer
 * waiting (an ack came first). by/via/host may be NULL. */
int lb_store_ack_wait_end(struct lb_store *s, int64_t id, const char *state,
                          const char *by, const char *via, const char *host, int64_t at,
                          int *changed, struct lb_err *err);
/*
 * `lifeboat ack RUN [STEP]`: acknowledge the open wait of a run (id, unique
 * prefix or "latest"), at STEP when given (a seq number or a step name).
 * Refuses with LB_ENOTFOUND when nothing waits there, LB_ESTATE when the
 * run is not running or the wait is past its deadline. *out gets the wait.
 */
int lb_store_ack(struct lb_store *s, const char *run, const char *step, const char *by,
                 const char *via, const char *host, int64_t at, struct lb_ack_view *out,
                 struct lb_err *err);

#endif
