/*
 * backup: taking and restoring backups with the team's real tools
 * (pg_dump, pg_restore; later pg_basebackup, pgBackRest), and the
 * provenance file written next to every artifact: where it came from
 * (source system_identifier, database, snapshot time, server version,
 * per-table row counts). Used by the Lua bindings (backupctl, restore),
 * the sandbox and audit.
 *
 * Child tools run through proc (argv, never a shell) and never get a
 * password in argv: it is passed as PGPASSWORD in the child's environment.
 * Results carry raw output: callers redact before storing.
 */
#ifndef LIFEBOAT_BACKUP_H
#define LIFEBOAT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_pg;

/* ---- provenance ------------------------------------------------------ */

struct lb_prov_table { char *name; int64_t rows; };

struct lb_provenance {
    char *kind;                  /* "pg_dump", "basebackup", ... */
    char *source_system_identifier;
    char *source_cluster_name;
    char *database;
    char *server_version;        /* "15.18" */
    int64_t taken_at;            /* wall ms of the snapshot */
    int64_t finished_at;         /* wall ms when the artifact was complete */
    char *tool;                  /* "pg_dump (PostgreSQL) 15.18" */
    struct lb_prov_table *tables; size_t ntables;
};

/* "<artifact>.provenance.json". Caller frees. */
char *lb_provenance_path(const char *artifact);
int lb_provenance_write(const char *artifact, const struct lb_provenance *p,
                        struct lb_err *err);
/* LB_ENOTFOUND if there is no provenance file. Caller frees with
 * lb_provenance_free. */
int lb_provenance_read(const char *artifact, struct lb_provenance **out,
                       struct lb_err *err);
void lb_provenance_free(struct lb_provenance *p);
/* Fill provenance from a live connection: identity, version, database and
 * exact per-table row counts (user tables, lifeboat_* excluded). */
int lb_provenance_from_conn(struct lb_pg *c, int64_t deadline_ms,
                            struct lb_provenance *p, struct lb_err *err);

/* ---- running tools --------------------------------------------------- */

/* What a tool run left behind: for the step's record. */
struct lb_tool_run {
    char *cmdline;        /* argv as one line, no password (still redact) */
    int exit_status;      /* -1 if killed */
    int64_t duration_ms;
    char *output;         /* bounded head+tail */
    int timed_out, interrupted;
};
void lb_tool_run_free(struct lb_tool_run *t);

/* Directory holding the PostgreSQL client/server binaries
 * ($LIFEBOAT_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin, else
 * NULL meaning PATH). Caller frees. */
char *lb_pg_bindir(void);
/* Full path of a PostgreSQL tool (bindir/name or just name). Caller frees. */
char *lb_pg_tool(const char *name);

struct lb_dump_opts {
    const char *conninfo;        /* source */
    const char *path;            /* archive to write (custom format, -Fc) */
    int jobs;                    /* unused for -Fc; kept for -Fd later */
    int64_t deadline_ms;
};
/*
 * pg_dump -Fc to a temporary file, renamed into place when complete, then
 * the provenance file. The snapshot time is taken inside the dump's own
 * snapshot window (just before the tool starts). On failure the previous
 * archive is left as it was.
 */
int lb_backup_pg_dump(const struct lb_dump_opts *o, struct lb_tool_run *run,
                      struct lb_provenance **prov, struct lb_err *err);

struct lb_restore_opts {
    const char *conninfo;        /* target */
    const char *archive;
    const char *const *tables;   /* NULL-ended, or NULL for the whole archive */
    int jobs;                    /* pg_restore -j */
    int clean;                   /* --clean --if-exists */
    int64_t deadline_ms;
    struct lb_pg *conn;          /* open connection to the target, used to see which constraints exist */
};
/*
 * pg_restore into the target. With `tables`, the archive's table of
 * contents is filtered so the tables come back with their indexes,
 * constraints, triggers, defaults, sequences and sequence positions, and
 * the foreign keys of other tables that point at them (when missing on the
 * target), which a bare `pg_restore -t` would leave out.
 */
int lb_backup_pg_restore(const struct lb_restore_opts *o,
                         struct lb_tool_run *run, struct lb_err *err);

/*
 * Pure: choose the TOC lines to restore for `tables`.
 * `toc` is `pg_restore -l` output; `schema_sql` is `pg_restore -s -f -`
 * output (used to learn which table each index/constraint/trigger belongs
 * to and which tables each foreign key references); `existing` is a
 * NULL-ended list of constraint names that already exist on the target
 * (they are not re-created). Returns the filtered list for `pg_restore -L`.
 * Caller frees *out.
 */
int lb_toc_filter(const char *toc, const char *schema_sql,
                  const char *const *tables, const char *const *existing,
                  char **out, struct lb_err *err);

#endif
