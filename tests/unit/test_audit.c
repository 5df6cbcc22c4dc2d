/*
 * audit without a server: what it concludes from a layer's files and
 * provenance (lb_audit_assess), from a restore's counts (lb_audit_compare),
 * and the run it records for real files on disk in an in-memory store.
 * The restore itself runs against the sandbox in
 * tests/integration/test_audit_*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dirent.h>

#include "lifeboat/audit.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"

#define STAGING_SYSID "7000000000000000001"
#define DEPRECATED_SYSID "7000000000000000002"
#define HOUR_MS (3600 * 1000LL)
#define NOW_MS 1795700000000LL

struct fixture {
    char dir[64];
    struct lb_env *env;
    struct lb_store *store;
    struct lb_provenance prov;
    struct lb_prov_table tables[4];
    struct lb_audit_artifact art;
    struct lb_audit_findings f;
    struct lb_run_view *view;
};

static void add_target(struct lb_env *env, const char *name, const char *sysid,
                       const char *cluster)
{
    struct lb_env_target *t = &env->targets[env->ntargets++];

    t->name = lb_xstrdup(name);
    t->conninfo = lb_xstrdup("host=127.0.0.1 port=1 dbname=inventory user=lifeboat");
    t->role = lb_xstrdup("staging");
    t->system_identifier = lb_xstrdup(sysid);
    t->cluster_name = lb_xstrdup(cluster);
    t->guard_token = lb_xstrdup("token-token-token");
}

/* A layer of the fixture's environment (path NULL for kinds without one). */
static struct lb_env_backup *add_layer(struct fixture *f, const char *name, const char *kind,
                                       const char *path, int64_t max_age_ms)
{
    struct lb_env *env = f->env;
    struct lb_env_backup *b;

    env->backups = lb_xrealloc(env->backups, (env->nbackups + 1) * sizeof(*env->backups));
    b = &env->backups[env->nbackups++];
    memset(b, 0, sizeof(*b));
    b->name = lb_xstrdup(name);
    b->kind = lb_xstrdup(kind);
    b->path = lb_xstrdup(path);
    b->source = lb_xstrdup("staging");
    b->max_age_ms = max_age_ms;
    b->tolerance = 0.05;
    b->line = 7;
    return b;
}

static int setup(void **state)
{
    static const char *const names[4] = {"public.accounts", "public.inventory",
                                         "public.transactions", "public.users"};
    static const int64_t rows[4] = {1000, 20000, 100000, 5000};
    struct fixture *f = lb_xcalloc(1, sizeof(*f));
    struct lb_err err = {0};
    int i;

    snprintf(f->dir, sizeof(f->dir), "/tmp/lb-test-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->env = lb_xcalloc(1, sizeof(*f->env));
    f->env->name = lb_xstrdup("unit");
    f->env->path = lb_xstrdup("/etc/lifeboat/unit.lua");
    f->env->secrets = lb_secrets_new();
    f->env->rto_ms = f->env->rpo_ms = -1;
    f->env->targets = lb_xcalloc(2, sizeof(*f->env->targets));
    add_target(f->env, "staging", STAGING_SYSID, "staging-east");
    add_target(f->env, "deprecated", DEPRECATED_SYSID, "sandbox-deprecated");
    assert_int_equal(lb_store_open(":memory:", &f->store, &err), 0);

    /* A good pg_dump: from staging's cluster and database, an hour old. */
    f->prov.kind = "pg_dump";
    f->prov.source_system_identifier = STAGING_SYSID;
    f->prov.source_cluster_name = "staging-east";
    f->prov.database = "inventory";
    f->prov.taken_at = NOW_MS - HOUR_MS;
    for (i = 0; i < 4; i++) {
        f->tables[i].name = (char *)names[i];
        f->tables[i].rows = rows[i];
    }
    f->prov.tables = f->tables;
    f->prov.ntables = 4;
    f->art.exists = 1;
    f->art.size = 4096;
    f->art.mtime_ms = NOW_MS - HOUR_MS + 1000;
    f->art.prov = &f->prov;
    f->art.readable_checked = 1;
    lb_interrupt_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;

    /* What the tests wrote: files and empty directories (base backups). */
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *p;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = lb_path_join(f->dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
        free(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    lb_audit_findings_free(&f->f);
    lb_run_view_free(f->view);
    lb_store_close(f->store);
    lb_env_free(f->env);
    free(f);
    return 0;
}

static const struct lb_audit_finding *find(const struct lb_audit_findings *fs, const char *check)
{
    size_t i;

    for (i = 0; i < fs->n; i++)
        if (strcmp(fs->items[i].check, check) == 0)
            return &fs->items[i];
    fail_msg("no check '%s'", check);
    return NULL;
}

static size_t ngaps(const struct lb_audit_findings *fs, enum lb_severity sev)
{
    size_t i, n = 0;

    for (i = 0; i < fs->n; i++)
        n += fs->items[i].severity == sev;
    return n;
}

static void assess(struct fixture *f, const struct lb_env_backup *b)
{
    lb_audit_findings_free(&f->f);
    assert_int_equal(lb_audit_assess(f->env, b, &f->art, NOW_MS, &f->f), 0);
}

/* ---- assess --------------------------------------------------------------- */

static void test_audit_passes_a_good_backup(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    size_t i;

    assess(f, b);
    for (i = 0; i < f->f.n; i++) {
        assert_true(f->f.items[i].ok);
        assert_int_equal(f->f.items[i].severity, LB_SEV_NONE);
    }
    assert_string_equal(find(&f->f, "nightly_dump: source")->observed,
                        "system_identifier " STAGING_SYSID " (cluster staging-east, target 'staging')");
    assert_string_equal(find(&f->f, "nightly_dump: not empty")->observed,
                        "126000 rows in 4 tables");
    assert_string_equal(find(&f->f, "nightly_dump: fresh")->observed,
                        "1h00m old (snapshot time from its provenance)");
    assert_true(find(&f->f, "nightly_dump: source database")->ok);
}

static void test_audit_finds_a_backup_older_than_max_age(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->prov.taken_at = NOW_MS - 72 * HOUR_MS;
    assess(f, b);
    x = find(&f->f, "nightly_dump: fresh");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump is stale: taken 3d00h ago "
                                  "(2026-11-23T13:33:20.000Z), max_age 1d02h");
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 1);

    /* One millisecond inside max_age is fresh. */
    f->prov.taken_at = NOW_MS - 26 * HOUR_MS;
    assess(f, b);
    assert_true(find(&f->f, "nightly_dump: fresh")->ok);
}

static void test_audit_finds_a_backup_from_another_system_identifier(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->prov.source_system_identifier = DEPRECATED_SYSID;
    f->prov.source_cluster_name = "sandbox-deprecated";
    assess(f, b);
    x = find(&f->f, "nightly_dump: source");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title,
                        "backup source is not the pinned target: nightly_dump comes from "
                        "system_identifier " DEPRECATED_SYSID " (cluster sandbox-deprecated, "
                        "target 'deprecated'), staging is pinned to " STAGING_SYSID);
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 1);

    /* An identifier no declared target is pinned to reads without one. */
    f->prov.source_system_identifier = "7999999999999999999";
    f->prov.source_cluster_name = NULL;
    assess(f, b);
    assert_string_equal(find(&f->f, "nightly_dump: source")->title,
                        "backup source is not the pinned target: nightly_dump comes from "
                        "system_identifier 7999999999999999999, staging is pinned to "
                        STAGING_SYSID);
}

static void test_audit_finds_a_backup_of_another_database(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->prov.database = "postgres";
    assess(f, b);
    assert_true(find(&f->f, "nightly_dump: source")->ok);
    x = find(&f->f, "nightly_dump: source database");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_non_null(strstr(x->title, "from database 'postgres'"));
    assert_non_null(strstr(x->title, "staging is database 'inventory'"));
}

static void test_audit_finds_an_empty_backup(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;
    int i;

    for (i = 0; i < 4; i++)
        f->tables[i].rows = 0;
    assess(f, b);
    x = find(&f->f, "nightly_dump: not empty");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump is empty: its provenance records 0 rows in 4 "
                                  "tables");
    assert_string_equal(x->observed, "0 rows in 4 tables");

    f->prov.ntables = 0;
    assess(f, b);
    assert_string_equal(find(&f->f, "nightly_dump: not empty")->title,
                        "nightly_dump is empty: its provenance records no tables");
}

static void test_audit_finds_a_missing_file(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);

    f->art.exists = 0;
    f->art.prov = NULL;
    f->art.readable_checked = 0;
    assess(f, b);
    assert_int_equal(f->f.n, 1);
    assert_string_equal(f->f.items[0].check, "nightly_dump: exists");
    assert_int_equal(f->f.items[0].severity, LB_SEV_CRITICAL);
    assert_string_equal(f->f.items[0].title, "nightly_dump: /b/n.dump does not exist");
}

static void test_audit_finds_an_empty_or_unreadable_file(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->art.readable_error = "pg_restore: error: input file is too short (read 0, expected 5)";
    f->art.size = 0;
    assess(f, b);
    x = find(&f->f, "nightly_dump: not an empty file");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump: /b/n.dump is an empty file (0 bytes)");
    /* The empty file's gap is enough: the unreadable check fails without one. */
    assert_false(find(&f->f, "nightly_dump: readable archive")->ok);
    assert_int_equal(find(&f->f, "nightly_dump: readable archive")->severity, LB_SEV_NONE);

    f->art.size = 12;
    f->art.readable_error = "pg_restore: error: input file does not appear to be a valid archive";
    assess(f, b);
    x = find(&f->f, "nightly_dump: readable archive");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump: /b/n.dump is not a readable pg_dump archive: "
                                  "pg_restore: error: input file does not appear to be a "
                                  "valid archive");
}

static void test_audit_without_provenance_is_major_and_ages_by_mtime(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->art.prov = NULL;
    assess(f, b);
    x = find(&f->f, "nightly_dump: provenance");
    assert_int_equal(x->severity, LB_SEV_MAJOR);
    assert_string_equal(x->title, "nightly_dump has no provenance: its source and snapshot "
                                  "time cannot be proven");
    assert_false(find(&f->f, "nightly_dump: source")->ok);
    assert_int_equal(find(&f->f, "nightly_dump: source")->severity, LB_SEV_NONE);
    assert_string_equal(find(&f->f, "nightly_dump: fresh")->observed,
                        "59m59s old (file mtime: no snapshot time in a provenance)");
    assert_int_equal(ngaps(&f->f, LB_SEV_MAJOR), 1);
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 0);

    f->art.mtime_ms = NOW_MS - 30 * HOUR_MS;
    assess(f, b);
    x = find(&f->f, "nightly_dump: fresh");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_non_null(strstr(x->title, "(by the file's mtime)"));

    f->art.prov_error = "/b/n.dump.provenance.json: not a provenance file (bad JSON)";
    assess(f, b);
    x = find(&f->f, "nightly_dump: provenance");
    assert_int_equal(x->severity, LB_SEV_MAJOR);
    assert_non_null(strstr(x->title, "bad JSON"));
}

static void test_audit_without_max_age_or_source_never_passes_silently(void **state)
{
    struct fixture *f = *state;
    struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", -1);
    const struct lb_audit_finding *x;

    assess(f, b);
    x = find(&f->f, "nightly_dump: fresh");
    assert_int_equal(x->severity, LB_SEV_MINOR);
    assert_string_equal(x->title, "nightly_dump declares no max_age: its age (1h00m, taken "
                                  "2026-11-26T12:33:20.000Z) is not checked");

    free(b->source);
    b->source = NULL;
    assess(f, b);
    assert_int_equal(find(&f->f, "nightly_dump: source")->severity, LB_SEV_MAJOR);
}

static void test_audit_distrusts_a_snapshot_time_in_the_future(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    const struct lb_audit_finding *x;

    f->prov.taken_at = NOW_MS + 2 * HOUR_MS;
    assess(f, b);
    x = find(&f->f, "nightly_dump: fresh");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_MAJOR);
    assert_non_null(strstr(x->title, "2h00m ahead of this host's clock"));
}

static void test_audit_kinds_it_cannot_inspect_are_a_minor_gap(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "cold", "pgbackrest", NULL, -1);

    assess(f, b);
    assert_int_equal(f->f.n, 1);
    assert_false(f->f.items[0].ok);
    assert_int_equal(f->f.items[0].severity, LB_SEV_MINOR);
    assert_string_equal(f->f.items[0].title, "cold: audit of kind pgbackrest not implemented "
                                             "yet: its existence, age and source are "
                                             "unchecked");
    /* A command layer cannot be restored by the audit either. */
    b = add_layer(f, "job", "command", NULL, -1);
    assess(f, b);
    assert_string_equal(f->f.items[0].title, "job: audit of kind command not implemented "
                                             "yet: its existence, age, source and restore are "
                                             "unchecked");
}

/* ---- compare -------------------------------------------------------------- */

static struct lb_baseline *baseline(const char *const *names, const int64_t *rows, size_t n)
{
    struct lb_baseline *bl = lb_xcalloc(1, sizeof(*bl));
    size_t i;

    bl->tables = lb_xcalloc(n ? n : 1, sizeof(*bl->tables));
    bl->ntables = n;
    for (i = 0; i < n; i++) {
        bl->tables[i].name = lb_xstrdup(names[i]);
        bl->tables[i].rows = rows[i];
        bl->tables[i].schema_fp = lb_xstrdup("s1");
        bl->tables[i].nfks = 1;
    }
    return bl;
}

static void test_audit_compare_holds_counts_to_the_tolerance(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    static const char *const names[2] = {"public.accounts", "public.inventory"};
    static const int64_t live_rows[2] = {1000, 20000};
    static const int64_t got_rows[2] = {950, 18999};   /* -5.0% passes, -5.005% fails */
    struct lb_baseline *live = baseline(names, live_rows, 2);
    struct lb_baseline *got = baseline(names, got_rows, 2);
    const struct lb_audit_finding *x;

    assert_int_equal(lb_audit_compare(b, live, got, NULL, 0, &f->f), 0);
    assert_true(find(&f->f, "nightly_dump: restore not empty")->ok);
    assert_true(find(&f->f, "nightly_dump: accounts: rows")->ok);
    x = find(&f->f, "nightly_dump: inventory: rows");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump: inventory: 18999 rows restored, 20000 live "
                                  "(-5.005%, tolerance 5%)");
    assert_true(find(&f->f, "nightly_dump: foreign keys validated")->ok);
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 1);
    lb_baseline_free(live);
    lb_baseline_free(got);
}

static void test_audit_compare_an_empty_restore_is_always_critical(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    static const char *const names[2] = {"public.accounts", "public.inventory"};
    static const int64_t live_rows[2] = {1000, 20000};
    static const int64_t zero[2] = {0, 0};
    struct lb_baseline *live = baseline(names, live_rows, 2);
    struct lb_baseline *got = baseline(names, zero, 2);
    struct lb_baseline *empty_live = baseline(names, zero, 2);
    const struct lb_audit_finding *x;

    assert_int_equal(lb_audit_compare(b, live, got, NULL, 0, &f->f), 0);
    x = find(&f->f, "nightly_dump: restore not empty");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "restore is empty: nightly_dump restored 0 rows in 2 "
                                  "tables, staging holds 21000 rows now");
    /* One gap says it; the per-table checks fail without their own. */
    assert_false(find(&f->f, "nightly_dump: inventory: rows")->ok);
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 1);

    /* Even when the source is empty too. */
    lb_audit_findings_free(&f->f);
    assert_int_equal(lb_audit_compare(b, empty_live, got, NULL, 0, &f->f), 0);
    assert_int_equal(find(&f->f, "nightly_dump: restore not empty")->severity, LB_SEV_CRITICAL);
    lb_baseline_free(live);
    lb_baseline_free(got);
    lb_baseline_free(empty_live);
}

static void test_audit_compare_finds_missing_tables_lost_keys_and_a_lying_provenance(void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    static const char *const live_names[2] = {"public.accounts", "public.inventory"};
    static const char *const got_names[2] = {"public.accounts", "public.legacy"};
    static const int64_t live_rows[2] = {1000, 20000};
    static const int64_t got_rows[2] = {1000, 7};
    struct lb_baseline *live = baseline(live_names, live_rows, 2);
    struct lb_baseline *got = baseline(got_names, got_rows, 2);
    const struct lb_audit_finding *x;

    got->tables[0].nfks = 0;
    free(got->tables[0].schema_fp);
    got->tables[0].schema_fp = lb_xstrdup("s2");
    assert_int_equal(lb_audit_compare(b, live, got, &f->prov, 2, &f->f), 0);
    x = find(&f->f, "nightly_dump: inventory: rows");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump: inventory is missing from the restore "
                                  "(20000 rows live)");
    assert_int_equal(find(&f->f, "nightly_dump: accounts: schema")->severity, LB_SEV_MAJOR);
    assert_string_equal(find(&f->f, "nightly_dump: accounts: foreign keys kept")->title,
                        "nightly_dump: accounts came back with 0 of its 1 foreign keys");
    assert_int_equal(find(&f->f, "nightly_dump: legacy: rows")->severity, LB_SEV_MINOR);
    /* The provenance says 20000 inventory rows; the archive held none. */
    x = find(&f->f, "nightly_dump: inventory: as its provenance records");
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "nightly_dump: inventory: no rows restored, 20000 recorded "
                                  "in its provenance: the archive does not hold what its "
                                  "provenance claims");
    assert_true(find(&f->f, "nightly_dump: accounts: as its provenance records")->ok);
    assert_string_equal(find(&f->f, "nightly_dump: foreign keys validated")->title,
                        "nightly_dump: 2 foreign key(s) are NOT VALID after the restore: rows "
                        "violating them were never checked");
    lb_baseline_free(live);
    lb_baseline_free(got);
}

static void test_audit_compare_holds_a_physical_backup_to_its_provenance_within_the_tolerance(
    void **state)
{
    struct fixture *f = *state;
    const struct lb_env_backup *b = add_layer(f, "base", "basebackup", "/b/base", 26 * HOUR_MS);
    static const char *const names[4] = {"public.accounts", "public.inventory",
                                         "public.transactions", "public.users"};
    /* Counted just before the backup started; a few commits later it was
     * consistent: within 5% passes, 10% short does not. */
    static const int64_t got_rows[4] = {1000, 20000, 100400, 4500};
    struct lb_baseline *got = baseline(names, got_rows, 4);
    const struct lb_audit_finding *x;

    assert_int_equal(lb_audit_compare(b, NULL, got, &f->prov, 0, &f->f), 0);
    x = find(&f->f, "base: transactions: as its provenance records");
    assert_true(x->ok);
    assert_string_equal(x->expected, "100000 (within 5%)");
    x = find(&f->f, "base: users: as its provenance records");
    assert_false(x->ok);
    assert_int_equal(x->severity, LB_SEV_CRITICAL);
    assert_string_equal(x->title, "base: users: 4500 rows restored, 5000 recorded in its "
                                  "provenance (tolerance 5%): the backup does not hold what its "
                                  "provenance claims");
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 1);
    /* A dump's provenance counts in its own snapshot: exact. */
    lb_audit_findings_free(&f->f);
    b = add_layer(f, "dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    assert_int_equal(lb_audit_compare(b, NULL, got, &f->prov, 0, &f->f), 0);
    assert_false(find(&f->f, "dump: transactions: as its provenance records")->ok);
    assert_int_equal(ngaps(&f->f, LB_SEV_CRITICAL), 2);
    lb_baseline_free(got);
}

/* ---- the run -------------------------------------------------------------- */

static char *write_basebackup(struct fixture *f, const char *name, int64_t taken_at,
                              const char *sysid)
{
    char *path = lb_xasprintf("%s/%s", f->dir, name);
    struct lb_provenance p = f->prov;
    struct lb_err err = {0};

    assert_int_equal(mkdir(path, 0700), 0);
    p.kind = "basebackup";
    p.taken_at = taken_at;
    p.source_system_identifier = (char *)sysid;
    assert_int_equal(lb_provenance_write(path, &p, &err), 0);
    return path;
}

static size_t gaps_titled(const struct lb_run_view *v, const char *severity, const char *needle)
{
    size_t i, n = 0;

    for (i = 0; i < v->ngaps; i++)
        n += strcmp(v->gaps[i].severity, severity) == 0 && strstr(v->gaps[i].title, needle);
    return n;
}

static void test_audit_run_records_a_step_per_layer_and_fails_on_a_critical_gap(void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};
    char *good = write_basebackup(f, "good", lb_wall_ms() - HOUR_MS, STAGING_SYSID);
    char *wrong = write_basebackup(f, "wrong", lb_wall_ms() - HOUR_MS, DEPRECATED_SYSID);
    char *missing = lb_xasprintf("%s/missing.dump", f->dir);
    char *junk = lb_xasprintf("%s/junk.dump", f->dir);

    assert_int_equal(lb_file_write(junk, "not an archive\n", 15, &err), 0);
    add_layer(f, "base_good", "basebackup", good, 26 * HOUR_MS);
    add_layer(f, "base_wrong", "basebackup", wrong, 26 * HOUR_MS);
    add_layer(f, "dump_missing", "pg_dump", missing, 26 * HOUR_MS);
    add_layer(f, "dump_junk", "pg_dump", junk, 26 * HOUR_MS);
    o.store = f->store;
    o.env = f->env;
    assert_int_equal(lb_audit_run(&o, &res, &err), 0);
    assert_int_equal(res.summary.exit_code, LB_EXIT_GAPS);
    assert_int_equal(res.layers, 4);
    assert_int_equal(lb_store_load_run(f->store, res.run_id, &f->view, &err), 0);
    assert_string_equal(f->view->kind, "audit");
    assert_string_equal(f->view->scenario_id, "audit");
    assert_string_equal(f->view->scenario_title, "Backup audit of unit");
    assert_string_equal(f->view->status, "failed");
    assert_int_equal(f->view->nsteps, 4);
    assert_string_equal(f->view->steps[0].name, "audit base_good");
    assert_string_equal(f->view->steps[0].kind, "check");
    assert_string_equal(f->view->steps[0].status, "passed");
    assert_string_equal(f->view->steps[0].declared_at, "/etc/lifeboat/unit.lua:7");
    /* The good layer has no gap; each bad one has its own. */
    for (size_t i = 0; i < f->view->ngaps; i++)
        assert_int_not_equal(f->view->gaps[i].step_seq, 1);
    assert_int_equal(gaps_titled(f->view, "critical", "backup source is not the pinned "
                                                      "target: base_wrong"), 1);
    assert_int_equal(gaps_titled(f->view, "critical", "dump_missing: "), 1);
    assert_int_equal(gaps_titled(f->view, "critical", "dump_junk: "), 1);
    assert_int_equal(gaps_titled(f->view, "critical", "not a readable pg_dump archive"), 1);
    assert_int_equal(res.summary.gaps_critical, 3);
    free(good);
    free(wrong);
    free(missing);
    free(junk);
}

static void test_audit_run_passes_when_every_layer_is_good(void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};
    char *good = write_basebackup(f, "good", lb_wall_ms() - HOUR_MS, STAGING_SYSID);

    add_layer(f, "base_good", "basebackup", good, 26 * HOUR_MS);
    o.store = f->store;
    o.env = f->env;
    assert_int_equal(lb_audit_run(&o, &res, &err), 0);
    assert_int_equal(res.summary.exit_code, LB_EXIT_PASSED);
    assert_string_equal(res.summary.status, "passed");
    assert_int_equal(lb_store_load_run(f->store, res.run_id, &f->view, &err), 0);
    assert_int_equal(f->view->ngaps, 0);
    assert_true(f->view->nchecks >= 5);
    free(good);
}

static void test_audit_run_refuses_bad_options_before_recording_anything(void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};
    struct lb_run_view **runs = NULL;
    size_t n = 9;
    const char *const layers[] = {"nope", NULL};

    add_layer(f, "nightly_dump", "pg_dump", "/b/n.dump", 26 * HOUR_MS);
    o.store = f->store;
    o.env = f->env;
    o.restore = 1;
    assert_int_equal(lb_audit_run(&o, &res, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "audit --restore needs a scratch target"));
    o.restore = 0;
    o.layers = layers;
    assert_int_equal(lb_audit_run(&o, &res, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "no backup layer 'nope' is declared"));
    assert_string_equal(res.run_id, "");
    assert_int_equal(lb_store_list_runs(f->store, NULL, 10, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    lb_run_list_free(runs, n);
}

static void test_audit_run_refuses_a_physical_restore_it_cannot_place_before_recording_anything(
    void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};
    struct lb_run_view **runs = NULL;
    size_t n = 9;
    struct lb_env_backup *b;

    /* Restored beside the source's data directory: none is declared. */
    b = add_layer(f, "base", "basebackup", "/b/base", 26 * HOUR_MS);
    b->wal_archive = lb_xstrdup("/b/wal");
    o.store = f->store;
    o.env = f->env;
    o.restore = 1;
    assert_int_equal(lb_audit_run(&o, &res, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "audit --restore of basebackup layer 'base' needs its "
                                    "source target to declare a data_dir"));
    /* A base backup without its WAL archive cannot recover. */
    f->env->targets[0].data_dir = lb_xasprintf("%s/data", f->dir);
    free(f->env->backups[0].wal_archive);
    f->env->backups[0].wal_archive = NULL;
    assert_int_equal(lb_audit_run(&o, &res, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "needs its wal_archive"));
    assert_int_equal(lb_store_list_runs(f->store, NULL, 10, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    lb_run_list_free(runs, n);
}

static void test_audit_run_restores_nothing_from_a_source_it_cannot_prove(void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};
    char *good = write_basebackup(f, "good", lb_wall_ms() - HOUR_MS, STAGING_SYSID);
    char *data = lb_xasprintf("%s/data", f->dir);
    struct lb_env_backup *b;
    DIR *d;
    struct dirent *e;
    size_t entries = 0;

    /* No scratch target: a base backup is restored beside its source, not
     * there. The source (port 1) cannot be reached, so it is not proven,
     * and nothing is made. */
    assert_int_equal(mkdir(data, 0700), 0);
    f->env->targets[0].data_dir = lb_xstrdup(data);
    b = add_layer(f, "base", "basebackup", good, 26 * HOUR_MS);
    b->wal_archive = lb_xstrdup(f->dir);
    o.store = f->store;
    o.env = f->env;
    o.restore = 1;
    assert_int_equal(lb_audit_run(&o, &res, &err), 0);
    assert_int_equal(lb_store_load_run(f->store, res.run_id, &f->view, &err), 0);
    assert_int_equal(f->view->nsteps, 1);
    assert_string_equal(f->view->steps[0].status, "failed");
    assert_non_null(strstr(f->view->steps[0].error, "target 'staging'"));
    assert_true(f->view->steps[0].output_tail == NULL ||
                strstr(f->view->steps[0].output_tail, "restoring") == NULL);
    /* good, good.provenance.json, data: no sibling of data. */
    d = opendir(f->dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 3);
    free(good);
    free(data);
}

static void test_audit_run_of_an_environment_without_layers_is_critical(void **state)
{
    struct fixture *f = *state;
    struct lb_audit_opts o = {0};
    struct lb_audit_result res;
    struct lb_err err = {0};

    o.store = f->store;
    o.env = f->env;
    assert_int_equal(lb_audit_run(&o, &res, &err), 0);
    assert_int_equal(res.summary.exit_code, LB_EXIT_GAPS);
    assert_int_equal(res.summary.gaps_critical, 1);
    assert_int_equal(lb_store_load_run(f->store, res.run_id, &f->view, &err), 0);
    assert_string_equal(f->view->gaps[0].title,
                        "environment 'unit' declares no backup layers: nothing could be restored");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit_passes_a_good_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_a_backup_older_than_max_age, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_a_backup_from_another_system_identifier,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_a_backup_of_another_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_an_empty_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_a_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_finds_an_empty_or_unreadable_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_without_provenance_is_major_and_ages_by_mtime,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_without_max_age_or_source_never_passes_silently,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_distrusts_a_snapshot_time_in_the_future, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_kinds_it_cannot_inspect_are_a_minor_gap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_compare_holds_counts_to_the_tolerance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_compare_an_empty_restore_is_always_critical,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_audit_compare_finds_missing_tables_lost_keys_and_a_lying_provenance, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_audit_compare_holds_a_physical_backup_to_its_provenance_within_the_tolerance,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_audit_run_records_a_step_per_layer_and_fails_on_a_critical_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_run_passes_when_every_layer_is_good, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_run_refuses_bad_options_before_recording_anything,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_audit_run_refuses_a_physical_restore_it_cannot_place_before_recording_anything,
            setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_run_restores_nothing_from_a_source_it_cannot_prove,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_run_of_an_environment_without_layers_is_critical,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
