/*
 * sandbox: a realistic staging system on this machine, built with the
 * PostgreSQL server tools: a primary ("us-east-1") on 127.0.0.1 with its
 * socket directory inside the sandbox, a seeded inventory database
 * (accounts, users, inventory, transactions with foreign keys), the
 * lifeboat_guard marker, a nightly pg_dump archive with its provenance, and
 * `environment.lua` describing it with pinned identities. Optionally the
 * incident's deprecated cluster that the nightly backup still points at.
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
 * Bring the sandbox up. Idempotent: a running sandbox is left as it is
 * (its environment.lua is rewritten only if missing); a stopped one is
 * started (a postmaster.pid or socket lock left by a crash is cleared); a
 * missing one, or one whose data directory is gone, is created, seeded and
 * backed up. `D/sandbox.json` is written last: an `up` that failed half-way
 * (its server is stopped, its server.log kept) is rebuilt from scratch by
 * the next one. Files: D/environment.lua, D/sandbox.json (port, conninfo,
 * server_dir, data_dir, guard_token, system_identifier, created_at, scale),
 * D/backups/nightly.dump and its provenance; server.log, data/, sock/ and
 * archive/ (WAL archive) in the server directory. Progress lines go to
 * o->progress. environment.lua declares `scratch = "staging"`: `audit
 * --restore` restores into a throw-away database on staging's cluster.
 *
 * With o->with_deprecated, the incident's setup: a second cluster,
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
/* Stop every server, the deprecated one too (pg_ctl -m fast, else
 * immediate) and remove the sandbox: both server directories, and in D what
 * `up` wrote; D itself goes if nothing else is left in it. Nothing to
 * remove is not an error. */
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
};
/* exists: D/sandbox.json is there; running: a connection succeeds or
 * `pg_ctl status` says so; port 0 if unknown. */
int lb_sandbox_status(const struct lb_sandbox_opts *o,
                      struct lb_sandbox_status *st, struct lb_err *err);

/* Directory holding server data and sockets for sandbox dir `dir`:
 * `<dir>/pg` normally; when root, a directory the postgres user can enter
 * ($LIFEBOAT_SERVER_ROOT or /var/tmp/lifeboat-sandbox, plus a name derived
 * from the absolute sandbox path: "<basename of its parent, leading dots
 * dropped>-<first 8 hex of its SHA-256>"). $LIFEBOAT_SERVER_ROOT is
 * honoured when not root too (a deep checkout can make `<dir>/pg/sock`
 * too long for a Unix socket path). Caller frees. */
char *lb_sandbox_server_dir(const char *dir);

#endif
