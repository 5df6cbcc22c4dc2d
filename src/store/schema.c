/*
 * The schema, as ordered migrations. Migration N takes a file from
 * user_version N-1 to N; each runs once, inside BEGIN IMMEDIATE, so two
 * lifeboat processes opening a fresh store at the same time cannot both
 * apply it. Never edit a released migration: append a new one and raise
 * LB_STORE_VERSION.
 */
#include <stdio.h>

#include "store_int.h"

struct migration {
    int version;
    const char *sql;
};

/* Version 1: the initial schema. Times are UTC milliseconds since the
 * epoch; NULL means "unset" (read back as -1). */
static const char schema_v1[] =
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  scenario_id TEXT NOT NULL,"
    "  scenario_title TEXT,"
    "  scenario_file TEXT,"
    "  scenario_sha256 TEXT,"
    "  environment TEXT,"
    "  kind TEXT NOT NULL DEFAULT 'drill',"
    "  operator_name TEXT,"
    "  host TEXT,"
    "  version TEXT,"
    "  dry_run INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'running',"
    "  exit_code INTEGER,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  rto_objective_ms INTEGER,"
    "  rpo_objective_ms INTEGER,"
    "  rto_ms INTEGER,"
    "  rpo_ms INTEGER,"
    "  rpo_method TEXT,"
    "  error TEXT,"
    "  plan_json TEXT,"
    /* Who is writing the run, so a later open can tell a dead writer. */
    "  writer_pid INTEGER,"
    "  writer_host TEXT,"
    "  writer_start_time INTEGER"
    ");"
    "CREATE INDEX runs_started ON runs(started_at);"
    "CREATE INDEX runs_scenario ON runs(scenario_id, started_at);"
    "CREATE INDEX runs_status ON runs(status);"
    "CREATE TABLE steps ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  critical INTEGER NOT NULL DEFAULT 0,"
    "  timeout_ms INTEGER,"
    "  declared_at TEXT,"
    "  status TEXT NOT NULL DEFAULT 'pending',"
    "  started_at INTEGER,"
    "  ended_at INTEGER,"
    "  duration_ms INTEGER,"
    "  error TEXT,"
    "  output_tail TEXT,"
    "  PRIMARY KEY (run_id, seq)"
    ");"
    "CREATE TABLE marks ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  source TEXT"
    ");"
    "CREATE INDEX marks_run ON marks(run_id, at);"
    "CREATE TABLE checks ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_seq INTEGER,"
    "  name TEXT NOT NULL,"
    "  ok INTEGER NOT NULL,"
    "  expected TEXT,"
    "  observed TEXT,"
    "  table_name TEXT"
    ");"
    "CREATE INDEX checks_run ON checks(run_id);"
    "CREATE TABLE metrics ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_seq INTEGER,"
    "  name TEXT NOT NULL,"
    "  value REAL NOT NULL,"
    "  unit TEXT"
    ");"
    "CREATE INDEX metrics_run ON metrics(run_id);"
    "CREATE TABLE gaps ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_seq INTEGER,"
    "  severity TEXT NOT NULL"
    "    CHECK (severity IN ('critical', 'major', 'minor')),"
    "  category TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  detail TEXT"
    ");"
    "CREATE INDEX gaps_run ON gaps(run_id);"
    "CREATE TABLE table_stats ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_seq INTEGER,"
    "  phase TEXT NOT NULL,"
    "  table_name TEXT NOT NULL,"
    "  rows INTEGER,"
    "  fingerprint TEXT,"
    "  schema_fingerprint TEXT"
    ");"
    "CREATE INDEX table_stats_run ON table_stats(run_id);"
    "CREATE TABLE rollbacks ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  declared_at TEXT,"
    "  status TEXT NOT NULL DEFAULT 'registered',"
    "  error TEXT,"
    "  PRIMARY KEY (run_id, id)"
    ");"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT,"
    "  updated_at INTEGER"
    ");";

/* Version 2: sealed schedules of unannounced drills, and the waits of
 * manual steps for an acknowledgement. */
static const char schema_v2[] =
    "CREATE TABLE schedule_plans ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  label TEXT NOT NULL,"
    "  commitment TEXT NOT NULL UNIQUE,"
    "  canonical TEXT NOT NULL,"
    "  drill_count INTEGER NOT NULL,"
    "  period_end INTEGER NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (status IN ('active', 'superseded')),"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT,"
    "  superseded_at INTEGER,"
    "  revealed_at INTEGER,"
    "  revealed_by TEXT"
    ");"
    "CREATE INDEX schedule_plans_label ON schedule_plans(label, created_at);"
    "CREATE TABLE schedule_drills ("
    "  plan_id TEXT NOT NULL REFERENCES schedule_plans(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  due_at INTEGER NOT NULL,"
    "  scenario_id TEXT NOT NULL,"
    "  scenario_file TEXT,"
    "  scenario_sha256 TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending', 'claimed', 'ran', 'missed', 'failed',"
    "                     'interrupted', 'cancelled')),"
    /* Who claimed it, so a later `due` can tell a dead claimer. */
    "  claimed_at INTEGER,"
    "  claimed_pid INTEGER,"
    "  claimed_host TEXT,"
    "  claimed_start_time INTEGER,"
    "  run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,"
    "  exit_code INTEGER,"
    "  finished_at INTEGER,"
    "  PRIMARY KEY (plan_id, seq)"
    ");"
    "CREATE INDEX schedule_drills_due ON schedule_drills(state, due_at);"
    "CREATE TABLE acks ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  step_seq INTEGER NOT NULL,"
    "  prompt TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'waiting'"
    "    CHECK (state IN ('waiting', 'acknowledged', 'timeout', 'interrupted',"
    "                     'halted')),"
    "  started_at INTEGER NOT NULL,"
    "  deadline_at INTEGER,"
    "  ended_at INTEGER,"
    "  acked_by TEXT,"
    "  acked_via TEXT,"
    "  acked_host TEXT"
    ");"
    "CREATE INDEX acks_run ON acks(run_id, step_seq);"
    /* One open wait per run: `lifeboat ack RUN` is never ambiguous. */
    "CREATE UNIQUE INDEX acks_one_waiting ON acks(run_id) WHERE state = 'waiting';";

static const struct migration migrations[] = {
    {1, schema_v1},
    {2, schema_v2},
};

_Static_assert(sizeof migrations / sizeof migrations[0] == LB_STORE_VERSION,
               "one migration per schema version, the last one is LB_STORE_VERSION");

/* Read PRAGMA user_version. */
static int read_version(struct lb_store *s, int *out, struct lb_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = lb_sq_prepare(s, "PRAGMA user_version", &st, err, "read schema version");
    if (rc != 0)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = lb_sq_err(s, err, "read schema version");
        goto out;
    }
    *out = sqlite3_column_int(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

/* Apply one migration unless another process got there first. */
static int apply(struct lb_store *s, const struct migration *m, struct lb_err *err)
{
    char pragma[64], what[64];
    int have = 0;
    int rc = lb_sq_begin(s, err);
    if (rc != 0)
        return rc;
    rc = read_version(s, &have, err);
    if (rc != 0)
        goto out;
    if (have < m->version) {
        if (sqlite3_exec(s->db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(what, sizeof what, "migrate to schema version %d", m->version);
            rc = lb_sq_err(s, err, what);
            goto out;
        }
        /* PRAGMA takes no parameters; the value is our own constant. */
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
        if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            rc = lb_sq_err(s, err, "set schema version");
            goto out;
        }
    }
    rc = lb_sq_commit(s, err);
out:
    if (rc != 0)
        lb_sq_rollback(s);
    return rc;
}

int lb_store_migrate(struct lb_store *s, struct lb_err *err)
{
    int have = 0;
    int rc = read_version(s, &have, err);
    if (rc != 0)
        return rc;
    if (have > LB_STORE_VERSION)
        return lb_err_set(err, LB_EINVAL,
                          "store: %s has schema version %d, newer than this "
                          "lifeboat knows (%d): upgrade lifeboat",
                          s->path, have, LB_STORE_VERSION);
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        if (migrations[i].version <= have)
            continue;
        rc = apply(s, &migrations[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
