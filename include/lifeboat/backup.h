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
    /* Physical backups (basebackup, pgbackrest); NULL / 0 otherwise. */
    char *backup_label;          /* backup_label LABEL, or the pgBackRest set label */
    char *start_lsn, *stop_lsn;  /* "0/2000028" */
    char *start_wal, *stop_wal;  /* WAL segment file names */
    int timeline;                /* 0: unknown */
    int repo;                    /* pgBackRest repository, 0: none */
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
 * pg_dump -Fc to a temporary file ("<path>.tmp"), renamed into place when
 * complete, then the provenance file. lifeboat opens a REPEATABLE READ
 * transaction on the source, exports its snapshot and runs pg_dump
 * --snapshot with it, so the provenance row counts are exactly what the
 * archive holds and taken_at (read just before the export) is never later
 * than the snapshot; a server that cannot export one gets a plain dump with
 * taken_at read just before pg_dump starts. On failure the previous
 * archive is left as it was. `run` and `prov` may be NULL; *prov: caller
 * frees with lb_provenance_free.
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
    struct lb_pg *conn;          /* open connection to the target, used to see which constraints
                                    exist; NULL: one is opened from conninfo when needed */
};
/*
 * pg_restore into the target. With `tables`, the archive's table of
 * contents is filtered so the tables come back with their indexes,
 * constraints, triggers, defaults, sequences and sequence positions, and
 * the foreign keys of other tables that point at them (when missing on the
 * target), which a bare `pg_restore -t` would leave out. With `clean`
 * those foreign keys are always listed: pg_restore drops them before the
 * tables they point at (or the drop would fail) and re-creates them.
 * Scratch files live in a private directory under $TMPDIR (or /tmp) and
 * are removed. `run` gets the final pg_restore's command line, status and
 * output, and the whole operation's duration. LB_ENOTFOUND if the archive
 * or a table is missing, LB_EPROC if a tool fails (pg_restore exits 1 when
 * it ignored errors: that is a failure here).
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
 *
 * Tables are named as in SQL: "inventory", "public.inventory",
 * "shop.\"Order Lines\"" (bare names fold to lower case; a name that is
 * not SQL syntax is taken literally). A bare name found in several schemas
 * means public's, else LB_EINVAL. A table not in the archive: LB_ENOTFOUND
 * "table 'x' is not in the archive". Kept for each table, in TOC order:
 * TABLE, TABLE DATA, DEFAULT, its sequences (identity or OWNED BY) with
 * SEQUENCE OWNED BY and SEQUENCE SET, INDEX, CONSTRAINT, CHECK CONSTRAINT,
 * its own FK CONSTRAINTs (even when `existing` names them), TRIGGER, RULE,
 * POLICY, ROW SECURITY, STATISTICS, and COMMENT/ACL/SECURITY LABEL on any
 * of these; plus FK CONSTRAINTs of other tables that reference it, unless
 * their name is in `existing`. Functions (trigger functions too) are not
 * taken: dropping a table leaves them in place.
 */
int lb_toc_filter(const char *toc, const char *schema_sql,
                  const char *const *tables, const char *const *existing,
                  char **out, struct lb_err *err);

/* ---- what an archive says of itself ---------------------------------- */

/* `pg_restore --list` of an archive, summarised. */
struct lb_toc_summary {
    char *archive_created;   /* "2026-11-26 15:16:26 UTC", NULL if absent */
    char *dbname;
    char *format;            /* "CUSTOM", "DIRECTORY", "TAR" */
    char *compression;       /* as printed: "-1", "0", "gzip", ... */
    char *dumped_from;       /* "Dumped from database version: ..." */
    char *dumped_by;         /* "Dumped by pg_dump version: ..." */
    int64_t header_entries;  /* "TOC Entries: N", -1 if absent */
    size_t entries;          /* entry lines listed */
    size_t data_entries;     /* TABLE DATA entries */
    char **tables;           /* "schema.name" of TABLE entries, NULL-ended */
    size_t ntables;
};
void lb_toc_summary_free(struct lb_toc_summary *s);
/*
 * Pure: summarise `toc` (`pg_restore -l` output). Entry lines read
 * "ID; TABLEOID OID TYPE SCHEMA TAG OWNER": a TABLE's name is the text
 * between the schema and the last word (the owner), unquoted as printed.
 * LB_EINVAL if the text has neither header nor entries. Caller frees *out
 * with lb_toc_summary_free.
 */
int lb_toc_summary_parse(const char *toc, struct lb_toc_summary **out, struct lb_err *err);
/* Run `pg_restore --list` on `archive` (through proc, output to a private
 * scratch file) and summarise it. LB_ENOTFOUND if the archive is missing,
 * LB_EPROC if pg_restore fails (err->msg has its last line). */
int lb_backup_toc_summary(const char *archive, int64_t deadline_ms,
                          struct lb_toc_summary **out, struct lb_err *err);

#endif
