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
#define LB_STORE_VERSION 1

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

#endif
