/*
 * sandbox: a realistic staging system on this machine, built with the
 * PostgreSQL server tools: a primary ("us-east-1") on 127.0.0.1 with its
 * socket directory inside the sandbox, a seeded inventory database
 * (accounts, users, inventory, transactions with foreign keys), the
 * lifeboat_guard marker, a nightly pg_dump archive with its provenance, and
 * `environment.lua` describing it with pinned identities.
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
    int scale;                /* 1 ≈ 100k transactions; default 1 */
    int with_deprecated;      /* also a deprecated cluster the backup job points at */
    void (*progress)(const char *line, void *ud);  /* may be NULL */
    void *progress_ud;
};

/* Default sandbox directory. */
#define LB_SANDBOX_DEFAULT_DIR ".lifeboat/sandbox"

/*
 * Bring the sandbox up. Idempotent: a running sandbox is left as it is
 * (its environment.lua is rewritten only if missing); a stopped one is
 * started; a missing one is created, seeded and backed up.
 */
int lb_sandbox_up(const struct lb_sandbox_opts *o, struct lb_err *err);
/* Stop every server and remove the sandbox (directory and server dirs). */
int lb_sandbox_down(const struct lb_sandbox_opts *o, struct lb_err *err);

struct lb_sandbox_status {
    int exists;
    int running;
    int port;
    char server_dir[512];     /* where the data and socket directories are */
    char env_path[512];
};
int lb_sandbox_status(const struct lb_sandbox_opts *o,
                      struct lb_sandbox_status *st, struct lb_err *err);

/* Directory holding server data and sockets for sandbox dir `dir`:
 * `<dir>/pg` normally; when root, a directory the postgres user can enter
 * ($LIFEBOAT_SERVER_ROOT or /var/tmp/lifeboat-sandbox, plus a name derived
 * from the absolute sandbox path). Caller frees. */
char *lb_sandbox_server_dir(const char *dir);

#endif
