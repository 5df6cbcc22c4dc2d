/*
 * audit: proves that every backup layer an environment declares is what
 * the team believes it is. For each layer: the artifact exists (and a
 * pg_dump archive is readable); it is younger than its max_age; its
 * provenance names the pinned system_identifier (and database) of the
 * target it claims to back up; it is not empty. With `restore`, a pg_dump
 * layer is restored into a throw-away database on the environment's scratch
 * target, a basebackup or pgbackrest layer into a throw-away cluster beside
 * its source's data directory (to the backup's consistent point), and its
 * row counts are compared with the live source (within the layer's
 * tolerance) and with its provenance, its foreign keys with the source's;
 * an empty restore is always critical. This is the check that would have
 * caught the incident's four months of snapshots of a deprecated, empty
 * instance.
 *
 * The findings are one run of kind "audit" in the store (one check step per
 * layer, named "audit <layer>", with its checks, gaps, metrics and table
 * stats), rendered like any run. Called by the CLI (`lifeboat audit`); the
 * pure parts (lb_audit_assess, lb_audit_compare) are separate for tests.
 */
#ifndef LIFEBOAT_AUDIT_H
#define LIFEBOAT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/engine.h"
#include "lifeboat/util.h"
#include "lifeboat/validate.h"

struct lb_store;
struct lb_provenance;

/* ---- findings (pure) ------------------------------------------------- */

/* One check, and a gap when severity is not LB_SEV_NONE. Gap titles name
 * the layer and carry the numbers. */
struct lb_audit_finding {
    char *check;                /* "nightly_dump: source" */
    char *table;                /* "public.inventory", or NULL */
    int ok;
    char *expected, *observed;  /* may be NULL */
    enum lb_severity severity;
    char *category;             /* gap category: "backup", "validation" */
    char *title;                /* gap title; NULL when no gap */
    char *detail;               /* NULL or more about the gap */
};

struct lb_audit_findings {
    struct lb_audit_finding *items;
    size_t n;
};
/* Frees the items and zeroes *f. NULL is a no-op. */
void lb_audit_findings_free(struct lb_audit_findings *f);

/* What is known of a layer's artifact on disk (filled by the caller). */
struct lb_audit_artifact {
    const char *path;           /* what was looked at (lb_backup_layer_artifact);
                                   NULL: the layer's own path */
    int exists;                 /* the path exists */
    int64_t size;               /* bytes of a file; -1 for a directory or unknown */
    int64_t mtime_ms;           /* wall ms; <= 0 unknown */
    const struct lb_provenance *prov;  /* NULL: none */
    const char *prov_error;     /* with prov NULL: why it could not be read, or
                                   NULL when there is no provenance file */
    int readable_checked;       /* the archive's table of contents was read */
    const char *readable_error; /* NULL: readable (when checked) */
};

/*
 * Pure: the findings on layer `b` of `env` from what is on disk, at wall
 * time now_ms. Severities:
 *  - a layer with no path (kind command: no artifact lifeboat can inspect):
 *    one minor gap, "not implemented yet", never a silent pass;
 *  - the path does not exist: critical (nothing else is checked);
 *  - an empty file or an archive pg_restore cannot read: critical;
 *  - no provenance, or an unreadable one: major (source and snapshot time
 *    cannot be proven; the age then comes from the file's mtime, and says so);
 *  - older than max_age: critical; no max_age declared: minor; a snapshot
 *    time more than a minute ahead of now: major;
 *  - provenance system_identifier different from the pin of the layer's
 *    source target: critical, titled "backup source is not the pinned
 *    target: ..." with both identifiers, the cluster name the provenance
 *    gives, and the declared target that is pinned to it if any; the same
 *    for a different database than the source's conninfo names; no source
 *    declared, or a source with no pinned identifier: major;
 *  - provenance with no tables or 0 rows: critical.
 * Returns 0, or LB_EINVAL when an argument is NULL. Caller frees out.
 */
int lb_audit_assess(const struct lb_env *env, const struct lb_env_backup *b,
                    const struct lb_audit_artifact *a, int64_t now_ms,
                    struct lb_audit_findings *out);

/*
 * Pure: findings of a restore of layer `b`. `live` is the source as it is
 * now (NULL when the layer declares no source), `restored` what came back
 * (counts; schema fingerprints and foreign-key counts when present), `prov`
 * the layer's provenance or NULL, `fk_not_validated` the number of foreign
 * keys left NOT VALID in the restore (-1: unknown).
 *  - "<layer>: restore not empty": 0 rows in every table is critical
 *    ("restore is empty: ..."), whatever the source holds; the per-table
 *    checks then fail without gaps of their own;
 *  - per table of `live`: rows within b->tolerance of the live count
 *    (|restored - live| <= tolerance * live), else critical with both
 *    numbers, the difference in percent and the tolerance; missing from the
 *    restore: critical; a different schema fingerprint: major; fewer
 *    foreign keys than the source: major;
 *  - per table of the restore not in `live`: minor;
 *  - per table of `prov`: restored rows equal to the recorded ones (a
 *    dump's provenance counts in the dump's own snapshot), or for a
 *    basebackup or pgbackrest layer within b->tolerance of them (counted
 *    just before the backup started), else critical (the archive does not
 *    hold what its provenance claims);
 *  - foreign keys left NOT VALID: major.
 * Returns 0, or LB_EINVAL when b, restored or out is NULL.
 */
int lb_audit_compare(const struct lb_env_backup *b, const struct lb_baseline *live,
                     const struct lb_baseline *restored, const struct lb_provenance *prov,
                     int64_t fk_not_validated, struct lb_audit_findings *out);

/* ---- the audit run --------------------------------------------------- */

struct lb_audit_opts {
    struct lb_store *store;       /* borrowed */
    const struct lb_env *env;     /* borrowed */
    int restore;                  /* also restore each layer (see lb_audit_run) */
    const char *const *layers;    /* NULL-ended names to audit, or NULL for all */
    int64_t layer_timeout_ms;     /* per layer; <= 0: 1 hour */
    int restore_jobs;             /* pg_restore -j; <= 0: 2 */
    lb_event_fn on_event;         /* progress, may be NULL */
    void *event_ud;
};

struct lb_audit_result {
    char run_id[40];              /* "" if no run was recorded */
    struct lb_run_summary summary;
    int layers;                   /* layers audited */
};

/*
 * Audit the layers of o->env and record the run. Before anything is
 * recorded or touched, LB_EINVAL for: a layer name not declared; `restore`
 * of a pg_dump layer without `scratch` in the environment (the audit never
 * creates a database anywhere else); `restore` of a basebackup or
 * pgbackrest layer whose source target is not declared or declares no
 * data_dir, of a basebackup layer without wal_archive, of a pgbackrest
 * layer without stanza.
 *
 * With `restore`, before each layer's restore the layer's source target
 * must pass lb_guard_check (it only gets a read-only transaction).
 *  - pg_dump: the scratch target must pass it too, and gets CREATE
 *    DATABASE lifeboat_audit_<random> TEMPLATE template0, a pg_restore into
 *    it, and DROP DATABASE ... WITH (FORCE), which always runs, at the
 *    deadline or on an interrupt too.
 *  - basebackup, pgbackrest: lb_backup_pitr_prepare or
 *    lb_backup_pgbackrest_restore (recovery target immediate) into
 *    lb_cluster_sibling_dir(source data_dir, "audit"), with port = a free
 *    port of 127.0.0.1, listen_addresses 127.0.0.1, no unix socket,
 *    archive_mode off, cluster_name "<source cluster>-audit-<layer>";
 *    lb_cluster_start_scratch; the connection must reach the source's
 *    system_identifier and that cluster_name with archiving off
 *    (LB_ESAFETY otherwise); then stopped (immediate) and removed
 *    (lb_cluster_remove_dir), always, at the deadline or on an interrupt
 *    too; what cannot be removed is a major "cleanup" gap naming it. A
 *    restore or a start that fails, or tables that cannot be read, are
 *    critical gaps. Metric "<layer>.restore" (ms).
 *  - command: a minor gap, "restore check ... not implemented yet".
 * A refusal stops the audit: the run is "refused" (exit 3) and later layers
 * are skipped. An environment with no layers is one critical gap. The
 * summary's exit code follows lb_run_finish: 1 when any gap was found, and
 * every critical finding is a gap.
 * Returns 0 when the run was recorded (whatever it found), else a negative
 * code with err set (res->run_id may still name a partly recorded run).
 */
int lb_audit_run(const struct lb_audit_opts *o, struct lb_audit_result *res,
                 struct lb_err *err);

#endif
