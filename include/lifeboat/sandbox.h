/*
 * sandbox: a realistic staging system on this machine, built with the
 * PostgreSQL server tools, in two "regions": a primary ("us-east-1") on
 * 127.0.0.1 with its socket directory inside the sandbox, archiving WAL to
 * a WAL archive, and a streaming replica ("us-west-2", its own port and
 * cluster_name) following it; a seeded inventory database (accounts,
 * users, inventory, transactions with foreign keys), the lifeboat_guard
 * marker, and every backup layer: a nightly pg_dump archive, a base backup
 * (pg_basebackup) with the WAL archive, and a pgBackRest stanza with a
 * "hot" and a "cold" repository, each with its provenance;
 * `environment.lua` declares all of them with pinned identities.
 * Optionally the incident's deprecated cluster that the nightly backup
 * still points at.
 *
 * When lifeboat runs as root, the server tools run as the `postgres` OS
 * user and the server's data and socket directories live where that user
 * can reach them (see lb_sandbox_server_dir). Used by the CLI (sandbox,
 * demo) and the tests.
 */
#ifndef LIFEBOAT_SANDBOX_H
#define LIFEBOAT_SANDBOX_H

#include <stdint.h>

#include "lifeboat/util.h"

struct lb_sandbox_opts {
    const char *dir;          /* default ".lifeboat/sandbox" */
    int scale;                /* 1 ≈ 100k transactions; default 1 (0), at most 10000 */
    int with_deprecated;      /* also a deprecated cluster the nightly backup job
                                 points at, as in the incident (see lb_sandbox_up) */
    void (*progress)(const char *line, void *ud);  /* may be NULL */
    void *progress_ud;
};

/* Default sandbox directory. */
#define LB_SANDBOX_DEFAULT_DIR ".lifeboat/sandbox"

/*
 * Bring the sandbox up. A missing sandbox, or one whose data directories
 * are both gone, is created, seeded and backed up. An existing one is
 * repaired back to its canonical topology, which is what tests call
 * between drills: fences are undone (D/bin/unfence), stopped servers are
 * started (a postmaster.pid or socket lock left by a crash is cleared), a
 * primary that is gone or became a standby is rebuilt from the replica
 * (promoted first if need be: same system identifier, marker and data),
 * a replica that does not stream from the primary (stopped for good,
 * promoted, on another timeline, gone) is rebuilt from the primary with
 * pg_basebackup, and a missing backup layer is taken again; progress says
 * what was rebuilt. Only when neither server holds the pinned system is
 * everything rebuilt from scratch. `D/sandbox.json` is written last: an
 * `up` that failed half-way (its servers stopped, their logs kept) is
 * rebuilt from scratch by the next one.
 *
 * Files: D/environment.lua (targets `staging` and `replica` with their
 * start/stop/fence/unfence argv; backups nightly_dump, base_backup,
 * pgbackrest_hot, pgbackrest_cold), D/sandbox.json (port, conninfo,
 * server_dir, data_dir, guard_token, system_identifier, created_at, scale,
 * and a "replica" object), D/backups/nightly.dump and D/backups/base with
 * their provenance, D/bin/fence and D/bin/unfence (`fence DATA_DIR` stops
 * the server at once, sets the data directory to mode 000 and writes
 * DATA.FENCED beside it, so `pg_ctl start` fails; `unfence DATA_DIR` undoes
 * that). In the server directory: server.log, data/, sock/, archive/ (the
 * WAL archive) and pgbackrest/ (pgbackrest.conf, repo1 "hot", repo2
 * "cold", and repoN.provenance.json of each repository's newest backup);
 * the replica's server.log, data/ and sock/ are in "<server dir>-replica".
 * Progress lines go to o->progress. environment.lua declares `scratch =
 * "staging"`: `audit --restore` restores into a throw-away database on
 * staging's cluster.
 *
 * With o->with_deprecated, the incident's setup: a third cluster,
 * "sandbox-deprecated" (its own initdb, so its own system_identifier; its
 * own port and server directory "<server dir>-deprecated"), with the same
 * schema, no rows and the guard marker, declared as target `deprecated`;
 * the nightly_dump layer (D/backups/nightly.dump) is taken from it while
 * the environment still says `source = "staging"`, and a good dump of
 * staging is declared as layer `staging_dump` (D/backups/staging.dump).
 * sandbox.json then has a "deprecated" object (port, conninfo, server_dir,
 * data_dir, cluster_name, system_identifier). Asking for it on an existing
 * sandbox built without it is LB_EINVAL (down first); `up` without the
 * flag keeps a deprecated cluster that exists.
 */
int lb_sandbox_up(const struct lb_sandbox_opts *o, struct lb_err *err);
/* Stop every server, the replica and the deprecated one too (pg_ctl -m
 * fast, else immediate) and remove the sandbox: every server directory
 * (with the WAL archive and the pgBackRest repositories), and in D what
 * `up` wrote; D itself goes if nothing else is left in it. Fenced
 * directories are removed too. Nothing to remove is not an error. */
int lb_sandbox_down(const struct lb_sandbox_opts *o, struct lb_err *err);

struct lb_sandbox_status {
    int exists;
    int running;
    int port;
    char server_dir[512];     /* where the data and socket directories are */
    char env_path[512];
    int deprecated;           /* built with --with-deprecated */
    int deprecated_running;
    int deprecated_port;
    /* Both regions. Roles: "primary", "standby", "stopped", "fenced",
     * "missing", "unreachable" ("" when the sandbox does not exist). */
    char primary_role[16];
    int primary_timeline;     /* -1 unknown */
    int replica;              /* the sandbox has a replica */
    int replica_port;
    int replica_running;
    char replica_role[16];
    int replica_timeline;
    int replica_streaming;    /* its WAL receiver streams */
    int64_t replica_lag_bytes;     /* received - replayed, -1 unknown */
    int64_t replica_replay_age_ms; /* since the last replayed commit, -1 unknown */
    int pgbackrest;           /* its pgBackRest configuration exists */
};
/* exists: D/sandbox.json is there; running: a connection succeeds or
 * `pg_ctl status` says so; port 0 if unknown. Each server's role, the
 * replica's streaming state and lag are read from the servers themselves. */
int lb_sandbox_status(const struct lb_sandbox_opts *o,
                      struct lb_sandbox_status *st, struct lb_err *err);
/* The status as the CLI prints it: a few lines of text, or one JSON object
 * (json != 0). Caller frees. */
char *lb_sandbox_status_format(const struct lb_sandbox_status *st, int json);

/* Directory holding server data and sockets for sandbox dir `dir`:
 * `<dir>/pg` normally; when root, a directory the postgres user can enter
 * ($LIFEBOAT_SERVER_ROOT or /var/tmp/lifeboat-sandbox, plus a name derived
 * from the absolute sandbox path: "<basename of its parent, leading dots
 * dropped>-<first 8 hex of its SHA-256>"). $LIFEBOAT_SERVER_ROOT is
 * honoured when not root too (a deep checkout can make `<dir>/pg/sock`
 * too long for a Unix socket path). Caller frees. */
char *lb_sandbox_server_dir(const char *dir);

#endif
