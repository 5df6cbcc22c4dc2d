/*
 * Unit tests of cluster (include/lifeboat/cluster.h): parsing what
 * pg_controldata, backup_label and `pgbackrest info --output=json` say
 * (fixtures captured from a real sandbox, see
 * tests/fixtures/backup/README.md), the recovery settings written for a
 * point-in-time recovery, the refusal of a target the backup cannot reach,
 * declared commands, fences, swaps and PITR preparation on plain files.
 *
 * The tests named test_cluster_live_* need a real two-region sandbox: set
 * LB_TEST_SANDBOX to its directory (tests/integration/
 * test_sandbox_pitr_and_pgbackrest_restore.sh does, on a sandbox of its
 * own) or they are skipped. They run in order: the last one moves the
 * primary to a new timeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifeboat/backup.h"
#include "lifeboat/cluster.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "lifeboat/script.h"

static char *read_fixture(const char *name)
{
    char *path = lb_xasprintf("%s/backup/%s", LB_TEST_FIXTURES, name);
    struct lb_err err = {0};
    char *text = NULL;

    if (lb_file_read(path, &text, NULL, &err) != 0)
        fail_msg("fixture %s: %s", path, err.msg);
    free(path);
    return text;
}

/* A fresh private directory under $TMPDIR; caller removes it. */
static char *temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = lb_xasprintf("%s/lb-test-cluster-XXXXXX", base != NULL && *base ? base : "/tmp");

    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    /* The postgres user (when root) must reach the copies made inside. */
    chmod(dir, 0755);
    return dir;
}

static void rm_rf(const char *path)
{
    const char *argv[] = {"rm", "-rf", path, NULL};
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    struct lb_err err = {0};

    po.argv = argv;
    po.deadline_ms = lb_mono_ms() + 30000;
    assert_int_equal(lb_proc_run(&po, &res, &err), 0);
    lb_proc_result_free(&res);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = lb_path_join(dir, name);
    struct lb_err err = {0};

    if (lb_file_write(path, text, strlen(text), &err) != 0)
        fail_msg("%s: %s", path, err.msg);
    free(path);
}

static int file_has(const char *dir, const char *name)
{
    char *path = lb_path_join(dir, name);
    int yes = lb_file_exists(path);

    free(path);
    return yes;
}

static char *file_text(const char *dir, const char *name)
{
    char *path = lb_path_join(dir, name);
    struct lb_err err = {0};
    char *text = NULL;

    if (lb_file_read(path, &text, NULL, &err) != 0)
        fail_msg("%s: %s", path, err.msg);
    free(path);
    return text;
}

/* ---- pg_controldata ----------------------------------------------------- */

static void test_cluster_controldata_parse_reads_identity_state_and_timeline(void **state)
{
    char *text = read_fixture("pg_controldata.txt");
    struct lb_cluster_control ctl;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_cluster_controldata_parse(text, &ctl, &err), 0);
    assert_string_equal(ctl.system_identifier, "7712515457517721984");
    assert_string_equal(ctl.state, "in production");
    assert_int_equal(ctl.timeline, 4);
    assert_string_equal(ctl.checkpoint_lsn, "0/27000060");
    assert_string_equal(ctl.redo_wal_file, "000000040000000000000027");
    free(text);
}

static void test_cluster_controldata_parse_rejects_other_text(void **state)
{
    struct lb_cluster_control ctl;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_cluster_controldata_parse("pg_controldata: error: could not open file",
                                                  &ctl, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "Database system identifier"));
    assert_int_equal(lb_cluster_controldata_parse(NULL, &ctl, &err), LB_EINVAL);
}

/* ---- backup_label -------------------------------------------------------- */

static void test_cluster_backup_label_parse_reads_the_start_of_a_real_label(void **state)
{
    char *text = read_fixture("backup_label.txt");
    struct lb_backup_label l;
    struct lb_err err = {0};
    int64_t want;

    (void)state;
    assert_int_equal(lb_backup_label_parse(text, &l, &err), 0);
    assert_string_equal(l.start_lsn, "0/8000028");
    assert_string_equal(l.start_wal, "000000010000000000000008");
    assert_string_equal(l.checkpoint_lsn, "0/8000060");
    assert_string_equal(l.label, "sandbox base backup");
    assert_int_equal(l.timeline, 1);
    assert_int_equal(lb_wall_parse("2026-11-26T16:19:12Z", &want), 0);
    assert_int_equal(l.start_ms, want);
    free(text);
}

static void test_cluster_backup_label_parse_honours_offsets_and_refuses_to_guess_zones(void **state)
{
    static const char head[] = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
    struct lb_backup_label l;
    struct lb_err err = {0};
    char text[256];
    int64_t utc;

    (void)state;
    assert_int_equal(lb_wall_parse("2026-01-02T03:04:05Z", &utc), 0);
    snprintf(text, sizeof(text), "%sSTART TIME: 2026-01-02 05:04:05 +02\n", head);
    assert_int_equal(lb_backup_label_parse(text, &l, &err), 0);
    assert_int_equal(l.start_ms, utc);
    snprintf(text, sizeof(text), "%sSTART TIME: 2026-01-01 21:34:05 -05:30\n", head);
    assert_int_equal(lb_backup_label_parse(text, &l, &err), 0);
    assert_int_equal(l.start_ms, utc);
    snprintf(text, sizeof(text), "%sSTART TIME: 2026-01-02 04:04:05 CET\n", head);
    assert_int_equal(lb_backup_label_parse(text, &l, &err), 0);
    assert_int_equal(l.start_ms, -1);
    assert_int_equal(l.timeline, -1);
}

static void test_cluster_backup_label_parse_rejects_a_text_without_a_start(void **state)
{
    struct lb_backup_label l;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_backup_label_parse("LABEL: x\nSTART TIME: 2026-01-02 03:04:05 UTC\n",
                                           &l, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "START WAL LOCATION"));
}

/* ---- recovery settings ----------------------------------------------------- */

/* The value of the last "name = " line of a configuration text, or NULL. */
static char *conf_value(const char *text, const char *name)
{
    char *needle = lb_xasprintf("\n%s = ", name);
    const char *p = text, *hit = NULL, *end;
    char *v;

    while ((p = strstr(p, needle)) != NULL) {
        hit = p + strlen(needle);
        p++;
    }
    free(needle);
    if (hit == NULL)
        return NULL;
    end = strchr(hit, '\n');
    v = lb_xstrndup(hit, end != NULL ? (size_t)(end - hit) : strlen(hit));
    return v;
}

static void assert_conf(const char *text, const char *name, const char *want)
{
    char *v = conf_value(text, name);

    if (v == NULL)
        fail_msg("no %s in:\n%s", name, text);
    if (strcmp(v, want) != 0)
        fail_msg("%s = %s, expected %s", name, v, want);
    free(v);
}

/* How many lines set `name`. */
static int conf_count(const char *text, const char *name)
{
    char *needle = lb_xasprintf("\n%s = ", name);
    const char *p = text;
    int n = 0;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p++;
    }
    free(needle);
    return n;
}

static void test_cluster_recovery_conf_for_a_time_target_stops_before_it_and_promotes(void **state)
{
    struct lb_recovery_target t = {0};
    struct lb_err err = {0};
    char *text = NULL;

    (void)state;
    t.kind = LB_RECOVERY_TIME;
    assert_int_equal(lb_wall_parse("2026-11-26T16:19:12.345Z", &t.time_ms), 0);
    assert_int_equal(lb_recovery_conf_text("/srv/wal archive", &t, NULL, &text, &err), 0);
    assert_conf(text, "restore_command", "'cp ''/srv/wal archive/%f'' \"%p\"'");
    assert_conf(text, "recovery_target_time", "'2026-11-26 16:19:12.345+00'");
    assert_conf(text, "recovery_target_inclusive", "off");
    assert_conf(text, "recovery_target_timeline", "'latest'");
    assert_conf(text, "recovery_target_action", "'promote'");
    /* Any other kind of target a copied configuration holds is cleared. */
    assert_conf(text, "recovery_target", "''");
    assert_conf(text, "recovery_target_lsn", "''");
    assert_conf(text, "recovery_target_xid", "''");
    assert_int_equal(conf_count(text, "recovery_target_time"), 1);
    /* The server refuses an empty value for one kind after another kind
     * is set: the target comes after every empty one. */
    assert_true(strstr(text, "recovery_target_time = '2026") >
                strstr(text, "recovery_target_xid = ''"));
    assert_true(strstr(text, "recovery_target_time = '2026") >
                strstr(text, "recovery_target = ''"));
    free(text);
}

static void test_cluster_recovery_conf_for_lsn_immediate_and_latest_targets(void **state)
{
    static const char *const settings[] = {"port", "54399", "cluster_name", "it's", NULL};
    struct lb_recovery_target t = {0};
    struct lb_err err = {0};
    char *text = NULL;

    (void)state;
    t.kind = LB_RECOVERY_LSN;
    t.lsn = "0/3000060";
    t.inclusive = 1;
    t.timeline = "current";
    assert_int_equal(lb_recovery_conf_text("/a%b", &t, settings, &text, &err), 0);
    assert_conf(text, "restore_command", "'cp ''/a%%b/%f'' \"%p\"'");
    assert_conf(text, "recovery_target_lsn", "'0/3000060'");
    assert_conf(text, "recovery_target_time", "''");
    assert_conf(text, "recovery_target_inclusive", "on");
    assert_conf(text, "recovery_target_timeline", "'current'");
    assert_conf(text, "port", "'54399'");
    assert_conf(text, "cluster_name", "'it''s'");
    free(text);
    text = NULL;

    memset(&t, 0, sizeof(t));
    t.kind = LB_RECOVERY_IMMEDIATE;
    assert_int_equal(lb_recovery_conf_text("/a", &t, NULL, &text, &err), 0);
    assert_conf(text, "recovery_target", "'immediate'");
    assert_null(conf_value(text, "recovery_target_inclusive"));
    free(text);
    text = NULL;

    t.kind = LB_RECOVERY_LATEST;
    assert_int_equal(lb_recovery_conf_text("/a", &t, NULL, &text, &err), 0);
    assert_conf(text, "recovery_target", "''");
    assert_conf(text, "recovery_target_time", "''");
    assert_conf(text, "recovery_target_action", "'promote'");
    free(text);
}

static void test_cluster_recovery_conf_refuses_bad_input(void **state)
{
    static const char *const bad_name[] = {"port; drop", "1", NULL};
    static const char *const bad_value[] = {"port", "1\nrestore_command = 'rm'", NULL};
    struct lb_recovery_target t = {0};
    struct lb_err err = {0};
    char *text = NULL;

    (void)state;
    t.kind = LB_RECOVERY_LSN;
    t.lsn = "0/3000060'; x";
    assert_int_equal(lb_recovery_conf_text("/a", &t, NULL, &text, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "is not X/Y"));
    t.kind = LB_RECOVERY_LATEST;
    assert_int_equal(lb_recovery_conf_text("/a\nb", &t, NULL, &text, &err), LB_EINVAL);
    assert_int_equal(lb_recovery_conf_text("/a", &t, bad_name, &text, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "not a server setting name"));
    assert_int_equal(lb_recovery_conf_text("/a", &t, bad_value, &text, &err), LB_EINVAL);
    assert_null(text);
}

static void test_cluster_recovery_target_check_refuses_instants_the_backup_cannot_reach(void **state)
{
    struct lb_recovery_target t = {0};
    struct lb_err err = {0};
    int64_t started, finished;

    (void)state;
    assert_int_equal(lb_wall_parse("2026-11-26T16:19:12Z", &started), 0);
    finished = started + 2500;
    t.kind = LB_RECOVERY_TIME;
    t.time_ms = started - 3600 * 1000;
    assert_int_equal(lb_recovery_target_check(&t, "base backup", started, finished, &err),
                     LB_EINVAL);
    assert_string_equal(err.msg, "recovery target 2026-11-26T15:19:12.000Z is before the base "
                                 "backup (taken 2026-11-26T16:19:12.000Z): nothing can be "
                                 "restored to that instant");
    t.time_ms = started + 1000;
    assert_int_equal(lb_recovery_target_check(&t, "base backup", started, finished, &err),
                     LB_EINVAL);
    assert_non_null(strstr(err.msg, "before the base backup was consistent (finished "
                                    "2026-11-26T16:19:14.500Z)"));
    t.time_ms = finished;
    assert_int_equal(lb_recovery_target_check(&t, "base backup", started, finished, &err), 0);
    t.time_ms = started - 1;
    assert_int_equal(lb_recovery_target_check(&t, "base backup", started, -1, &err), LB_EINVAL);
    t.kind = LB_RECOVERY_IMMEDIATE;
    assert_int_equal(lb_recovery_target_check(&t, "base backup", started, finished, &err), 0);
}

/* ---- pgBackRest info ---------------------------------------------------------- */

static void test_cluster_pgbackrest_info_parse_reads_backups_of_both_repos(void **state)
{
    char *json = read_fixture("pgbackrest-info.json");
    struct lb_pgbackrest_info *info = NULL;
    const struct lb_pgbackrest_backup *b;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_pgbackrest_info_parse(json, "inventory", &info, &err), 0);
    assert_string_equal(info->stanza, "inventory");
    assert_int_equal(info->status_code, 0);
    assert_string_equal(info->status_message, "ok");
    /* Exact: a double would have made it 7712515457517721600. */
    assert_string_equal(info->system_identifier, "7712515457517721984");
    assert_string_equal(info->pg_version, "15");
    assert_int_equal(info->nbackups, 3);
    assert_string_equal(info->backups[0].label, "20261126-161909F");
    assert_int_equal(info->backups[0].repo, 2);
    assert_string_equal(info->backups[0].type, "full");
    assert_int_equal(info->backups[0].start_ms, INT64_C(1795709949000));
    assert_int_equal(info->backups[0].stop_ms, INT64_C(1795709952000));
    assert_string_equal(info->backups[0].lsn_start, "0/6000028");
    assert_string_equal(info->backups[0].lsn_stop, "0/7000050");
    assert_string_equal(info->backups[0].wal_start, "000000010000000000000006");
    assert_string_equal(info->backups[0].wal_stop, "000000010000000000000007");
    assert_int_equal(info->backups[0].size, 46022200);
    assert_int_equal(info->backups[0].repo_size, 12117966);
    assert_false(info->backups[0].error);
    assert_int_equal(info->narchives, 2);
    assert_int_equal(info->archives[1].repo, 2);
    assert_string_equal(info->archives[1].min, "000000010000000000000003");

    b = lb_pgbackrest_latest(info, 1);
    assert_non_null(b);
    assert_string_equal(b->label, "20261126-162002F");
    b = lb_pgbackrest_latest(info, 2);
    assert_non_null(b);
    assert_string_equal(b->label, "20261126-161909F");
    b = lb_pgbackrest_latest(info, 0);
    assert_string_equal(b->label, "20261126-162002F");
    assert_null(lb_pgbackrest_latest(info, 3));
    lb_pgbackrest_info_free(info);
    free(json);
}

static void test_cluster_pgbackrest_info_parse_refuses_unknown_stanzas_and_other_text(void **state)
{
    char *json = read_fixture("pgbackrest-info.json");
    struct lb_pgbackrest_info *info = NULL;
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_pgbackrest_info_parse(json, "billing", &info, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "billing"));
    assert_null(info);
    assert_int_equal(lb_pgbackrest_info_parse("ERROR: [055]: unable to load info", NULL, &info,
                                              &err), LB_EINVAL);
    assert_int_equal(lb_pgbackrest_info_parse("[]", NULL, &info, &err), LB_ENOTFOUND);
    free(json);
}

static void test_cluster_pgbackrest_provenance_sits_beside_the_config(void **state)
{
    char *p = lb_pgbackrest_provenance_path("/srv/pgbr/pgbackrest.conf", 2);

    (void)state;
    assert_string_equal(p, "/srv/pgbr/repo2.provenance.json");
    free(p);
    p = lb_pgbackrest_provenance_path(NULL, 1);
    assert_string_equal(p, "/etc/pgbackrest/repo1.provenance.json");
    free(p);
}

/* ---- scratch servers -------------------------------------------------------------- */

static void test_cluster_local_conninfo_points_a_target_at_a_scratch_port(void **state)
{
    char *ci;
    int port;

    (void)state;
    ci = lb_cluster_local_conninfo("host=pg-staging.internal hostaddr=10.0.0.5 port=5432 "
                                   "dbname=inventory user=lifeboat sslmode=prefer", 54999);
    assert_non_null(ci);
    assert_string_equal(ci, "user=lifeboat dbname=inventory host=127.0.0.1 port=54999 "
                            "sslmode=prefer");
    free(ci);
    ci = lb_cluster_local_conninfo("postgresql://lifeboat@db.example/inventory", 6000);
    assert_non_null(ci);
    assert_non_null(strstr(ci, "host=127.0.0.1 port=6000"));
    assert_non_null(strstr(ci, "dbname=inventory"));
    assert_non_null(strstr(ci, "user=lifeboat"));
    free(ci);
    assert_null(lb_cluster_local_conninfo("host='unterminated", 6000));
    assert_null(lb_cluster_local_conninfo("dbname=x", 0));
    assert_null(lb_cluster_local_conninfo("dbname=x", 65536));
    assert_null(lb_cluster_local_conninfo(NULL, 6000));
    port = lb_cluster_free_port();
    assert_true(port > 0 && port <= 65535);
}

/* ---- point-in-time recovery on plain files -------------------------------------- */

/* A fake plain base backup taken at 2026-11-26 16:19:12 UTC, finished 2.5 s
 * later (provenance), and an empty WAL archive. */
struct pitr_fixture {
    char *dir, *base, *archive, *target_dir;
    int64_t started, finished;
};

static int setup_pitr(void **state)
{
    struct pitr_fixture *f = lb_xcalloc(1, sizeof(*f));
    struct lb_provenance p = {0};
    struct lb_err err = {0};
    char *sub;

    f->dir = temp_dir();
    f->base = lb_path_join(f->dir, "base");
    f->archive = lb_path_join(f->dir, "wal");
    f->target_dir = lb_path_join(f->dir, "restored");
    assert_int_equal(mkdir(f->base, 0700), 0);
    assert_int_equal(mkdir(f->archive, 0755), 0);
    sub = lb_path_join(f->base, "base");
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    write_file(f->base, "PG_VERSION", "15\n");
    write_file(f->base, "backup_label",
               "START WAL LOCATION: 0/8000028 (file 000000010000000000000008)\n"
               "CHECKPOINT LOCATION: 0/8000060\n"
               "START TIME: 2026-11-26 16:19:12 UTC\n"
               "LABEL: fixture\nSTART TIMELINE: 1\n");
    write_file(f->base, "postgresql.auto.conf", "port = 1\n");
    write_file(f->base, "postmaster.pid", "4242\n");
    write_file(f->base, "standby.signal", "");
    write_file(f->base, "base/16384", "a data file");
    assert_int_equal(lb_wall_parse("2026-11-26T16:19:12Z", &f->started), 0);
    f->finished = f->started + 2500;
    p.kind = (char *)"basebackup";
    p.taken_at = f->started;
    p.finished_at = f->finished;
    assert_int_equal(lb_provenance_write(f->base, &p, &err), 0);
    *state = f;
    return 0;
}

static int teardown_pitr(void **state)
{
    struct pitr_fixture *f = *state;

    rm_rf(f->dir);
    free(f->dir);
    free(f->base);
    free(f->archive);
    free(f->target_dir);
    free(f);
    return 0;
}

static void test_cluster_pitr_prepare_refuses_a_target_before_the_base_backup(void **state)
{
    struct pitr_fixture *f = *state;
    struct lb_pitr_opts o = {0};
    struct lb_tool_run run = {0};
    struct lb_err err = {0};

    o.base_backup = f->base;
    o.wal_archive = f->archive;
    o.data_dir = f->target_dir;
    o.target.kind = LB_RECOVERY_TIME;
    o.target.time_ms = f->started - 24 * 3600 * 1000;
    o.deadline_ms = lb_mono_ms() + 30000;
    assert_int_equal(lb_backup_pitr_prepare(&o, &run, &err), LB_EINVAL);
    assert_string_equal(err.msg, "point-in-time recovery: recovery target "
                                 "2026-11-25T16:19:12.000Z is before the base backup (taken "
                                 "2026-11-26T16:19:12.000Z): nothing can be restored to that "
                                 "instant");
    assert_false(lb_file_exists(f->target_dir));
    assert_int_not_equal(run.exit_status, 0);

    /* Between its start and its end: still nothing consistent to stop at. */
    o.target.time_ms = f->started + 1000;
    assert_int_equal(lb_backup_pitr_prepare(&o, &run, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "was consistent"));
    assert_false(lb_file_exists(f->target_dir));
    lb_tool_run_free(&run);
}

static void test_cluster_pitr_prepare_copies_the_backup_and_writes_recovery_settings(void **state)
{
    static const char *const settings[] = {"port", "54399", NULL};
    struct pitr_fixture *f = *state;
    struct lb_pitr_opts o = {0};
    struct lb_tool_run run = {0};
    struct lb_err err = {0};
    struct stat st;
    char *conf, *data;

    o.base_backup = f->base;
    o.wal_archive = f->archive;
    o.data_dir = f->target_dir;
    o.target.kind = LB_RECOVERY_TIME;
    o.target.time_ms = f->finished + 60000;
    o.settings = settings;
    o.deadline_ms = lb_mono_ms() + 30000;
    if (lb_backup_pitr_prepare(&o, &run, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(stat(f->target_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    if (lb_proc_is_root()) {
        struct passwd *pw = getpwnam("postgres");
        assert_non_null(pw);
        assert_int_equal(st.st_uid, pw->pw_uid);
    }
    assert_true(file_has(f->target_dir, "recovery.signal"));
    assert_true(file_has(f->target_dir, "backup_label"));
    assert_false(file_has(f->target_dir, "postmaster.pid"));
    assert_false(file_has(f->target_dir, "standby.signal"));
    data = file_text(f->target_dir, "base/16384");
    assert_string_equal(data, "a data file");
    conf = file_text(f->target_dir, "postgresql.auto.conf");
    assert_true(lb_str_starts(conf, "port = 1\n"));
    assert_conf(conf, "port", "'54399'");
    assert_conf(conf, "recovery_target_time", "'2026-11-26 16:20:14.500+00'");
    assert_non_null(strstr(conf, f->archive));
    assert_int_equal(run.exit_status, 0);
    assert_non_null(strstr(run.cmdline, "--target time 2026-11-26 16:20:14.500+00"));
    assert_non_null(strstr(run.output, "recovery.signal"));

    /* Into a directory that is not empty: refused, left alone. */
    assert_int_equal(lb_backup_pitr_prepare(&o, &run, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "not an empty directory"));
    assert_true(file_has(f->target_dir, "recovery.signal"));
    free(conf);
    free(data);
    lb_tool_run_free(&run);
}

static void test_cluster_pitr_prepare_needs_a_base_backup_and_an_archive(void **state)
{
    struct pitr_fixture *f = *state;
    struct lb_pitr_opts o = {0};
    struct lb_err err = {0};
    char *missing = lb_path_join(f->dir, "nothing");

    o.base_backup = missing;
    o.wal_archive = f->archive;
    o.data_dir = f->target_dir;
    o.deadline_ms = lb_mono_ms() + 30000;
    assert_int_equal(lb_backup_pitr_prepare(&o, NULL, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "base backup"));
    o.base_backup = f->base;
    o.wal_archive = missing;
    assert_int_equal(lb_backup_pitr_prepare(&o, NULL, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "WAL archive"));
    assert_false(lb_file_exists(f->target_dir));
    free(missing);
}

/* ---- declared commands, fences, swaps ------------------------------------------ */

static void test_cluster_declared_commands_run_and_undeclared_ones_are_refused(void **state)
{
    char *t_argv[] = {(char *)"true", NULL};
    char *f_argv[] = {(char *)"sh", (char *)"-c", (char *)"echo no such region; exit 3", NULL};
    struct lb_env_target t = {0};
    struct lb_tool_run run = {0};
    struct lb_err err = {0};
    int64_t deadline = lb_mono_ms() + 30000;

    (void)state;
    t.name = (char *)"staging";
    assert_int_equal(lb_cluster_stop(&t, NULL, deadline, &run, &err), LB_EINVAL);
    assert_string_equal(err.msg, "no stop command declared for target staging");
    assert_int_equal(lb_cluster_stop(&t, "fast", deadline, &run, &err), LB_EINVAL);
    assert_int_equal(lb_cluster_start(&t, deadline, &run, &err), LB_EINVAL);
    assert_string_equal(err.msg, "no start command declared for target staging");
    assert_int_equal(lb_cluster_fence(&t, deadline, &run, &err), LB_EINVAL);
    assert_string_equal(err.msg, "no fence command declared for target staging");
    assert_int_equal(lb_cluster_unfence(&t, deadline, &run, &err), LB_EINVAL);
    assert_string_equal(err.msg, "no unfence command declared for target staging");
    assert_int_equal(lb_cluster_stop(&t, "gently", deadline, &run, &err), LB_EINVAL);

    t.stop_argv = t_argv;
    t.fence_argv = f_argv;
    assert_int_equal(lb_cluster_stop(&t, "immediate", deadline, &run, &err), 0);
    assert_string_equal(run.cmdline, "true");
    assert_int_equal(run.exit_status, 0);
    assert_int_equal(lb_cluster_fence(&t, deadline, &run, &err), LB_EPROC);
    assert_int_equal(run.exit_status, 3);
    assert_non_null(strstr(run.output, "no such region"));
    assert_non_null(strstr(err.msg, "fence of target staging"));
    assert_non_null(strstr(err.msg, "no such region"));
    lb_tool_run_free(&run);
}

static void test_cluster_log_path_is_read_from_the_start_argv(void **state)
{
    char *pg_ctl[] = {(char *)"pg_ctl", (char *)"-D", (char *)"/d", (char *)"-l",
                      (char *)"/d/../server.log", (char *)"start", NULL};
    char *long_form[] = {(char *)"pg_ctl", (char *)"--log=/x.log", (char *)"start", NULL};
    char *none[] = {(char *)"systemctl", (char *)"start", (char *)"postgresql", NULL};
    struct lb_env_target t = {0};

    (void)state;
    assert_null(lb_cluster_log_path(&t));
    t.start_argv = pg_ctl;
    assert_string_equal(lb_cluster_log_path(&t), "/d/../server.log");
    t.start_argv = long_form;
    assert_string_equal(lb_cluster_log_path(&t), "/x.log");
    t.start_argv = none;
    assert_null(lb_cluster_log_path(&t));
}

static void test_cluster_stop_of_a_server_already_stopped_is_not_an_error(void **state)
{
    char *f_argv[] = {(char *)"false", NULL};
    struct lb_env_target t = {0};
    struct lb_err err = {0};
    char *dir = temp_dir();

    (void)state;
    t.name = (char *)"staging";
    t.stop_argv = f_argv;
    assert_int_equal(lb_cluster_stop(&t, NULL, lb_mono_ms() + 30000, NULL, &err), LB_EPROC);
    t.data_dir = dir;   /* no postmaster.pid: nothing runs there */
    assert_false(lb_cluster_running(dir));
    assert_int_equal(lb_cluster_stop(&t, NULL, lb_mono_ms() + 30000, NULL, &err), 0);
    rm_rf(dir);
    free(dir);
}

static void test_cluster_is_fenced_reads_the_marker_and_the_mode(void **state)
{
    struct lb_env_target t = {0};
    char *dir = temp_dir();
    char *data = lb_path_join(dir, "data");
    char *marker = lb_cluster_fence_marker(data);

    (void)state;
    assert_string_equal(marker + strlen(data), ".FENCED");
    assert_int_equal(lb_cluster_is_fenced(&t), -1);
    t.data_dir = data;
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(lb_cluster_is_fenced(&t), 0);
    write_file(dir, "data.FENCED", "2026-11-26T16:19:12Z\n");
    assert_int_equal(lb_cluster_is_fenced(&t), 1);
    assert_int_equal(unlink(marker), 0);
    assert_int_equal(chmod(data, 0), 0);
    assert_int_equal(lb_cluster_is_fenced(&t), 1);
    assert_int_equal(chmod(data, 0700), 0);
    assert_int_equal(lb_cluster_is_fenced(&t), 0);
    rm_rf(dir);
    free(dir);
    free(data);
    free(marker);
}

static void test_cluster_swap_puts_a_sibling_in_place_and_keeps_the_old_one(void **state)
{
    struct lb_env_target t = {0};
    struct lb_err err = {0};
    char *dir = temp_dir();
    char *data = lb_path_join(dir, "data");
    char *other = lb_path_join(dir, "other");
    char *fresh = lb_cluster_sibling_dir(data, "pitr");
    char *old = NULL, *v = NULL;

    (void)state;
    assert_true(lb_str_starts(fresh, data));
    assert_true(lb_str_starts(fresh + strlen(data), ".pitr-"));
    assert_true(lb_str_ends(fresh, "Z"));
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(mkdir(fresh, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    write_file(data, "PG_VERSION", "old\n");
    t.name = (char *)"staging";
    t.data_dir = data;

    /* Not a cluster yet, then not beside the data directory: refused. */
    assert_int_equal(lb_cluster_swap_data_dir(&t, fresh, &old, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "holds no PostgreSQL cluster"));
    write_file(fresh, "PG_VERSION", "new\n");
    assert_int_equal(lb_cluster_swap_data_dir(&t, "/tmp", &old, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "is not beside"));

    assert_int_equal(lb_cluster_swap_data_dir(&t, fresh, &old, &err), 0);
    assert_non_null(old);
    assert_true(lb_str_starts(old + strlen(data), ".old-"));
    v = file_text(data, "PG_VERSION");
    assert_string_equal(v, "new\n");
    free(v);
    v = file_text(old, "PG_VERSION");
    assert_string_equal(v, "old\n");
    assert_false(lb_file_exists(fresh));

    /* Only such siblings may be removed. */
    assert_int_equal(lb_cluster_remove_dir(data, data, &err), LB_EINVAL);
    assert_int_equal(lb_cluster_remove_dir(data, other, &err), LB_EINVAL);
    assert_int_equal(lb_cluster_remove_dir(data, "/", &err), LB_EINVAL);
    assert_int_equal(chmod(old, 0), 0);   /* a fenced one goes too */
    assert_int_equal(lb_cluster_remove_dir(data, old, &err), 0);
    assert_false(lb_file_exists(old));
    assert_true(lb_file_exists(other));
    rm_rf(dir);
    free(v);
    free(dir);
    free(data);
    free(other);
    free(fresh);
    free(old);
}

static void test_cluster_clone_refuses_a_directory_that_is_not_empty(void **state)
{
    struct lb_err err = {0};
    char *dir = temp_dir();

    (void)state;
    write_file(dir, "PG_VERSION", "15\n");
    assert_int_equal(lb_cluster_clone("host=127.0.0.1 port=1 user=nobody", dir, NULL,
                                      lb_mono_ms() + 30000, NULL, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "not an empty directory"));
    assert_true(file_has(dir, "PG_VERSION"));
    rm_rf(dir);
    free(dir);
}

/* ---- against a real two-region sandbox (LB_TEST_SANDBOX) ------------------------- */

struct live {
    struct lb_env *env;
    const struct lb_env_target *staging, *replica;
    const struct lb_env_backup *base, *hot, *cold;
};

static int setup_live(void **state)
{
    const char *dir = getenv("LB_TEST_SANDBOX");
    struct live *l;
    struct lb_err err = {0};
    char *path;

    if (dir == NULL || *dir == '\0') {
        *state = NULL;
        return 0;
    }
    l = lb_xcalloc(1, sizeof(*l));
    path = lb_path_join(dir, "environment.lua");
    if (lb_env_load(path, &l->env, &err) != 0)
        fail_msg("%s: %s", path, err.msg);
    free(path);
    l->staging = lb_env_target(l->env, "staging");
    l->replica = lb_env_target(l->env, "replica");
    l->base = lb_env_backup(l->env, "base_backup");
    l->hot = lb_env_backup(l->env, "pgbackrest_hot");
    l->cold = lb_env_backup(l->env, "pgbackrest_cold");
    assert_non_null(l->staging);
    assert_non_null(l->replica);
    assert_non_null(l->base);
    assert_non_null(l->hot);
    assert_non_null(l->cold);
    *state = l;
    return 0;
}

static int teardown_live(void **state)
{
    struct live *l = *state;

    if (l != NULL) {
        lb_env_free(l->env);
        free(l);
    }
    return 0;
}

static struct lb_pg *live_connect(const char *conninfo)
{
    struct lb_pg *c = NULL;
    struct lb_err err = {0};

    if (lb_pg_connect(conninfo, lb_mono_ms() + 15000, &c, &err) != 0)
        fail_msg("connect %s: %s", conninfo, err.msg);
    return c;
}

static char *live_scalar(struct lb_pg *c, const char *sql)
{
    struct lb_err err = {0};
    char *v = NULL;

    if (lb_pg_scalar(c, sql, 0, NULL, lb_mono_ms() + 30000, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return v;
}

static void live_exec(struct lb_pg *c, const char *sql)
{
    struct lb_err err = {0};

    if (lb_pg_exec_script(c, sql, lb_mono_ms() + 30000, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void wait_for(const char *conninfo, enum lb_cluster_want want, const char *data_dir,
                     const char *log_path)
{
    struct lb_cluster_wait_opts wo = {0};
    struct lb_err err = {0};

    wo.conninfo = conninfo;
    wo.want = want;
    wo.data_dir = data_dir;
    wo.log_path = log_path;
    wo.deadline_ms = lb_mono_ms() + 120000;
    if (lb_cluster_wait(&wo, &err) != 0)
        fail_msg("waiting: %s", err.msg);
}

static void test_cluster_live_replica_streams_from_the_primary(void **state)
{
    struct live *l = *state;
    struct lb_cluster_standby *sb = NULL;
    struct lb_cluster_state st;
    struct lb_err err = {0};
    struct lb_pg *c;
    size_t n = 0, i;
    int found = 0;
    char *port;

    if (l == NULL)
        skip();
    c = live_connect(l->staging->conninfo);
    assert_int_equal(lb_cluster_standbys(c, lb_mono_ms() + 30000, &sb, &n, &err), 0);
    for (i = 0; i < n; i++)
        if (strcmp(sb[i].application_name, "sandbox-us-west-2") == 0 &&
            strcmp(sb[i].state, "streaming") == 0)
            found = 1;
    assert_true(found);
    assert_int_equal(lb_cluster_state_read(c, lb_mono_ms() + 30000, &st, &err), 0);
    assert_false(st.in_recovery);
    assert_string_equal(st.system_identifier, l->staging->system_identifier);
    assert_int_not_equal(st.current_lsn[0], '\0');
    lb_pg_close(c);
    free(sb);

    c = live_connect(l->replica->conninfo);
    assert_int_equal(lb_cluster_state_read(c, lb_mono_ms() + 30000, &st, &err), 0);
    assert_true(st.in_recovery);
    assert_true(st.streaming);
    assert_string_equal(st.system_identifier, l->staging->system_identifier);
    assert_string_equal(st.slot_name, "sandbox_us_west_2");
    port = lb_pg_conninfo_get(l->staging->conninfo, "port");
    assert_non_null(port);
    assert_int_equal(st.upstream_port, (int)strtol(port, NULL, 10));
    assert_true(st.replay_lag_bytes >= 0);
    free(port);
    lb_pg_close(c);
}

static void test_cluster_live_switch_wal_waits_until_it_is_archived(void **state)
{
    struct live *l = *state;
    struct lb_err err = {0};
    char wal[64];
    char *path;
    struct lb_pg *c;

    if (l == NULL)
        skip();
    c = live_connect(l->staging->conninfo);
    live_exec(c, "CREATE TABLE IF NOT EXISTS cluster_probe(at timestamptz);"
                 "INSERT INTO cluster_probe VALUES (now())");
    if (lb_cluster_switch_wal_and_wait_archived(c, lb_mono_ms() + 60000, wal, sizeof(wal),
                                                &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(strlen(wal), 24);
    path = lb_path_join(l->base->wal_archive, wal);
    assert_true(lb_file_exists(path));
    free(path);
    lb_pg_close(c);
}

static void test_cluster_live_stopped_replica_proves_its_identity_offline(void **state)
{
    struct live *l = *state;
    struct lb_tool_run run = {0};
    struct lb_err err = {0};
    char sysid[32];

    if (l == NULL)
        skip();
    if (lb_cluster_stop(l->replica, "fast", lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("stop: %s", err.msg);
    assert_false(lb_cluster_running(l->replica->data_dir));
    /* Stopping what is stopped is what was asked for. */
    assert_int_equal(lb_cluster_stop(l->replica, NULL, lb_mono_ms() + 60000, &run, &err), 0);
    if (lb_cluster_offline_identity(l->replica->data_dir, sysid, lb_mono_ms() + 30000, &err) != 0)
        fail_msg("offline identity: %s", err.msg);
    assert_string_equal(sysid, l->replica->system_identifier);
    if (lb_cluster_start(l->replica, lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("start: %s", err.msg);
    wait_for(l->replica->conninfo, LB_CLUSTER_STREAMING, l->replica->data_dir,
             lb_cluster_log_path(l->replica));
    lb_tool_run_free(&run);
}

static void test_cluster_live_fence_makes_a_start_fail_until_unfenced(void **state)
{
    struct live *l = *state;
    struct lb_tool_run run = {0};
    struct lb_err err = {0};

    if (l == NULL)
        skip();
    if (lb_cluster_fence(l->replica, lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("fence: %s", err.msg);
    assert_int_equal(lb_cluster_is_fenced(l->replica), 1);
    assert_false(lb_cluster_running(l->replica->data_dir));
    assert_int_equal(lb_cluster_start(l->replica, lb_mono_ms() + 60000, &run, &err), LB_EPROC);
    assert_int_not_equal(run.exit_status, 0);
    assert_int_equal(lb_cluster_controldata(l->replica->data_dir, lb_mono_ms() + 30000,
                                            &(struct lb_cluster_control){0}, &err), LB_EPROC);
    if (lb_cluster_unfence(l->replica, lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("unfence: %s", err.msg);
    assert_int_equal(lb_cluster_is_fenced(l->replica), 0);
    if (lb_cluster_start(l->replica, lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("start after unfence: %s", err.msg);
    wait_for(l->replica->conninfo, LB_CLUSTER_STREAMING, l->replica->data_dir,
             lb_cluster_log_path(l->replica));
    lb_tool_run_free(&run);
}

/* A TCP port on 127.0.0.1 nothing listens on. */
static int free_port(void)
{
    int p;

    for (p = 55400; p < 55500; p++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok;

        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)p);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return p;
    }
    fail_msg("no free port in 55400-55499");
    return -1;
}

static void test_cluster_live_pgbackrest_restores_the_hot_repo_to_a_scratch_server(void **state)
{
    struct live *l = *state;
    struct lb_pgbackrest_opts po = {0};
    struct lb_pgbackrest_restore_opts ro = {0};
    struct lb_pgbackrest_info *info = NULL;
    struct lb_tool_run run = {0};
    struct lb_err err = {0};
    const struct lb_pgbackrest_backup *b;
    const char *settings[9];
    char port[16], *dir, *ci, *v, *config, *prov;
    struct lb_pg *c;

    if (l == NULL)
        skip();
    config = lb_pgbackrest_layer_config(l->hot);
    assert_non_null(config);
    assert_string_equal(config, l->hot->path);   /* the sandbox declares the file */
    prov = lb_pgbackrest_provenance_path(config, 1);
    assert_true(lb_file_exists(prov));
    po.config = config;
    po.stanza = l->hot->stanza;
    po.deadline_ms = lb_mono_ms() + 60000;
    if (lb_backup_pgbackrest_info(&po, &info, &run, &err) != 0)   /* every repo */
        fail_msg("info: %s", err.msg);
    assert_string_equal(info->system_identifier, l->staging->system_identifier);
    b = lb_pgbackrest_latest(info, 1);
    assert_non_null(b);
    assert_non_null(lb_pgbackrest_latest(info, 2));

    snprintf(port, sizeof(port), "%d", free_port());
    settings[0] = "port";
    settings[1] = port;
    settings[2] = "cluster_name";
    settings[3] = "pgbackrest-scratch";
    settings[4] = "unix_socket_directories";
    settings[5] = "";
    settings[6] = "archive_mode";   /* a scratch copy must not feed the archive */
    settings[7] = "off";
    settings[8] = NULL;
    dir = lb_cluster_sibling_dir(l->staging->data_dir, "pgbr");
    po.repo = l->hot->repo;
    ro.base = po;
    ro.base.deadline_ms = lb_mono_ms() + 300000;
    ro.target.kind = LB_RECOVERY_IMMEDIATE;
    ro.data_dir = dir;
    ro.settings = settings;
    if (lb_backup_pgbackrest_restore(&ro, &run, &err) != 0)
        fail_msg("restore: %s\n%s", err.msg, run.output ? run.output : "");
    assert_non_null(strstr(run.cmdline, "--type=immediate"));
    if (lb_cluster_start_dir(dir, NULL, lb_mono_ms() + 120000, &run, &err) != 0)
        fail_msg("start: %s", err.msg);
    ci = lb_xasprintf("host=127.0.0.1 port=%s dbname=inventory user=lifeboat", port);
    wait_for(ci, LB_CLUSTER_PRIMARY, dir, NULL);
    c = live_connect(ci);
    v = live_scalar(c, "SELECT system_identifier::text FROM pg_control_system()");
    assert_string_equal(v, l->staging->system_identifier);
    free(v);
    v = live_scalar(c, "SELECT (count(*) > 0)::text FROM accounts");
    assert_string_equal(v, "true");
    free(v);
    lb_pg_close(c);
    assert_int_equal(lb_cluster_stop_dir(dir, "fast", lb_mono_ms() + 60000, &run, &err), 0);
    if (lb_cluster_remove_dir(l->staging->data_dir, dir, &err) != 0)
        fail_msg("remove: %s", err.msg);
    free(ci);
    free(dir);
    free(config);
    free(prov);
    lb_pgbackrest_info_free(info);
    lb_tool_run_free(&run);
}

static void test_cluster_live_pgbackrest_refuses_a_time_before_its_oldest_backup(void **state)
{
    struct live *l = *state;
    struct lb_pgbackrest_restore_opts ro = {0};
    struct lb_err err = {0};
    char *dir, *config;

    if (l == NULL)
        skip();
    dir = lb_cluster_sibling_dir(l->staging->data_dir, "pgbr");
    config = lb_pgbackrest_layer_config(l->cold);
    assert_non_null(config);
    ro.base.config = config;
    ro.base.stanza = l->cold->stanza;
    ro.base.repo = l->cold->repo;
    ro.base.deadline_ms = lb_mono_ms() + 60000;
    ro.target.kind = LB_RECOVERY_TIME;
    ro.target.time_ms = lb_wall_ms() - 24 * 3600 * 1000;
    ro.data_dir = dir;
    assert_int_equal(lb_backup_pgbackrest_restore(&ro, NULL, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "is before the pgBackRest backup"));
    assert_non_null(strstr(err.msg, "nothing can be restored to that instant"));
    assert_false(lb_file_exists(dir));
    free(dir);
    free(config);
}

static void test_cluster_live_pitr_refuses_a_time_before_the_base_backup(void **state)
{
    struct live *l = *state;
    struct lb_provenance *prov = NULL;
    struct lb_pitr_opts o = {0};
    struct lb_err err = {0};
    char want[256], when[40], target[40];

    if (l == NULL)
        skip();
    assert_int_equal(lb_provenance_read(l->base->path, &prov, &err), 0);
    assert_true(prov->taken_at > 0);
    o.base_backup = l->base->path;
    o.wal_archive = l->base->wal_archive;
    o.data_dir = lb_cluster_sibling_dir(l->staging->data_dir, "pitr");
    o.target.kind = LB_RECOVERY_TIME;
    o.target.time_ms = prov->taken_at - 3600 * 1000;
    o.deadline_ms = lb_mono_ms() + 60000;
    assert_int_equal(lb_backup_pitr_prepare(&o, NULL, &err), LB_EINVAL);
    lb_wall_format(o.target.time_ms, target, sizeof(target));
    lb_wall_format(prov->taken_at, when, sizeof(when));
    snprintf(want, sizeof(want), "point-in-time recovery: recovery target %s is before the base "
             "backup (taken %s): nothing can be restored to that instant", target, when);
    assert_string_equal(err.msg, want);
    assert_false(lb_file_exists(o.data_dir));
    free((char *)o.data_dir);
    lb_provenance_free(prov);
}

static void test_cluster_live_pitr_restores_the_primary_to_an_instant(void **state)
{
    struct live *l = *state;
    struct lb_pitr_opts o = {0};
    struct lb_tool_run run = {0};
    struct lb_cluster_state st;
    struct lb_err err = {0};
    struct lb_pg *c;
    char *dir, *old = NULL, *v;

    if (l == NULL)
        skip();
    c = live_connect(l->staging->conninfo);
    live_exec(c, "DROP TABLE IF EXISTS pitr_probe; CREATE TABLE pitr_probe(what text);"
                 "INSERT INTO pitr_probe VALUES ('before')");
    lb_sleep_ms(1100);
    o.target.kind = LB_RECOVERY_TIME;
    o.target.time_ms = lb_wall_ms();
    lb_sleep_ms(1100);
    live_exec(c, "INSERT INTO pitr_probe VALUES ('after')");
    /* The commit after the target must be in the archive for recovery to
     * see where to stop. */
    if (lb_cluster_switch_wal_and_wait_archived(c, lb_mono_ms() + 60000, NULL, 0, &err) != 0)
        fail_msg("%s", err.msg);
    lb_pg_close(c);

    dir = lb_cluster_sibling_dir(l->staging->data_dir, "pitr");
    o.base_backup = l->base->path;
    o.wal_archive = l->base->wal_archive;
    o.data_dir = dir;
    o.deadline_ms = lb_mono_ms() + 300000;
    if (lb_backup_pitr_prepare(&o, &run, &err) != 0)
        fail_msg("prepare: %s", err.msg);
    if (lb_cluster_stop(l->staging, NULL, lb_mono_ms() + 60000, &run, &err) != 0)
        fail_msg("stop: %s", err.msg);
    if (lb_cluster_swap_data_dir(l->staging, dir, &old, &err) != 0)
        fail_msg("swap: %s", err.msg);
    if (lb_cluster_start(l->staging, lb_mono_ms() + 120000, &run, &err) != 0)
        fail_msg("start: %s", err.msg);
    wait_for(l->staging->conninfo, LB_CLUSTER_PRIMARY, l->staging->data_dir,
             lb_cluster_log_path(l->staging));

    c = live_connect(l->staging->conninfo);
    v = live_scalar(c, "SELECT string_agg(what, ',' ORDER BY what) FROM pitr_probe");
    assert_string_equal(v, "before");
    free(v);
    assert_int_equal(lb_cluster_state_read(c, lb_mono_ms() + 30000, &st, &err), 0);
    assert_false(st.in_recovery);
    assert_true(st.timeline > 1);
    assert_string_equal(st.system_identifier, l->staging->system_identifier);
    lb_pg_close(c);
    assert_non_null(old);
    if (lb_cluster_remove_dir(l->staging->data_dir, old, &err) != 0)
        fail_msg("remove: %s", err.msg);
    free(old);
    free(dir);
    lb_tool_run_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_controldata_parse_reads_identity_state_and_timeline),
        cmocka_unit_test(test_cluster_controldata_parse_rejects_other_text),
        cmocka_unit_test(test_cluster_backup_label_parse_reads_the_start_of_a_real_label),
        cmocka_unit_test(test_cluster_backup_label_parse_honours_offsets_and_refuses_to_guess_zones),
        cmocka_unit_test(test_cluster_backup_label_parse_rejects_a_text_without_a_start),
        cmocka_unit_test(test_cluster_recovery_conf_for_a_time_target_stops_before_it_and_promotes),
        cmocka_unit_test(test_cluster_recovery_conf_for_lsn_immediate_and_latest_targets),
        cmocka_unit_test(test_cluster_recovery_conf_refuses_bad_input),
        cmocka_unit_test(test_cluster_recovery_target_check_refuses_instants_the_backup_cannot_reach),
        cmocka_unit_test(test_cluster_pgbackrest_info_parse_reads_backups_of_both_repos),
        cmocka_unit_test(test_cluster_pgbackrest_info_parse_refuses_unknown_stanzas_and_other_text),
        cmocka_unit_test(test_cluster_pgbackrest_provenance_sits_beside_the_config),
        cmocka_unit_test(test_cluster_local_conninfo_points_a_target_at_a_scratch_port),
        cmocka_unit_test_setup_teardown(test_cluster_pitr_prepare_refuses_a_target_before_the_base_backup,
                                        setup_pitr, teardown_pitr),
        cmocka_unit_test_setup_teardown(test_cluster_pitr_prepare_copies_the_backup_and_writes_recovery_settings,
                                        setup_pitr, teardown_pitr),
        cmocka_unit_test_setup_teardown(test_cluster_pitr_prepare_needs_a_base_backup_and_an_archive,
                                        setup_pitr, teardown_pitr),
        cmocka_unit_test(test_cluster_declared_commands_run_and_undeclared_ones_are_refused),
        cmocka_unit_test(test_cluster_log_path_is_read_from_the_start_argv),
        cmocka_unit_test(test_cluster_stop_of_a_server_already_stopped_is_not_an_error),
        cmocka_unit_test(test_cluster_is_fenced_reads_the_marker_and_the_mode),
        cmocka_unit_test(test_cluster_swap_puts_a_sibling_in_place_and_keeps_the_old_one),
        cmocka_unit_test(test_cluster_clone_refuses_a_directory_that_is_not_empty),
        /* Live, in this order: the last one moves the primary to a new timeline. */
        cmocka_unit_test_setup_teardown(test_cluster_live_replica_streams_from_the_primary,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_switch_wal_waits_until_it_is_archived,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_stopped_replica_proves_its_identity_offline,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_fence_makes_a_start_fail_until_unfenced,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_pgbackrest_restores_the_hot_repo_to_a_scratch_server,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_pgbackrest_refuses_a_time_before_its_oldest_backup,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_pitr_refuses_a_time_before_the_base_backup,
                                        setup_live, teardown_live),
        cmocka_unit_test_setup_teardown(test_cluster_live_pitr_restores_the_primary_to_an_instant,
                                        setup_live, teardown_live),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
