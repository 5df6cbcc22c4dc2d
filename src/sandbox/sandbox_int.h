/*
 * Private to src/sandbox: one sandbox's paths and recorded state, and the
 * helpers the module's files share (server control, the seed script, the
 * state and environment files).
 */
#ifndef LIFEBOAT_SANDBOX_INT_H
#define LIFEBOAT_SANDBOX_INT_H

#include <stdint.h>

#include "lifeboat/sandbox.h"
#include "lifeboat/util.h"

#define SB_CLUSTER_NAME "sandbox-us-east-1"
#define SB_DEPRECATED_CLUSTER_NAME "sandbox-deprecated"
#define SB_ENV_NAME "sandbox"
#define SB_DB "inventory"
#define SB_USER "lifeboat"
#define SB_OS_USER "postgres"
#define SB_REPLICA_CLUSTER_NAME "sandbox-us-west-2"
#define SB_REPLICA_SLOT "sandbox_us_west_2"
#define SB_STANZA "inventory"
/* Ports are looked for from SB_FIRST_PORT plus a per-sandbox offset. */
#define SB_FIRST_PORT 54321

/*
 * A sandbox directory and the server that belongs to it. The deprecated
 * cluster (`up --with-deprecated`) is a second struct lb_sb hanging off the
 * first: its own server directory, port and system identifier; the fields
 * that describe D (state, environment, backups) are NULL in it.
 */
struct lb_sb {
    const struct lb_sandbox_opts *o;
    char *dir;            /* absolute D */
    char *server_dir;     /* see lb_sandbox_server_dir */
    char *data_dir, *sock_dir, *archive_dir, *log_path;
    char *state_path;     /* D/sandbox.json */
    char *env_path;       /* D/environment.lua */
    char *backups_dir, *dump_path;
    char *staging_dump_path;  /* D/backups/staging.dump: the good dump, with the deprecated cluster */
    char *pg_ctl, *initdb;
    const char *run_as;   /* "postgres" when root, else NULL */
    const char *cluster_name;

    /* The deprecated cluster: paths always set (so that down and a rebuild
     * find its leftovers); with_deprecated says whether this sandbox has it. */
    struct lb_sb *dep;
    int with_deprecated;

    /* The streaming replica ("us-west-2"): its own server directory
     * "<server_dir>-replica" (data, sock, server.log), its port in
     * sandbox.json; it archives into the primary's WAL archive once
     * promoted. */
    struct lb_sb *rep;

    /* Backup layers beyond the nightly dump (NULL in dep and rep). */
    char *base_path;      /* D/backups/base: pg_basebackup, plain format */
    char *pgbr_dir;       /* <server_dir>/pgbackrest: config, repo1, repo2, logs */
    char *pgbr_conf;      /* <pgbr_dir>/pgbackrest.conf */
    char *bin_dir;        /* D/bin: the fence and unfence commands */
    char *fence_path, *unfence_path;

    /* Where this sandbox looks for free ports first: SB_FIRST_PORT plus an
     * offset from its server directory's name, so that sandboxes of other
     * checkouts rarely reach for the same ports (a server stopped by a
     * drill leaves its port free for anyone). */
    int port_base;
    int port_moved;       /* up found its port taken by another server and moved it */

    /* Recorded in sandbox.json. */
    int port;
    int scale;
    char *guard_token;
    char *system_identifier;
    int64_t created_at;
};

/* Paths for opts->dir (default LB_SANDBOX_DEFAULT_DIR), and those of the
 * deprecated cluster in sb->dep: "<server_dir>-deprecated". */
int lb_sb_init(struct lb_sb *sb, const struct lb_sandbox_opts *o, struct lb_err *err);
void lb_sb_free(struct lb_sb *sb);
/* Report a progress line through opts->progress (printf-style). */
void lb_sb_progress(const struct lb_sb *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "host=127.0.0.1 port=P dbname=<db> user=lifeboat". Caller frees. */
char *lb_sb_conninfo(const struct lb_sb *sb, const char *db);

/* ---- server (server.c) ------------------------------------------------- */

/* Create the server directory (and sock/, archive/), owned by the postgres
 * OS user when root. */
int lb_sb_make_server_dir(struct lb_sb *sb, struct lb_err *err);
/* 1 if nothing is bound to 127.0.0.1:port. */
int lb_sb_port_free(int port);
/* A TCP port on 127.0.0.1 nothing listens on: from `from` up, else from
 * SB_FIRST_PORT up. */
int lb_sb_free_port(int *port, int from, struct lb_err *err);
int lb_sb_initdb(struct lb_sb *sb, struct lb_err *err);
/* Append the sandbox's settings (sb->port, sockets, archiving) to
 * postgresql.conf. */
int lb_sb_configure(struct lb_sb *sb, struct lb_err *err);
/* pg_ctl start -w; a postmaster.pid left by a crash is cleared first. */
int lb_sb_start(struct lb_sb *sb, struct lb_err *err);
/* pg_ctl stop with mode "fast" or "immediate". */
int lb_sb_stop(struct lb_sb *sb, const char *mode, struct lb_err *err);
/* 1 if a connection to the server succeeds within timeout_ms. */
int lb_sb_answers(const struct lb_sb *sb, int64_t timeout_ms);
/* Wait for a server that runs but does not answer yet (starting up, or
 * dying after a crash): 1 once it answers, 0 as soon as it turns out not
 * to run, -1 at the timeout. */
int lb_sb_wait_ready(const struct lb_sb *sb, int64_t timeout_ms);
/* 1 if a live postmaster owns the data directory and `pg_ctl status`
 * agrees. */
int lb_sb_pg_ctl_running(const struct lb_sb *sb);
/* 1 if the data directory holds a cluster (PG_VERSION). */
int lb_sb_has_cluster(const struct lb_sb *sb);
/* The archive_command of every sandbox server: copy into the WAL archive
 * (an identical copy already there is fine) and, once pgBackRest is set
 * up (with_pgbackrest), push to its stanza too. Caller frees. */
char *lb_sb_archive_command(const struct lb_sb *sb, int with_pgbackrest);
/* Append lines to the server's postgresql.conf. */
int lb_sb_conf_append(const struct lb_sb *sb, const char *text, struct lb_err *err);

/* ---- layers (layers.c) ------------------------------------------------- */

/* 1 when the server's data directory is fenced (marker or mode 000). */
int lb_sb_fenced(const struct lb_sb *s);
/* Undo a fence (mode 0700, marker removed); nothing to undo is fine. */
int lb_sb_unfence(const struct lb_sb *s, struct lb_err *err);
/* D/bin/fence and D/bin/unfence, the commands environment.lua declares. */
int lb_sb_write_fence_commands(const struct lb_sb *sb, struct lb_err *err);
/* pgBackRest: config, stanza-create, archive_command pushing to it, check,
 * and a full backup into each repo that has none (or all with force). */
int lb_sb_pgbackrest(struct lb_sb *sb, int force, struct lb_err *err);
/* The base backup in D/backups/base with its provenance. */
int lb_sb_basebackup(struct lb_sb *sb, struct lb_err *err);
/* Clone the replica from the primary (pg_basebackup -R, slot), start it
 * and wait until it streams. A previous replica is removed first. */
int lb_sb_build_replica(struct lb_sb *sb, struct lb_err *err);
/*
 * An existing sandbox: put the canonical topology back after a drill
 * changed it (fences, stopped servers, a promoted replica, a primary that
 * is gone or a standby, a replica that does not stream from the primary),
 * and take any backup layer that is missing. *changed is set when
 * something was rebuilt. LB_ESTATE when the primary cannot be recovered
 * from either server: the caller rebuilds from scratch.
 */
int lb_sb_repair(struct lb_sb *sb, int *changed, struct lb_err *err);

/* ---- seed (seed.c) ----------------------------------------------------- */

/* The deterministic seed script for `scale`. Caller frees. */
char *lb_sb_seed_sql(int scale);
/* The same schema (tables, trigger, indexes) with no rows: the deprecated
 * cluster nothing writes to any more. Caller frees. */
char *lb_sb_schema_sql(void);

/* ---- files (files.c) --------------------------------------------------- */

/* sandbox.json: read fills port, scale, token, identifier, created_at,
 * and with_deprecated with the deprecated cluster's port and identifier
 * (LB_ENOTFOUND if absent). */
int lb_sb_state_read(struct lb_sb *sb, struct lb_err *err);
int lb_sb_state_write(const struct lb_sb *sb, struct lb_err *err);
/* environment.lua from the recorded state. With the deprecated cluster:
 * target `deprecated`, nightly_dump taken from it (still claiming staging as
 * its source) and staging_dump, the good one. */
int lb_sb_env_write(const struct lb_sb *sb, struct lb_err *err);

#endif
