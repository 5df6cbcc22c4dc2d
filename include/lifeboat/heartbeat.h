/*
 * heartbeat: measured RPO. A writer thread with its own libpq connection
 * commits one row per interval into public.lifeboat_heartbeat on a target
 * (autocommit, `at` = the server's clock_timestamp()). After a restore the
 * newest row that survived from before the incident says how much committed
 * work was lost: RPO = incident − newest surviving beat.
 *
 * The writer knows nothing of Lua, the store or the run: it only borrows the
 * environment to run the safety guard on every (re)connect, and keeps, in
 * memory, the server time of every beat it committed. It survives the target
 * going away (a fault may stop the server): failed beats are counted and it
 * reconnects quietly on the next interval. It never creates the table after
 * start (that would race a restore re-creating it). Used by the Lua bindings
 * (target:heartbeat_start/stop/rpo) and the sandbox (lb_heartbeat_seed).
 *
 * After a failover the route the heartbeat followed names another target:
 * lb_heartbeat_retarget points the writer at it (it proves the new target
 * on its next connect). The writer keeps its own copy of the target, so the
 * environment's target array may grow meanwhile.
 *
 * When a beat counts as evidence (lb_heartbeat_judge):
 *   - the writer must have committed a beat before the incident;
 *   - rows with at < incident must still exist (none, or no table: no
 *     heartbeat survived the restore, a major gap);
 *   - the heartbeat table must have gone through the recovery: some beats
 *     committed before the incident are gone, or the table is a new relation
 *     (re-created by a restore), or the server was restarted or replaced
 *     since heartbeat_start (crash recovery, PITR, failover). Otherwise the
 *     table was untouched by the restore (a table-level restore of other
 *     tables): its newest beat says nothing about the restored data, and the
 *     restored backup's provenance snapshot time is the evidence instead.
 *     Limitation: a drill that both restarts the server and restores only
 *     some tables must not rely on the heartbeat.
 */
#ifndef LIFEBOAT_HEARTBEAT_H
#define LIFEBOAT_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_pg;
struct lb_env;
struct lb_env_target;

/* Name of the table, as created: public.lifeboat_heartbeat(id bigserial,
 * at timestamptz default clock_timestamp(), run_id text). No primary key
 * and no index, so a restore that re-creates it never conflicts with beats
 * the writer inserts meanwhile. */
#define LB_HEARTBEAT_TABLE "public.lifeboat_heartbeat"
#define LB_HEARTBEAT_DEFAULT_INTERVAL_MS 1000

/* Create the table if missing (on `c`, the caller's guarded connection). */
int lb_heartbeat_create_table(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err);

/* Create the table if missing and commit one beat with `run_id` (may be
 * NULL). For the sandbox, just before its nightly dump, so a whole-database
 * restore of that dump brings back a beat as old as the dump. *at_us (may be
 * NULL) gets the beat's server time in microseconds since the epoch. */
int lb_heartbeat_seed(struct lb_pg *c, const char *run_id, int64_t deadline_ms,
                      int64_t *at_us, struct lb_err *err);

struct lb_heartbeat;

struct lb_heartbeat_opts {
    struct lb_pg *conn;                 /* borrowed: guarded connection used to
                                           create the table and read where it lives */
    const struct lb_env *env;           /* borrowed until lb_heartbeat_free: the
                                           writer runs the guard on every connect */
    const struct lb_env_target *target; /* copied (its identity pins and conninfo) */
    const char *conninfo;               /* copied; NULL: target->conninfo */
    const char *run_id;                 /* copied; written in each row */
    int64_t interval_ms;                /* <= 0: LB_HEARTBEAT_DEFAULT_INTERVAL_MS */
    int64_t deadline_ms;                /* monotonic, for the setup and first beat */
};

/*
 * Create the table if missing (on o->conn), remember its relation and the
 * server's start time, start the writer thread and wait for its first
 * attempt: if that fails (cannot connect, guard refused, insert failed) the
 * writer is stopped and the error returned. Caller frees with
 * lb_heartbeat_free.
 */
int lb_heartbeat_start(const struct lb_heartbeat_opts *o, struct lb_heartbeat **out,
                       struct lb_err *err);
/* Point the writer at another target (a failover re-pointed the route it
 * followed): copies the target's pins and conninfo (conninfo NULL:
 * target->conninfo). The writer drops its connection and connects, proving
 * the new target, on its next beat. */
void lb_heartbeat_retarget(struct lb_heartbeat *hb, const struct lb_env_target *target,
                           const char *conninfo);
/* Name of the target the writer beats on (or will, after a retarget);
 * copied into out. */
void lb_heartbeat_target_name(struct lb_heartbeat *hb, char *out, size_t outsz);
/* Stop the writer and wait for it (at most one beat's deadline). What it
 * recorded stays readable. Idempotent; NULL is a no-op. */
void lb_heartbeat_stop(struct lb_heartbeat *hb);
/* Stop, then free. NULL is a no-op. */
void lb_heartbeat_free(struct lb_heartbeat *hb);

struct lb_heartbeat_stats {
    int running;
    int64_t interval_ms;
    int64_t beats;              /* committed */
    int64_t failures;           /* attempts that committed nothing */
    int64_t connects;           /* successful connections (first included) */
    int64_t refusals;           /* connections the guard refused */
    int64_t first_beat_us;      /* server time, -1 if none */
    int64_t last_beat_us;
    int64_t clock_offset_ms;    /* server clock − local clock, from the beat
                                   with the shortest round trip; 0 if none */
    char last_error[256];       /* of the last failure, "" if none */
};
void lb_heartbeat_stats(struct lb_heartbeat *hb, struct lb_heartbeat_stats *out);

/* Server time (µs) of the last beat whose commit was acknowledged at or
 * before local wall time `before_ms` (a beat acknowledged in the very
 * millisecond a fault step starts was committed before it), and the number
 * of such beats; -1 and 0 if none. */
int64_t lb_heartbeat_last_before(struct lb_heartbeat *hb, int64_t before_ms, int64_t *count);
/* How many beats acknowledged at or before `before_ms` have a server time
 * later than `after_us` (the beats a restore lost). */
int64_t lb_heartbeat_count_between(struct lb_heartbeat *hb, int64_t after_us,
                                   int64_t before_ms);

/* ---- RPO ------------------------------------------------------------- */

enum lb_heartbeat_verdict {
    LB_HB_MEASURED = 0,     /* newest surviving beat is the RPO evidence */
    LB_HB_UNTOUCHED,        /* the table was not part of the restore */
    LB_HB_NONE_SURVIVED,    /* no table, or no beat from before the incident */
    LB_HB_NO_BEAT_BEFORE,   /* the writer committed nothing before the incident */
};
const char *lb_heartbeat_verdict_name(enum lb_heartbeat_verdict v);

/* Where the table lived and what it held (at start, or after the restore). */
struct lb_heartbeat_seen {
    int table_exists;
    int64_t table_oid;          /* -1 if unknown */
    int64_t server_started_us;  /* pg_postmaster_start_time(), -1 if unknown */
    int64_t newest_before_us;   /* newest at < the incident, -1 if none */
    int64_t rows_before;        /* rows with at < the incident */
};

/*
 * Pure: the rule in the comment at the top. `origin` is what
 * heartbeat_start saw (table_oid, server_started_us), `now` what the
 * target holds after the restore, `last_committed_us` the writer's last
 * acknowledged beat before the incident (-1 if none).
 */
enum lb_heartbeat_verdict lb_heartbeat_judge(const struct lb_heartbeat_seen *origin,
                                             const struct lb_heartbeat_seen *now,
                                             int64_t last_committed_us);

struct lb_heartbeat_rpo {
    enum lb_heartbeat_verdict verdict;
    int64_t incident_ms;        /* as passed */
    int64_t newest_ms;          /* newest surviving beat, local clock; -1 */
    int64_t rpo_ms;             /* incident − newest_ms (>= 0) when MEASURED, else -1 */
    int64_t beats_lost;         /* acknowledged before the incident, now gone */
    int64_t last_committed_us;  /* writer's last beat before the incident, -1 */
    struct lb_heartbeat_seen origin, now;
    char reason[512];           /* one sentence for logs and gaps */
};

/*
 * Read the target through `c` (the handle's connection, which follows
 * failover routes) and judge. Rows count as before the incident when their
 * `at` (server clock) is before the incident shifted by the measured clock
 * offset, or not later than the writer's last beat acknowledged before it;
 * the newest one is shifted back to the local clock. Returns 0 with out filled (any
 * verdict), or a negative rc if the target could not be read.
 */
int lb_heartbeat_measure(struct lb_heartbeat *hb, struct lb_pg *c, int64_t incident_ms,
                         int64_t deadline_ms, struct lb_heartbeat_rpo *out,
                         struct lb_err *err);

/* ---- write load --------------------------------------------------------
 *
 * A background writer for failover drills, pgbench-style but in a table of
 * its own, so that no baseline sees it: a thread with its own connection
 * (proven by the guard on every connect, like the heartbeat's) commits one
 * row per transaction into public.lifeboat_load at a steady rate, keeps
 * going through faults (failed transactions are counted, it reconnects by
 * itself) and follows a retarget. It remembers the id and acknowledgement
 * time of every commit, so that after a failover the transactions lost
 * (acknowledged before the incident, missing on the new primary) can be
 * counted.
 */

#define LB_LOAD_TABLE "public.lifeboat_load"
#define LB_LOAD_MAX_TPS 5000.0

struct lb_load;

struct lb_load_opts {
    struct lb_pg *conn;                 /* borrowed: guarded connection used to
                                           create the table */
    const struct lb_env *env;           /* borrowed until lb_load_free */
    const struct lb_env_target *target; /* copied */
    const char *conninfo;               /* copied; NULL: target->conninfo */
    const char *run_id;                 /* copied; written in each row */
    double tps;                         /* transactions per second, (0, LB_LOAD_MAX_TPS] */
    int64_t deadline_ms;                /* monotonic, for the setup and first commit */
};

/* Create the table if missing, start the writer and wait for its first
 * transaction (an error if it failed). Caller frees with lb_load_free. */
int lb_load_start(const struct lb_load_opts *o, struct lb_load **out, struct lb_err *err);
/* As lb_heartbeat_retarget. */
void lb_load_retarget(struct lb_load *l, const struct lb_env_target *target,
                      const char *conninfo);
void lb_load_target_name(struct lb_load *l, char *out, size_t outsz);
/* Stop the writer and wait for it. Idempotent; NULL is a no-op. */
void lb_load_stop(struct lb_load *l);
/* Stop, then free. NULL is a no-op. */
void lb_load_free(struct lb_load *l);

struct lb_load_stats {
    int running;
    double tps;                 /* asked */
    int64_t committed, failed, connects, refusals;
    int64_t started_ms, stopped_ms;   /* local wall clock; stopped_ms -1 while running */
    char last_error[256];
};
void lb_load_stats(struct lb_load *l, struct lb_load_stats *out);
/* Commits acknowledged at or before local wall time `before_ms`, and the
 * highest row id among them (-1 if none). */
int64_t lb_load_committed_before(struct lb_load *l, int64_t before_ms, int64_t *max_id);

#endif
