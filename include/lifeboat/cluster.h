/*
 * cluster: what a recovery procedure does to a PostgreSQL server, and the
 * physical backup layers it stands on.
 *
 * - Server control through the target's environment declaration
 *   (struct lb_env_target: start, stop, fence, unfence argv, data_dir),
 *   never a guess: a missing declaration is LB_EINVAL naming it.
 * - Facts about a server: offline identity (pg_controldata), role,
 *   timeline, streaming state and lag, its standbys.
 * - Physical copies: cloning with pg_basebackup (a new standby or a new
 *   primary), swapping a prepared data directory into a target's place.
 * - Backup layers: base backup + WAL archive (take, prepare a
 *   point-in-time recovery), pgBackRest (backup, info, restore).
 *
 * Used by the Lua bindings (fault.stop_server, fault.region_loss,
 * restore.pitr, restore.promote, restore.pgbackrest, backupctl), the
 * sandbox and the tests. Library code: never prints, never exits.
 *
 * Server-side tools (pg_ctl, pg_controldata, pg_basebackup into a data
 * directory, pgbackrest, tar) run as the `postgres` OS user when lifeboat
 * is root (`run_as` NULL means exactly that), since the servers' files
 * belong to it. Declared argv (start/stop/fence/unfence) run as they are
 * written, as the calling user: the environment says who runs what (the
 * sandbox's say `runuser -u postgres -- pg_ctl ...`).
 *
 * Every function takes a monotonic deadline (LB_NO_DEADLINE for none) and
 * honours the interrupt flag; tool runs are recorded in a struct
 * lb_tool_run (backup.h: command line, exit status, output, duration;
 * callers redact before storing). `run` may be NULL everywhere; when
 * several tools run, `run` describes the last one and its duration is the
 * sum of them all.
 */
#ifndef LIFEBOAT_CLUSTER_H
#define LIFEBOAT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/util.h"

struct lb_pg;

/* ---- server control through the declaration --------------------------- */

/*
 * Stop the target's server. The declared `stop` argv when there is one
 * (it wins over `mode`: the sandbox's says -m immediate); else, when a
 * mode is asked ("fast", "immediate", "smart") and the target declares a
 * data_dir, `pg_ctl -D data_dir -m mode -w stop`; else LB_EINVAL "no stop
 * command declared for target X". A server that is already stopped (the
 * command fails, data_dir declared and no live postmaster owns it) is not
 * an error.
 */
int lb_cluster_stop(const struct lb_env_target *t, const char *mode, int64_t deadline_ms,
                    struct lb_tool_run *run, struct lb_err *err);
/* Start the target's server with its declared `start` argv (the sandbox's
 * waits with pg_ctl -w). LB_EINVAL "no start command declared for target
 * X". LB_EPROC when it fails (err->msg ends with the tool's last line);
 * a fenced target fails here, as it should. */
int lb_cluster_start(const struct lb_env_target *t, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err);
/*
 * Fence the target: its declared `fence` argv, which must stop the server
 * and make an accidental restart fail (what "a region is lost" means for a
 * drill). LB_EINVAL "no fence command declared for target X". The
 * sandbox's fence stops the server (-m immediate), sets the data directory
 * to mode 000 and writes the marker lb_cluster_fence_marker(data_dir);
 * `pg_ctl start` then fails until unfenced.
 */
int lb_cluster_fence(const struct lb_env_target *t, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err);
/* Undo the fence with the declared `unfence` argv (does not start the
 * server). LB_EINVAL "no unfence command declared for target X". */
int lb_cluster_unfence(const struct lb_env_target *t, int64_t deadline_ms,
                       struct lb_tool_run *run, struct lb_err *err);
/* 1 when the target is fenced by lifeboat's convention (the marker file
 * below exists, or its data directory exists with no owner permissions),
 * 0 when not, -1 when it cannot tell (no data_dir declared). */
int lb_cluster_is_fenced(const struct lb_env_target *t);
/* "<data_dir>.FENCED": the marker a fence writes beside the data directory
 * (it holds the fence time). Caller frees. */
char *lb_cluster_fence_marker(const char *data_dir);

/* The server log the target's start argv names (the word after "-l" or
 * "--log" / "--log=..."), for error messages; NULL when it names none.
 * Borrowed from t. */
const char *lb_cluster_log_path(const struct lb_env_target *t);

/* 1 when a live postmaster owns data_dir (postmaster.pid names a running
 * postgres process working from it), else 0. Readable as root or as the
 * directory's owner; a fenced directory reads as not running. */
int lb_cluster_running(const char *data_dir);

/* pg_ctl on a bare data directory, not a declared target (a scratch
 * restore on its own port), as postgres when root. start: `pg_ctl -D dir
 * -l log_path -w -t <deadline> start` (log_path NULL: "<dir>.log");
 * stop: `pg_ctl -D dir -m mode -w stop` (mode NULL: "fast"). */
int lb_cluster_start_dir(const char *data_dir, const char *log_path, int64_t deadline_ms,
                         struct lb_tool_run *run, struct lb_err *err);
int lb_cluster_stop_dir(const char *data_dir, const char *mode, int64_t deadline_ms,
                        struct lb_tool_run *run, struct lb_err *err);

/* ---- scratch servers ----------------------------------------------------- */

/* A TCP port of 127.0.0.1 nobody listens on right now (the kernel's pick),
 * for a scratch server; -1 when none can be had. Another process may take
 * it before the server binds it: the start then fails and says so. */
int lb_cluster_free_port(void);
/* Pure: `conninfo` (a target's) pointed at a scratch server on
 * 127.0.0.1:port: host and port replaced, hostaddr removed, everything else
 * (dbname, user, sslmode, ...) kept. NULL when conninfo does not parse or
 * port is not 1..65535. Caller frees. */
char *lb_cluster_local_conninfo(const char *conninfo, int port);
/*
 * Start a restored data directory (lb_backup_pitr_prepare or
 * lb_backup_pgbackrest_restore, with settings that give it its own port,
 * listen_addresses 127.0.0.1 and archive_mode off) as a scratch server
 * where it lies, and wait until it accepts `conninfo` and recovery has
 * ended (lb_cluster_wait, LB_CLUSTER_PRIMARY). lb_cluster_start_dir with
 * log_path (NULL: "<data_dir>.log"); a server that shuts down during
 * recovery fails fast (LB_EPROC) with the last lines of its log. Does not
 * stop it on failure: the caller tears it down (lb_cluster_stop_dir,
 * lb_cluster_remove_dir) on every path. `run` gets pg_ctl's record.
 */
int lb_cluster_start_scratch(const char *data_dir, const char *log_path, const char *conninfo,
                             int64_t deadline_ms, struct lb_tool_run *run, struct lb_err *err);

/* ---- facts about a server ---------------------------------------------- */

/* What pg_controldata says of a data directory. */
struct lb_cluster_control {
    char system_identifier[32];
    char state[64];            /* "shut down", "in production", "shut down in recovery",
                                  "in archive recovery", "in crash recovery", ... */
    int timeline;              /* "Latest checkpoint's TimeLineID", -1 unknown */
    char checkpoint_lsn[32];   /* "Latest checkpoint location" */
    char redo_wal_file[64];    /* "Latest checkpoint's REDO WAL file" */
};
/* Pure: parse pg_controldata output (any order, unknown lines ignored).
 * LB_EINVAL when there is no "Database system identifier" line. */
int lb_cluster_controldata_parse(const char *text, struct lb_cluster_control *out,
                                 struct lb_err *err);
/* Run pg_controldata on data_dir (as postgres when root). Works on a
 * stopped server: what proves the identity of a server that cannot be
 * asked. LB_ENOTFOUND when data_dir holds no cluster, LB_EPROC when the
 * tool fails (a fenced directory: permission denied). */
int lb_cluster_controldata(const char *data_dir, int64_t deadline_ms,
                           struct lb_cluster_control *out, struct lb_err *err);
/* The system identifier alone (decimal string into sysid). */
int lb_cluster_offline_identity(const char *data_dir, char sysid[32], int64_t deadline_ms,
                                struct lb_err *err);

/* A live server's role and replication state. */
struct lb_cluster_state {
    char system_identifier[32];
    int in_recovery;           /* pg_is_in_recovery() */
    int timeline;              /* pg_control_checkpoint().timeline_id */
    char current_lsn[32];      /* primary: pg_current_wal_lsn(); standby: "" */
    /* A standby: */
    int streaming;             /* its WAL receiver's status is "streaming" */
    char upstream_host[256];   /* pg_stat_wal_receiver sender_host/port, "" / 0 */
    int upstream_port;
    char slot_name[64];        /* pg_stat_wal_receiver slot_name, "" */
    char receive_lsn[32];      /* pg_last_wal_receive_lsn(), "" */
    char replay_lsn[32];       /* pg_last_wal_replay_lsn(), "" */
    int64_t replay_lag_bytes;  /* received - replayed, -1 unknown */
    int64_t replay_age_ms;     /* now() - pg_last_xact_replay_timestamp(), -1 unknown */
};
/* Fill `out` through `c` (pg_stat_wal_receiver needs a superuser or
 * pg_read_all_stats; fields it cannot read stay empty). */
int lb_cluster_state_read(struct lb_pg *c, int64_t deadline_ms, struct lb_cluster_state *out,
                          struct lb_err *err);

/* One row of a primary's pg_stat_replication. */
struct lb_cluster_standby {
    char application_name[128];  /* a standby's cluster_name unless its conninfo names one */
    char client_addr[64];
    char state[32];              /* "streaming", "catchup", "backup", ... */
    char sync_state[16];
    char replay_lsn[32];
    int64_t lag_bytes;           /* pg_current_wal_lsn() - replay_lsn, -1 unknown */
    int64_t replay_lag_ms;       /* replay_lag, -1 when NULL */
};
/* The standbys connected to the primary behind `c`. Caller frees *out. */
int lb_cluster_standbys(struct lb_pg *c, int64_t deadline_ms, struct lb_cluster_standby **out,
                        size_t *n, struct lb_err *err);

enum lb_cluster_want {
    LB_CLUSTER_ACCEPTING = 0,  /* any connection succeeds */
    LB_CLUSTER_PRIMARY,        /* connected and pg_is_in_recovery() is false */
    LB_CLUSTER_STANDBY,        /* connected and in recovery */
    LB_CLUSTER_STREAMING,      /* a standby whose WAL receiver streams */
};
struct lb_cluster_wait_opts {
    const char *conninfo;
    enum lb_cluster_want want;
    const char *data_dir;      /* optional: fail fast (LB_EPROC) once no server runs on it
                                  (recovery that failed shuts the server down) */
    const char *log_path;      /* optional: its last lines go into that error */
    int64_t deadline_ms;
};
/* Poll (every 200 ms) until the server is as wanted. LB_ETIMEOUT names
 * what was last seen ("still in recovery at 0/5000060"). */
int lb_cluster_wait(const struct lb_cluster_wait_opts *o, struct lb_err *err);
/* Wait until the standby behind `c` has replayed `lsn` ("0/3000060"). */
int lb_cluster_wait_replayed(struct lb_pg *c, const char *lsn, int64_t deadline_ms,
                             struct lb_err *err);

/* Promote the standby behind `c` (pg_promote(wait => true)) and wait until
 * it leaves recovery. LB_ESTATE "not a standby" when it is not in
 * recovery. */
int lb_cluster_promote(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err);

/*
 * SELECT pg_switch_wal() on the primary behind `c` (after a write, so
 * there is something to switch) and wait until pg_stat_archiver says that
 * segment, or a later one, is archived (last_archived_wal). The segment's
 * name goes to walfile_out (may be NULL). LB_ETIMEOUT says what the
 * archiver last archived and its last failure.
 */
int lb_cluster_switch_wal_and_wait_archived(struct lb_pg *c, int64_t deadline_ms,
                                            char *walfile_out, size_t walfile_sz,
                                            struct lb_err *err);

/* ---- physical copies ---------------------------------------------------- */

struct lb_clone_opts {
    int standby;                 /* pg_basebackup -R: standby.signal + primary_conninfo */
    const char *slot;            /* stream from this physical slot (-S); created on the
                                    source when missing; NULL: none */
    int port;                    /* written to postgresql.auto.conf; 0: keep the source's */
    const char *cluster_name;    /* ditto; NULL: keep */
    const char *const *settings; /* more "name", "value" pairs for postgresql.auto.conf
                                    (NULL-ended list of pairs), or NULL */
    const char *run_as;          /* NULL: "postgres" when root, else self */
};
/*
 * pg_basebackup (plain format, WAL streamed, fast checkpoint) from
 * `from_conninfo` into `data_dir`, which must not exist or be empty; it is
 * created mode 0700 and owned by run_as, its parent must exist. Then the
 * settings are appended to postgresql.auto.conf (after what -R wrote),
 * after lines that clear any recovery target the source's configuration
 * holds (and, for a standby without a slot, the source's
 * primary_slot_name). A failed clone leaves no half-written data_dir
 * behind. o may be NULL.
 */
int lb_cluster_clone(const char *from_conninfo, const char *data_dir,
                     const struct lb_clone_opts *o, int64_t deadline_ms,
                     struct lb_tool_run *run, struct lb_err *err);

/* "<data_dir>.<tag>-<UTC yyyymmddThhmmss.mmmZ>": a fresh sibling of the
 * target's data directory (same file system, so a swap is a rename), for
 * a clone or a restore to be swapped in. Caller frees. */
char *lb_cluster_sibling_dir(const char *data_dir, const char *tag);
/*
 * Put new_dir in the place of the target's data directory, so that its
 * declared paths and argv stay valid: data_dir → "<data_dir>.old-<UTC
 * time>", new_dir → data_dir. The server must be stopped (LB_ESTATE
 * otherwise); new_dir must be a sibling (same parent directory) holding a
 * cluster (PG_VERSION). A missing data_dir (lost) is fine: *old_dir_out is
 * then NULL. *old_dir_out: caller frees (may be NULL to not ask).
 */
int lb_cluster_swap_data_dir(const struct lb_env_target *t, const char *new_dir,
                             char **old_dir_out, struct lb_err *err);
/* Remove a directory made by the functions above: only a sibling of
 * data_dir named "<basename of data_dir>.<something>", never data_dir
 * itself (LB_EINVAL), nor one a server runs on (LB_ESTATE). Fenced (mode
 * 000) directories are removed too, and "<dir>.log" (lb_cluster_start_dir's
 * default log) with it. */
int lb_cluster_remove_dir(const char *data_dir, const char *dir, struct lb_err *err);

/* ---- base backup + WAL archive ------------------------------------------ */

struct lb_basebackup_opts {
    const char *conninfo;        /* source; its user needs REPLICATION */
    const char *path;            /* directory to write; replaced only when complete */
    int tar;                     /* 0: plain (a data directory); 1: tar (base.tar, pg_wal.tar) */
    const char *label;           /* NULL: "lifeboat base backup" */
    int64_t deadline_ms;
};
/*
 * pg_basebackup (fast checkpoint, WAL streamed, manifest) into
 * "<path>.tmp", renamed to `path` when complete, then the provenance
 * (lb_provenance_path(path)): kind "basebackup", source identity,
 * per-table row counts read just before the backup starts, taken_at =
 * START TIME of its backup_label, finished_at, start/stop LSN, start WAL
 * file and timeline (from backup_label and backup_manifest), label. Runs
 * as the calling user (the files are read back by lb_backup_pitr_prepare,
 * which gives its copy to the server's user). *prov may be NULL; caller
 * frees with lb_provenance_free.
 */
int lb_backup_basebackup(const struct lb_basebackup_opts *o, struct lb_tool_run *run,
                         struct lb_provenance **prov, struct lb_err *err);

/* What a backup_label says. */
struct lb_backup_label {
    char start_lsn[32];          /* START WAL LOCATION */
    char start_wal[64];          /* "(file 000000010000000000000002)" */
    char checkpoint_lsn[32];     /* CHECKPOINT LOCATION */
    char label[256];             /* LABEL */
    int timeline;                /* START TIMELINE, -1 if absent */
    int64_t start_ms;            /* START TIME as wall ms (UTC), -1 if absent/unreadable */
};
/* Pure: parse backup_label text. START TIME reads "2026-01-02 03:04:05
 * UTC" (zone UTC/GMT/Z or a numeric offset "+02", "-0530", "+05:30";
 * another abbreviation leaves start_ms -1). LB_EINVAL without a START WAL
 * LOCATION line. */
int lb_backup_label_parse(const char *text, struct lb_backup_label *out, struct lb_err *err);
/* Read the label of a base backup directory: plain (backup_label) or tar
 * (base.tar / base.tar.gz, read with tar -xO). LB_ENOTFOUND if none. */
int lb_backup_label_read(const char *base_backup, int64_t deadline_ms,
                         struct lb_backup_label *out, struct lb_err *err);

enum lb_recovery_kind {
    LB_RECOVERY_LATEST = 0,      /* replay every archived WAL file, then promote */
    LB_RECOVERY_TIME,            /* stop before the first commit after time_ms */
    LB_RECOVERY_LSN,             /* stop before lsn */
    LB_RECOVERY_IMMEDIATE,       /* stop as soon as the backup is consistent */
};
struct lb_recovery_target {
    enum lb_recovery_kind kind;
    int64_t time_ms;             /* LB_RECOVERY_TIME: wall ms, UTC */
    const char *lsn;             /* LB_RECOVERY_LSN */
    int inclusive;               /* recovery_target_inclusive; default 0 (false) */
    const char *timeline;        /* recovery_target_timeline; NULL: "latest" */
};
/* "2026-01-02 03:04:05.678+00": a time as PostgreSQL's recovery_target_time
 * and pgBackRest's --target read it. */
void lb_recovery_time_format(int64_t wall_ms, char *out, size_t outsz);
/*
 * Pure: refuse a target the backup cannot reach. A time before the
 * backup's start: LB_EINVAL "recovery target 2026-… is before the base
 * backup (taken 2026-…): nothing can be restored to that instant"; a time
 * before its end (finished_ms, -1 unknown): LB_EINVAL "... is before the
 * base backup was consistent (finished 2026-…) ...". Other kinds: 0.
 * `what` names the backup in the message ("base backup", "pgBackRest
 * backup 20260102-030405F").
 */
int lb_recovery_target_check(const struct lb_recovery_target *t, const char *what,
                             int64_t started_ms, int64_t finished_ms, struct lb_err *err);
/*
 * Pure: the lines lb_backup_pitr_prepare appends to postgresql.auto.conf:
 * restore_command copying from wal_archive (`cp '<archive>/%f' '%p'`),
 * the target (recovery_target_time/lsn/immediate, recovery_target_inclusive
 * for time and lsn), recovery_target_timeline = 'latest',
 * recovery_target_action = 'promote', then `settings` pairs. Values are
 * quoted for postgresql.conf. LB_EINVAL for a path holding a newline or a
 * quote-less LSN that is not "X/Y". Caller frees *out.
 */
int lb_recovery_conf_text(const char *wal_archive, const struct lb_recovery_target *t,
                          const char *const *settings, char **out, struct lb_err *err);

struct lb_pitr_opts {
    const char *base_backup;     /* a plain or tar base backup directory */
    const char *wal_archive;     /* directory the archive_command copies WAL into */
    struct lb_recovery_target target;
    const char *data_dir;        /* new data directory: must not exist or be empty */
    const char *const *settings; /* "name", "value" pairs (port, cluster_name, ...) or NULL */
    const char *run_as;          /* NULL: "postgres" when root, else self */
    int64_t deadline_ms;
};
/*
 * Prepare a point-in-time recovery: check the target against the
 * backup's start (backup_label) and end (provenance finished_at) with
 * lb_recovery_target_check before touching anything, copy (plain) or
 * extract (tar) the base backup into data_dir (mode 0700, owned by
 * run_as), drop what a copied data directory must not keep
 * (postmaster.pid, standby.signal, the source's recovery settings are
 * overridden), append lb_recovery_conf_text to postgresql.auto.conf and
 * create recovery.signal. Does not start the server: swap it into a
 * target (lb_cluster_swap_data_dir + lb_cluster_start) or start it with
 * lb_cluster_start_dir, then lb_cluster_wait(LB_CLUSTER_PRIMARY). A
 * failure removes data_dir again (or empties it, when it was given empty).
 */
int lb_backup_pitr_prepare(const struct lb_pitr_opts *o, struct lb_tool_run *run,
                           struct lb_err *err);

/* ---- pgBackRest --------------------------------------------------------- */

struct lb_pgbackrest_opts {
    const char *config;          /* --config; NULL: pgBackRest's default file */
    const char *stanza;          /* required */
    int repo;                    /* --repo; 0: pgBackRest's default */
    const char *run_as;          /* NULL: "postgres" when root */
    int64_t deadline_ms;
};

struct lb_pgbackrest_backup {
    char *label;                 /* "20260102-030405F" */
    char *type;                  /* "full", "diff", "incr" */
    int repo;                    /* repo-key */
    int64_t start_ms, stop_ms;   /* wall ms */
    char *lsn_start, *lsn_stop;
    char *wal_start, *wal_stop;  /* archive start/stop segment */
    int64_t size, repo_size;     /* bytes, -1 unknown */
    int error;                   /* pgBackRest found errors (e.g. checksums) */
};
struct lb_pgbackrest_archive { int repo; char *min, *max; };
struct lb_pgbackrest_info {
    char *stanza;
    int status_code;             /* 0 ok, else pgBackRest's code */
    char *status_message;
    char *system_identifier;     /* the stanza's current database (exact digits) */
    char *pg_version;            /* "15" */
    struct lb_pgbackrest_backup *backups; size_t nbackups;    /* as listed: oldest first */
    struct lb_pgbackrest_archive *archives; size_t narchives; /* WAL ranges per repo */
};
void lb_pgbackrest_info_free(struct lb_pgbackrest_info *i);
/* Pure: parse `pgbackrest info --output=json` for `stanza` (NULL: the
 * first). LB_ENOTFOUND when the stanza is not listed, LB_EINVAL for text
 * that is not that JSON. Caller frees with lb_pgbackrest_info_free. */
int lb_pgbackrest_info_parse(const char *json, const char *stanza,
                             struct lb_pgbackrest_info **out, struct lb_err *err);
/* Newest backup in `repo` (0: any repo), NULL if none. Borrowed. */
const struct lb_pgbackrest_backup *lb_pgbackrest_latest(const struct lb_pgbackrest_info *i,
                                                        int repo);
/* `pgbackrest info --output=json` (for o->repo when set). */
int lb_backup_pgbackrest_info(const struct lb_pgbackrest_opts *o,
                              struct lb_pgbackrest_info **out, struct lb_tool_run *run,
                              struct lb_err *err);
/* The configuration file of a declared pgbackrest layer: its path when
 * that is a file (a configuration); "<directory of its path>/
 * pgbackrest.conf" when its path is the repository directory and that
 * file exists, as the sandbox lays them out; else NULL, meaning
 * pgBackRest's own default. Caller frees. (An environment key `config`
 * would say it outright: see the closing note.) */
char *lb_pgbackrest_layer_config(const struct lb_env_backup *b);
/* Where the provenance of a repo's newest backup lives:
 * "<directory of config>/repo<N>.provenance.json", which for the
 * sandbox's layout is lb_provenance_path(<repo path>), where audit looks.
 * Caller frees. */
char *lb_pgbackrest_provenance_path(const char *config, int repo);
/* The artifact whose provenance (lb_provenance_path) describes declared
 * layer `b`: for kind pgbackrest "<directory of its configuration>/repo<N>",
 * the repository the sandbox lays out there; else b->path. NULL when the
 * layer has no path. Caller frees. */
char *lb_backup_layer_artifact(const struct lb_env_backup *b);
/*
 * `pgbackrest backup --type=<type>` ("full", "diff", "incr"; NULL: full)
 * into o->repo, then info, and the provenance file
 * (lb_pgbackrest_provenance_path): kind "pgbackrest", backup_label = the
 * set's label, taken_at/finished_at = its start/stop, LSNs, WAL range,
 * repo; source identity and per-table row counts from source_conninfo
 * (read just before the backup; NULL: no counts). *prov may be NULL.
 */
int lb_backup_pgbackrest_backup(const struct lb_pgbackrest_opts *o, const char *type,
                                const char *source_conninfo, struct lb_tool_run *run,
                                struct lb_provenance **prov, struct lb_err *err);

struct lb_pgbackrest_restore_opts {
    struct lb_pgbackrest_opts base;  /* config, stanza, repo, run_as, deadline */
    struct lb_recovery_target target;
    const char *set;                 /* backup set label; NULL: pgBackRest picks (the newest
                                        before a time target) */
    const char *data_dir;            /* new data directory (--pg1-path): must not exist or
                                        be empty */
    const char *const *settings;     /* "name", "value" pairs appended to
                                        postgresql.auto.conf, or NULL */
};
/*
 * `pgbackrest restore` into data_dir (type default/time/lsn/immediate,
 * --target-action=promote). For a time target, refused first (LB_EINVAL,
 * lb_recovery_target_check) when it is before the oldest backup of the
 * repo that the info lists (or than the set asked for). Does not start the
 * server (as lb_backup_pitr_prepare). A failure removes data_dir again (or
 * empties it, when it was given empty).
 */
int lb_backup_pgbackrest_restore(const struct lb_pgbackrest_restore_opts *o,
                                 struct lb_tool_run *run, struct lb_err *err);

#endif
