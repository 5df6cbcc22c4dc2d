/*
 * layers: what the two-region sandbox adds to its primary. The streaming
 * replica ("us-west-2"), the base backup, the pgBackRest stanza with a hot
 * and a cold repository, and the fence and unfence commands the
 * environment declares, all through the cluster and backup modules (the
 * same code the drills' recovery procedures use).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifeboat/backup.h"
#include "lifeboat/cluster.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "sandbox_int.h"

#define LAYER_TIMEOUT_MS (300 * 1000)
#define STREAM_TIMEOUT_MS (60 * 1000)

/* ---- fences --------------------------------------------------------------- */

int lb_sb_fenced(const struct lb_sb *s)
{
    char *marker = lb_cluster_fence_marker(s->data_dir);
    struct stat st;
    int fenced = lb_file_exists(marker) ||
                 (stat(s->data_dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0700) == 0);

    free(marker);
    return fenced;
}

int lb_sb_unfence(const struct lb_sb *s, struct lb_err *err)
{
    char *marker = lb_cluster_fence_marker(s->data_dir);
    struct stat st;
    int rc = 0;

    if (stat(s->data_dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0700) != 0700 &&
        chmod(s->data_dir, 0700) != 0)
        rc = lb_err_set(err, LB_EIO, "chmod %s: %s", s->data_dir, strerror(errno));
    if (rc == 0 && unlink(marker) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rm %s: %s", marker, strerror(errno));
    free(marker);
    return rc;
}

static int write_script(const char *path, const char *text, struct lb_err *err)
{
    int rc = lb_file_write(path, text, strlen(text), err);

    if (rc == 0 && chmod(path, 0755) != 0)
        rc = lb_err_set(err, LB_EIO, "chmod %s: %s", path, strerror(errno));
    return rc;
}

int lb_sb_write_fence_commands(const struct lb_sb *sb, struct lb_err *err)
{
    struct lb_buf run = {0}, fence = {0}, unfence = {0};
    int rc;

    rc = lb_mkdirs(sb->bin_dir, 0755, err);
    if (rc != 0)
        goto out;
    if (sb->run_as != NULL) {
        lb_buf_adds(&run, "runuser -u ");
        lb_buf_add_sh_word(&run, sb->run_as);
        lb_buf_adds(&run, " -- ");
    }
    lb_buf_add_sh_word(&run, sb->pg_ctl);
    lb_buf_adds(&fence,
                "#!/bin/sh\n"
                "# Written by `lifeboat sandbox up`. Fence a sandbox server as a lost region\n"
                "# is fenced: stop it at once, then make its data directory unusable (mode\n"
                "# 000) and leave DATA.FENCED beside it, so that nothing restarts it by\n"
                "# accident (pg_ctl start fails) until `unfence DATA` undoes it.\n"
                "# usage: fence DATA_DIR\n"
                "set -eu\n"
                "data=${1:?usage: fence DATA_DIR}\n"
                "[ -d \"$data\" ] || { echo \"fence: $data: no such directory\" >&2; exit 1; }\n"
                "if ");
    lb_buf_adds(&fence, run.data);
    lb_buf_adds(&fence, " -D \"$data\" status >/dev/null 2>&1; then\n    ");
    lb_buf_adds(&fence, run.data);
    lb_buf_adds(&fence, " -D \"$data\" -m immediate -w -t 60 stop\n"
                        "fi\n"
                        "date -u +%Y-%m-%dT%H:%M:%SZ >\"$data.FENCED\"\n"
                        "chmod 000 \"$data\"\n"
                        "echo \"fenced $data\"\n");
    lb_buf_adds(&unfence,
                "#!/bin/sh\n"
                "# Written by `lifeboat sandbox up`. Undo `fence DATA`: the data directory\n"
                "# gets its mode back (0700) and DATA.FENCED goes. Does not start the server.\n"
                "# usage: unfence DATA_DIR\n"
                "set -eu\n"
                "data=${1:?usage: unfence DATA_DIR}\n"
                "if [ -d \"$data\" ]; then chmod 700 \"$data\"; fi\n"
                "rm -f \"$data.FENCED\"\n"
                "echo \"unfenced $data\"\n");
    rc = write_script(sb->fence_path, fence.data, err);
    if (rc == 0)
        rc = write_script(sb->unfence_path, unfence.data, err);
out:
    lb_buf_free(&run);
    lb_buf_free(&fence);
    lb_buf_free(&unfence);
    return rc;
}

/* ---- pgBackRest ------------------------------------------------------------ */

/* A directory of the server's OS user (mode 0750). */
static int server_subdir(const struct lb_sb *sb, const char *path, struct lb_err *err)
{
    char *argv_chown = NULL;
    int rc = 0;

    if (mkdir(path, 0750) != 0 && errno != EEXIST)
        return lb_err_set(err, LB_EIO, "mkdir %s: %s", path, strerror(errno));
    if (sb->run_as != NULL) {
        const char *argv[] = {"chown", "-R", NULL, NULL, NULL};
        struct lb_proc_opts po = {0};
        struct lb_proc_result res = {0};

        argv_chown = lb_xasprintf("%s:", sb->run_as);
        argv[2] = argv_chown;
        argv[3] = path;
        po.argv = argv;
        po.deadline_ms = lb_mono_ms() + 60 * 1000;
        rc = lb_proc_run(&po, &res, err);
        if (rc == 0 && (!res.exited || res.status != 0))
            rc = lb_err_set(err, LB_EIO, "chown %s: %s", path, res.output ? res.output : "");
        lb_proc_result_free(&res);
    }
    free(argv_chown);
    return rc;
}

static int write_pgbackrest_conf(const struct lb_sb *sb, struct lb_err *err)
{
    struct lb_buf b = {0};
    char *repo1 = lb_path_join(sb->pgbr_dir, "repo1");
    char *repo2 = lb_path_join(sb->pgbr_dir, "repo2");
    char *log = lb_path_join(sb->pgbr_dir, "log");
    char *lock = lb_path_join(sb->pgbr_dir, "lock");
    char *spool = lb_path_join(sb->pgbr_dir, "spool");
    int rc;

    lb_buf_printf(&b,
                  "# Written by `lifeboat sandbox up`: the sandbox's own pgBackRest\n"
                  "# configuration (always passed with --config). repo1 is the \"hot\"\n"
                  "# repository, repo2 the \"cold\" one standing for off-site storage.\n"
                  "[global]\n"
                  "repo1-path=%s\n"
                  "repo1-retention-full=2\n"
                  "repo2-path=%s\n"
                  "repo2-retention-full=4\n"
                  "log-path=%s\n"
                  "lock-path=%s\n"
                  "spool-path=%s\n"
                  "log-level-console=warn\n"
                  "log-level-file=info\n"
                  "start-fast=y\n"
                  "compress-type=lz4\n"
                  "process-max=2\n"
                  "\n"
                  "[" SB_STANZA "]\n"
                  "pg1-path=%s\n"
                  "pg1-port=%d\n"
                  "pg1-socket-path=%s\n"
                  "pg1-user=" SB_USER "\n",
                  repo1, repo2, log, lock, spool, sb->data_dir, sb->port, sb->sock_dir);
    rc = server_subdir(sb, sb->pgbr_dir, err);
    if (rc == 0)
        rc = lb_file_write(sb->pgbr_conf, b.data, b.len, err);
    if (rc == 0)
        rc = server_subdir(sb, sb->pgbr_dir, err);
    if (rc == 0)
        rc = server_subdir(sb, repo1, err);
    if (rc == 0)
        rc = server_subdir(sb, repo2, err);
    if (rc == 0)
        rc = server_subdir(sb, log, err);
    if (rc == 0)
        rc = server_subdir(sb, lock, err);
    if (rc == 0)
        rc = server_subdir(sb, spool, err);
    lb_buf_free(&b);
    free(repo1);
    free(repo2);
    free(log);
    free(lock);
    free(spool);
    return rc;
}

/* pgbackrest --config --stanza <command> as the server's user. */
static int pgbackrest(const struct lb_sb *sb, const char *command, struct lb_err *err)
{
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    char *config = lb_xasprintf("--config=%s", sb->pgbr_conf);
    const char *argv[] = {"pgbackrest", config, "--stanza=" SB_STANZA, command, NULL};
    int rc;

    po.argv = argv;
    po.run_as = sb->run_as;
    po.cwd = sb->server_dir;
    po.deadline_ms = lb_mono_ms() + LAYER_TIMEOUT_MS;
    rc = lb_proc_run(&po, &res, err);
    if (rc == 0 && (!res.exited || res.status != 0)) {
        const char *out = res.output != NULL ? res.output : "";
        size_t n = strlen(out);

        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
            n--;
        rc = lb_err_set(err, LB_EPROC, "pgbackrest %s failed (status %d): %.*s", command,
                        res.status, (int)(n > 600 ? 600 : n), out + (n > 600 ? n - 600 : 0));
    }
    lb_proc_result_free(&res);
    free(config);
    return rc;
}

/* archive_command as the server runs it now equals `want` (after a
 * reload, polled: the postmaster applies it asynchronously). */
static int archive_command_is(const struct lb_sb *sb, const char *want, int64_t wait_ms,
                              struct lb_err *err)
{
    char *ci = lb_sb_conninfo(sb, "postgres");
    int64_t deadline = lb_mono_ms() + wait_ms;
    int same = 0;

    for (;;) {
        struct lb_pg *c = NULL;
        char *v = NULL;
        int rc = lb_pg_connect(ci, lb_mono_ms() + 10 * 1000, &c, err);

        if (rc == 0)
            rc = lb_pg_scalar(c, "SELECT current_setting('archive_command')", 0, NULL,
                              lb_mono_ms() + 10 * 1000, &v, err);
        lb_pg_close(c);
        same = rc == 0 && v != NULL && strcmp(v, want) == 0;
        free(v);
        if (rc != 0) {
            free(ci);
            return rc;
        }
        if (same || lb_deadline_left(deadline) == 0)
            break;
        lb_sleep_ms(100);
    }
    free(ci);
    return same;
}

static int set_archive_command(const struct lb_sb *sb, const char *cmd, struct lb_err *err)
{
    struct lb_buf b = {0};
    struct lb_pg *c = NULL;
    char *ci = lb_sb_conninfo(sb, "postgres");
    int rc;

    lb_buf_adds(&b, "# pgBackRest is set up: the archive feeds its stanza too.\n"
                    "archive_command = '");
    for (const char *p = cmd; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            lb_buf_addc(&b, *p);
        lb_buf_addc(&b, *p);
    }
    lb_buf_adds(&b, "'\n");
    rc = lb_sb_conf_append(sb, b.data, err);
    if (rc == 0)
        rc = lb_pg_connect(ci, lb_mono_ms() + 15 * 1000, &c, err);
    if (rc == 0)
        rc = lb_pg_query(c, "SELECT pg_catalog.pg_reload_conf()", 0, NULL,
                         lb_mono_ms() + 15 * 1000, NULL, err);
    lb_pg_close(c);
    if (rc == 0) {
        rc = archive_command_is(sb, cmd, 10 * 1000, err);
        if (rc == 0)
            rc = lb_err_set(err, LB_EIO, "the server did not take the new archive_command");
        else if (rc == 1)
            rc = 0;
    }
    lb_buf_free(&b);
    free(ci);
    return rc;
}

int lb_sb_pgbackrest(struct lb_sb *sb, int force, struct lb_err *err)
{
    struct lb_pgbackrest_opts po = {0};
    struct lb_tool_run run = {0};
    char *cmd = lb_sb_archive_command(sb, 1);
    char *ci = lb_sb_conninfo(sb, SB_DB);
    int fresh = force || !lb_file_exists(sb->pgbr_conf);
    int repo, rc = 0, same;

    same = fresh ? 0 : archive_command_is(sb, cmd, 0, err);
    if (same < 0) {
        rc = same;
        goto out;
    }
    /* The configuration names the primary's port, which up may have moved. */
    if (!fresh && same) {
        rc = write_pgbackrest_conf(sb, err);
        if (rc != 0)
            goto out;
    }
    if (fresh || !same) {
        lb_sb_progress(sb, "pgBackRest: stanza %s with a hot (repo1) and a cold (repo2) "
                           "repository in %s", SB_STANZA, sb->pgbr_dir);
        rc = write_pgbackrest_conf(sb, err);
        if (rc == 0)
            rc = pgbackrest(sb, "stanza-create", err);
        if (rc == 0 && !same)
            rc = set_archive_command(sb, cmd, err);
        if (rc == 0)
            rc = pgbackrest(sb, "check", err);
        if (rc != 0)
            goto out;
    }
    po.config = sb->pgbr_conf;
    po.stanza = SB_STANZA;
    po.run_as = sb->run_as;
    for (repo = 1; repo <= 2; repo++) {
        char *prov = lb_pgbackrest_provenance_path(sb->pgbr_conf, repo);
        int have = lb_file_exists(prov);

        free(prov);
        if (have && !fresh)
            continue;
        lb_sb_progress(sb, "pgBackRest: full backup into repo%d (%s)", repo,
                       repo == 1 ? "hot" : "cold");
        po.repo = repo;
        po.deadline_ms = lb_mono_ms() + LAYER_TIMEOUT_MS + 60 * (int64_t)sb->scale * 1000;
        rc = lb_backup_pgbackrest_backup(&po, "full", ci, &run, NULL, err);
        lb_tool_run_free(&run);
        if (rc != 0)
            goto out;
    }
out:
    if (rc != 0)
        lb_err_prefix(err, "pgBackRest");
    free(cmd);
    free(ci);
    return rc;
}

/* ---- base backup ------------------------------------------------------------ */

int lb_sb_basebackup(struct lb_sb *sb, struct lb_err *err)
{
    struct lb_basebackup_opts o = {0};
    struct lb_tool_run run = {0};
    char *ci = lb_sb_conninfo(sb, SB_DB);
    int rc;

    lb_sb_progress(sb, "base backup (pg_basebackup) to %s", sb->base_path);
    o.conninfo = ci;
    o.path = sb->base_path;
    o.label = "sandbox base backup";
    o.deadline_ms = lb_mono_ms() + LAYER_TIMEOUT_MS + 60 * (int64_t)sb->scale * 1000;
    rc = lb_backup_basebackup(&o, &run, NULL, err);
    lb_tool_run_free(&run);
    free(ci);
    return rc;
}

/* ---- the replica ------------------------------------------------------------ */

int lb_sb_build_replica(struct lb_sb *sb, struct lb_err *err)
{
    struct lb_sb *rep = sb->rep;
    struct lb_clone_opts co = {0};
    struct lb_cluster_wait_opts wo = {0};
    struct lb_tool_run run = {0};
    char *from = lb_sb_conninfo(sb, SB_DB);
    char *rep_ci = NULL;
    const char *settings[3];
    int rc;

    if (lb_sb_has_cluster(rep) && lb_sb_pg_ctl_running(rep)) {
        lb_sb_progress(sb, "stopping the old replica");
        if (lb_sb_stop(rep, "immediate", err) != 0)
            lb_err_clear(err);
    }
    rc = lb_sb_unfence(rep, err);
    if (rc == 0)
        rc = lb_rmtree(rep->data_dir, err);
    if (rc == 0)
        rc = lb_sb_make_server_dir(rep, err);
    if (rc != 0)
        goto out;
    if (rep->port <= 0 || !lb_sb_port_free(rep->port)) {
        rc = lb_sb_free_port(&rep->port, sb->port_base, err);
        if (rc != 0)
            goto out;
    }
    lb_sb_progress(sb, "replica (us-west-2): pg_basebackup -R from the primary into %s",
                   rep->data_dir);
    settings[0] = "unix_socket_directories";
    settings[1] = rep->sock_dir;
    settings[2] = NULL;
    co.standby = 1;
    co.slot = SB_REPLICA_SLOT;
    co.port = rep->port;
    co.cluster_name = SB_REPLICA_CLUSTER_NAME;
    co.settings = settings;
    co.run_as = sb->run_as;
    rc = lb_cluster_clone(from, rep->data_dir, &co,
                          lb_mono_ms() + LAYER_TIMEOUT_MS + 60 * (int64_t)sb->scale * 1000, &run,
                          err);
    lb_tool_run_free(&run);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "starting the replica on 127.0.0.1:%d", rep->port);
    rc = lb_sb_start(rep, err);
    if (rc != 0)
        goto out;
    rep_ci = lb_sb_conninfo(rep, "postgres");
    wo.conninfo = rep_ci;
    wo.want = LB_CLUSTER_STREAMING;
    wo.data_dir = rep->data_dir;
    wo.log_path = rep->log_path;
    wo.deadline_ms = lb_mono_ms() + STREAM_TIMEOUT_MS;
    rc = lb_cluster_wait(&wo, err);
out:
    if (rc != 0)
        lb_err_prefix(err, "the replica");
    free(from);
    free(rep_ci);
    return rc;
}
