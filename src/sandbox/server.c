/*
 * server: the sandbox's PostgreSQL server through its own tools (initdb,
 * pg_ctl), run as the postgres OS user when lifeboat is root, since
 * PostgreSQL refuses to run as root.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "sandbox_int.h"

#define PORT_TRIES 200
#define TOOL_TIMEOUT_MS (120 * 1000)
#define PG_CTL_WAIT_S "60"

int lb_sb_has_cluster(const struct lb_sb *sb)
{
    char *v = lb_path_join(sb->data_dir, "PG_VERSION");
    int ok = lb_file_exists(v);

    free(v);
    return ok;
}

/* Give a path to the postgres OS user (when root). */
static int chown_to_postgres(const struct lb_sb *sb, const char *path, struct lb_err *err)
{
    struct passwd *pw;

    if (sb->run_as == NULL)
        return 0;
    pw = getpwnam(sb->run_as);
    if (pw == NULL)
        return lb_err_set(err, LB_EINVAL,
                          "running as root needs the '%s' OS user to run PostgreSQL "
                          "(install postgresql)", sb->run_as);
    if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
        return lb_err_set(err, LB_EIO, "chown %s: %s", path, strerror(errno));
    return 0;
}

int lb_sb_make_server_dir(struct lb_sb *sb, struct lb_err *err)
{
    char *parent = lb_path_dir(sb->server_dir);
    const char *subdirs[2];
    int rc, i;

    subdirs[0] = sb->sock_dir;
    subdirs[1] = sb->archive_dir;
    /* The parent must let the postgres user through, whatever the umask. */
    rc = lb_mkdirs(parent, 0755, err);
    if (rc != 0)
        goto out;
    if (sb->run_as != NULL) {
        struct stat st;

        if (stat(parent, &st) == 0 && (st.st_mode & 0011) != 0011 &&
            chmod(parent, (st.st_mode & 07777) | 0711) != 0) {
            rc = lb_err_set(err, LB_EIO, "chmod %s: %s", parent, strerror(errno));
            goto out;
        }
    }
    if (mkdir(sb->server_dir, 0700) != 0 && errno != EEXIST) {
        rc = lb_err_set(err, LB_EIO, "mkdir %s: %s", sb->server_dir, strerror(errno));
        goto out;
    }
    rc = chown_to_postgres(sb, sb->server_dir, err);
    if (rc != 0)
        goto out;
    for (i = 0; i < 2; i++) {
        if (mkdir(subdirs[i], 0700) != 0 && errno != EEXIST) {
            rc = lb_err_set(err, LB_EIO, "mkdir %s: %s", subdirs[i], strerror(errno));
            goto out;
        }
        rc = chown_to_postgres(sb, subdirs[i], err);
        if (rc != 0)
            goto out;
    }
out:
    free(parent);
    return rc;
}

/* 1 if nothing is bound to 127.0.0.1:port. */
static int port_free(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    int ok;

    if (fd < 0)
        return 0;
    /* As PostgreSQL binds: a port whose old connections linger in
     * TIME_WAIT (a server just stopped) is free. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int lb_sb_port_free(int port)
{
    return port > 0 && port < 65536 && port_free(port);
}

int lb_sb_free_port(int *port, int from, struct lb_err *err)
{
    int starts[2];
    int i, p;

    starts[0] = from > 0 && from < 65536 - PORT_TRIES ? from : SB_FIRST_PORT;
    starts[1] = SB_FIRST_PORT;
    for (i = 0; i < 2; i++) {
        for (p = starts[i]; p < starts[i] + PORT_TRIES; p++) {
            if (port_free(p)) {
                *port = p;
                return 0;
            }
        }
    }
    return lb_err_set(err, LB_EIO, "no free TCP port on 127.0.0.1 in %d-%d or %d-%d",
                      starts[0], starts[0] + PORT_TRIES - 1, SB_FIRST_PORT,
                      SB_FIRST_PORT + PORT_TRIES - 1);
}

/*
 * Run a PostgreSQL tool as the server's OS user, from the server directory
 * (root's working directory may be closed to that user). On failure the
 * error ends with the tool's last output line.
 */
static int run_pg(const struct lb_sb *sb, const char *const *argv, int64_t timeout_ms,
                  struct lb_proc_result *keep, struct lb_err *err)
{
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int rc;

    po.argv = argv;
    po.run_as = sb->run_as;
    po.cwd = sb->server_dir;
    po.deadline_ms = lb_mono_ms() + timeout_ms;
    rc = lb_proc_run(&po, &res, err);
    if (rc != 0) {
        lb_err_prefix(err, "%s", name);
        goto out;
    }
    if (!res.exited || res.status != 0) {
        const char *out = res.output != NULL ? res.output : "";
        size_t n = strlen(out);
        const char *start;

        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
            n--;
        start = out + n;
        while (start > out && start[-1] != '\n')
            start--;
        rc = lb_err_set(err, LB_EPROC, "%s failed (status %d): %.*s", name, res.status,
                        (int)(out + n - start), start);
    }
out:
    if (keep != NULL) {
        *keep = res;
        memset(&res, 0, sizeof(res));
    }
    lb_proc_result_free(&res);
    return rc;
}

int lb_sb_initdb(struct lb_sb *sb, struct lb_err *err)
{
    /* --no-sync: a sandbox is rebuilt, never recovered (see fsync below). */
    const char *argv[] = {sb->initdb, "-D", sb->data_dir, "-U", SB_USER, "--auth=trust",
                          "-E", "UTF8", "--locale=C", "--no-sync", NULL};

    return run_pg(sb, argv, TOOL_TIMEOUT_MS, NULL, err);
}

char *lb_sb_archive_command(const struct lb_sb *sb, int with_pgbackrest)
{
    struct lb_buf cmd = {0};
    char *dest = lb_path_join(sb->archive_dir, "%f");
    char *tmp = lb_xasprintf("%s.tmp", dest);

    /* Never overwrite a different file of the same name (two servers
     * sharing the archive after a failover), but accept an identical one:
     * a retry after the copy worked and the push failed must succeed. */
    lb_buf_adds(&cmd, "test ! -f ");
    lb_buf_add_sh_word(&cmd, dest);
    lb_buf_adds(&cmd, " && cp %p ");
    lb_buf_add_sh_word(&cmd, tmp);
    lb_buf_adds(&cmd, " && mv ");
    lb_buf_add_sh_word(&cmd, tmp);
    lb_buf_addc(&cmd, ' ');
    lb_buf_add_sh_word(&cmd, dest);
    lb_buf_adds(&cmd, " || cmp -s %p ");
    lb_buf_add_sh_word(&cmd, dest);
    if (with_pgbackrest && sb->pgbr_conf != NULL) {
        /* The server runs it from its data directory: pg1-path is that
         * directory, so a promoted replica or a restored copy pushes its
         * own WAL, not the primary's file of the same name. */
        lb_buf_adds(&cmd, " && pgbackrest --config=");
        lb_buf_add_sh_word(&cmd, sb->pgbr_conf);
        lb_buf_adds(&cmd, " --stanza=" SB_STANZA " --pg1-path=\"$(pwd -P)\" archive-push %p");
    }
    free(dest);
    free(tmp);
    return lb_buf_steal(&cmd);
}

int lb_sb_conf_append(const struct lb_sb *sb, const char *text, struct lb_err *err)
{
    char *path = lb_path_join(sb->data_dir, "postgresql.conf");
    size_t len = strlen(text);
    FILE *f = fopen(path, "a");
    int rc = 0;

    if (f == NULL) {
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fwrite(text, 1, len, f) != len)
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
out:
    free(path);
    return rc;
}

int lb_sb_configure(struct lb_sb *sb, struct lb_err *err)
{
    struct lb_buf conf = {0};
    char *cmd = NULL;
    int rc = 0;

    if (strchr(sb->server_dir, '\n') != NULL) {
        rc = lb_err_set(err, LB_EINVAL, "server directory name holds a newline");
        goto out;
    }
    cmd = lb_sb_archive_command(sb, 0);
    lb_buf_adds(&conf, "\n# ---- lifeboat sandbox ----\n");
    lb_buf_printf(&conf, "port = %d\n", sb->port);
    lb_buf_adds(&conf, "listen_addresses = '127.0.0.1'\nunix_socket_directories = ");
    lb_buf_add_conf_string(&conf, sb->sock_dir);
    lb_buf_adds(&conf, "\ncluster_name = ");
    lb_buf_add_conf_string(&conf, sb->cluster_name != NULL ? sb->cluster_name : SB_CLUSTER_NAME);
    lb_buf_adds(&conf, "\n");
    lb_buf_adds(&conf, "wal_level = replica\nmax_wal_senders = 10\nmax_replication_slots = 10\n"
                       "hot_standby = on\n"
                       "# A standby whose primary restarted reconnects within a second.\n"
                       "wal_retrieve_retry_interval = '1s'\n"
                       "# A replica stopped by a drill must not fill the disk.\n"
                       "max_slot_wal_keep_size = '1GB'\n"
                       "# backup_label's START TIME, read back as a base backup's time.\n"
                       "log_timezone = 'UTC'\n"
                       "archive_mode = on\n"
                       "archive_command = ");
    lb_buf_add_conf_string(&conf, cmd);
    lb_buf_adds(&conf,
                "\n"
                "# fsync = off: a sandbox is rebuilt, never recovered, and seeding is\n"
                "# several times faster. Never set this on a server whose data matters.\n"
                "fsync = off\n"
                "# pg_ctl -l sends stderr to server.log.\n"
                "logging_collector = off\n"
                "log_destination = 'stderr'\n"
                "log_line_prefix = '%m [%p] '\n");
    rc = lb_sb_conf_append(sb, conf.data, err);
out:
    lb_buf_free(&conf);
    free(cmd);
    return rc;
}

/* PID recorded in postmaster.pid, or 0. */
static int64_t postmaster_pid(const struct lb_sb *sb)
{
    char *pidfile = lb_path_join(sb->data_dir, "postmaster.pid");
    char line[64];
    int64_t pid = 0;

    lb_file_read_small(pidfile, line, sizeof(line));
    line[strcspn(line, "\n")] = '\0';
    if (lb_parse_int64(line, &pid) != 0 || pid <= 0)
        pid = 0;
    free(pidfile);
    return pid;
}

/* 1 if pid is a zombie: dead, waiting for a parent that may never reap it
 * (in containers PID 1 often does not), yet kill(pid, 0) still succeeds. */
static int is_zombie(int64_t pid)
{
    char path[64];
    char text[256];
    const char *p;

    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    lb_file_read_small(path, text, sizeof(text));
    p = strrchr(text, ')');
    return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

/*
 * 1 if postmaster.pid names a live postgres working from this data
 * directory. PostgreSQL clears a stale lock itself only when the PID is
 * unused; after a reboot or a crash the PID may belong to another process
 * (or to a zombie), and the server then refuses to start.
 */
static int postmaster_alive(const struct lb_sb *sb)
{
    int64_t pid = postmaster_pid(sb);
    char path[64], name[64], link[4096];
    char *real = NULL;
    ssize_t n;
    int alive = 1;

    if (pid == 0)
        return 0;
    if ((kill((pid_t)pid, 0) != 0 && errno == ESRCH) || is_zombie(pid))
        return 0;
    snprintf(path, sizeof(path), "/proc/%lld/comm", (long long)pid);
    lb_file_read_small(path, name, sizeof(name));
    if (name[0] != '\0' && !lb_str_starts(name, "postgres"))
        alive = 0;
    /* A postmaster works from its data directory. */
    snprintf(path, sizeof(path), "/proc/%lld/cwd", (long long)pid);
    n = readlink(path, link, sizeof(link) - 1);
    real = realpath(sb->data_dir, NULL);
    if (alive && n > 0 && real != NULL) {
        link[n] = '\0';
        alive = strcmp(link, real) == 0;
    }
    free(real);
    return alive;
}

/*
 * A killed postmaster can linger for a moment as a zombie (in containers
 * PID 1 may reap slowly), and its socket lock names it: PostgreSQL then
 * refuses to start. Wait for it to go (bounded).
 */
static void wait_for_old_postmaster(const struct lb_sb *sb)
{
    int64_t pid = postmaster_pid(sb);
    int64_t deadline = lb_mono_ms() + 15 * 1000;
    char path[64], name[64];

    if (pid == 0 || postmaster_alive(sb))
        return;
    snprintf(path, sizeof(path), "/proc/%lld/comm", (long long)pid);
    while (lb_deadline_left(deadline) > 0) {
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            return;
        lb_file_read_small(path, name, sizeof(name));
        if (!is_zombie(pid) && !lb_str_starts(name, "postgres"))
            return;   /* the PID now belongs to something else */
        lb_sleep_ms(200);
    }
}

/* With no live postmaster on the data directory, its lock files are stale:
 * postmaster.pid and the socket locks in our private socket directory. */
static void clear_stale_locks(const struct lb_sb *sb)
{
    char *pidfile = lb_path_join(sb->data_dir, "postmaster.pid");
    DIR *d;
    struct dirent *e;

    if (postmaster_alive(sb))
        goto out;
    unlink(pidfile);
    d = opendir(sb->sock_dir);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (lb_str_starts(e->d_name, ".s.PGSQL.")) {
            char *f = lb_path_join(sb->sock_dir, e->d_name);
            unlink(f);
            free(f);
        }
    }
    if (d != NULL)
        closedir(d);
out:
    free(pidfile);
}

int lb_sb_start(struct lb_sb *sb, struct lb_err *err)
{
    const char *argv[] = {sb->pg_ctl, "-D", sb->data_dir, "-l", sb->log_path,
                          "-w", "-t", PG_CTL_WAIT_S, "start", NULL};
    int attempt;
    int rc = 0;

    for (attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) {
            /* Backends orphaned by a killed postmaster may still hold its
             * shared memory for a moment. */
            lb_err_clear(err);
            lb_sleep_ms(2000);
        }
        wait_for_old_postmaster(sb);
        clear_stale_locks(sb);
        rc = run_pg(sb, argv, TOOL_TIMEOUT_MS, NULL, err);
        if (rc == 0 || rc == LB_EINTR)
            break;
    }
    if (rc != 0)
        lb_err_prefix(err, "starting PostgreSQL (see %s)", sb->log_path);
    return rc;
}

int lb_sb_stop(struct lb_sb *sb, const char *mode, struct lb_err *err)
{
    const char *argv[] = {sb->pg_ctl, "-D", sb->data_dir, "-m", mode, "-w",
                          "-t", PG_CTL_WAIT_S, "stop", NULL};

    return run_pg(sb, argv, TOOL_TIMEOUT_MS, NULL, err);
}

int lb_sb_pg_ctl_running(const struct lb_sb *sb)
{
    const char *argv[] = {sb->pg_ctl, "-D", sb->data_dir, "status", NULL};
    struct lb_err err = {0};

    if (!lb_sb_has_cluster(sb) || !postmaster_alive(sb))
        return 0;
    return run_pg(sb, argv, 30 * 1000, NULL, &err) == 0;
}

int lb_sb_answers(const struct lb_sb *sb, int64_t timeout_ms)
{
    char *ci = lb_sb_conninfo(sb, "postgres");
    struct lb_pg *c = NULL;
    struct lb_err err = {0};
    int ok;

    ok = sb->port > 0 && lb_pg_connect(ci, lb_mono_ms() + timeout_ms, &c, &err) == 0;
    lb_pg_close(c);
    free(ci);
    return ok;
}

int lb_sb_wait_ready(const struct lb_sb *sb, int64_t timeout_ms)
{
    int64_t deadline = lb_mono_ms() + timeout_ms;

    for (;;) {
        if (lb_sb_answers(sb, 2000))
            return 1;
        if (!lb_sb_pg_ctl_running(sb))
            return 0;
        if (lb_deadline_left(deadline) == 0)
            return -1;
        lb_sleep_ms(250);
    }
}

