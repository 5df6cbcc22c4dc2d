/*
 * sandbox: bring a local staging system up, down, or report on it. A
 * complete sandbox is one whose sandbox.json exists: that file is written
 * last, so an `up` that failed half-way is rebuilt from scratch next time.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lifeboat/backup.h"
#include "lifeboat/cluster.h"
#include "lifeboat/heartbeat.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "sandbox_int.h"

#define DEFAULT_SERVER_ROOT "/var/tmp/lifeboat-sandbox"
#define MAX_SCALE 10000
#define CONNECT_TIMEOUT_MS (15 * 1000)

/* "<basename of the parent>-<8 hex of sha256(abs)>", with the name made
 * safe for a path and visible (no leading dots). */
static char *server_dir_name(const char *abs)
{
    char *parent = lb_path_dir(abs);
    const char *base = strrchr(parent, '/') ? strrchr(parent, '/') + 1 : parent;
    struct lb_buf b = {0};
    char hex[65];

    while (*base == '.')
        base++;
    for (; *base != '\0'; base++) {
        char c = *base;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        lb_buf_addc(&b, ok ? c : '_');
    }
    if (b.len == 0)
        lb_buf_adds(&b, "sandbox");
    lb_sha256_hex(abs, strlen(abs), hex);
    lb_buf_printf(&b, "-%.8s", hex);
    free(parent);
    return lb_buf_steal(&b);
}

char *lb_sandbox_server_dir(const char *dir)
{
    const char *root = getenv("LIFEBOAT_SERVER_ROOT");
    char *abs = lb_path_abs(dir != NULL && dir[0] != '\0' ? dir : LB_SANDBOX_DEFAULT_DIR);
    char *name, *out;

    if (abs == NULL)
        return NULL;
    if (root == NULL || root[0] == '\0') {
        if (!lb_proc_is_root()) {
            out = lb_path_join(abs, "pg");
            free(abs);
            return out;
        }
        root = DEFAULT_SERVER_ROOT;
    }
    name = server_dir_name(abs);
    out = lb_path_join(root, name);
    free(name);
    free(abs);
    return out;
}

void lb_sb_progress(const struct lb_sb *sb, const char *fmt, ...)
{
    struct lb_buf b = {0};
    va_list ap;

    if (sb->o == NULL || sb->o->progress == NULL)
        return;
    va_start(ap, fmt);
    lb_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    sb->o->progress(b.data, sb->o->progress_ud);
    lb_buf_free(&b);
}

/* Paths of one server directory (data, sockets, archive, log). */
static void server_paths(struct lb_sb *sb)
{
    sb->data_dir = lb_path_join(sb->server_dir, "data");
    sb->sock_dir = lb_path_join(sb->server_dir, "sock");
    sb->archive_dir = lb_path_join(sb->server_dir, "archive");
    sb->log_path = lb_path_join(sb->server_dir, "server.log");
    sb->pg_ctl = lb_pg_tool("pg_ctl");
    sb->initdb = lb_pg_tool("initdb");
    sb->run_as = lb_proc_is_root() ? SB_OS_USER : NULL;
}

int lb_sb_init(struct lb_sb *sb, const struct lb_sandbox_opts *o, struct lb_err *err)
{
    const char *dir = (o != NULL && o->dir != NULL && o->dir[0] != '\0') ? o->dir
                                                                         : LB_SANDBOX_DEFAULT_DIR;
    struct lb_sb *dep, *rep;

    memset(sb, 0, sizeof(*sb));
    sb->o = o;
    sb->dir = lb_path_abs(dir);
    sb->server_dir = lb_sandbox_server_dir(dir);
    if (sb->dir == NULL || sb->server_dir == NULL)
        return lb_err_set(err, LB_EIO, "%s: cannot make the path absolute: %s", dir,
                          strerror(errno));
    server_paths(sb);
    sb->state_path = lb_path_join(sb->dir, "sandbox.json");
    sb->env_path = lb_path_join(sb->dir, "environment.lua");
    sb->backups_dir = lb_path_join(sb->dir, "backups");
    sb->dump_path = lb_path_join(sb->backups_dir, "nightly.dump");
    sb->staging_dump_path = lb_path_join(sb->backups_dir, "staging.dump");
    sb->cluster_name = SB_CLUSTER_NAME;
    sb->scale = (o != NULL && o->scale > 0) ? o->scale : 1;

    sb->base_path = lb_path_join(sb->backups_dir, "base");
    sb->pgbr_dir = lb_path_join(sb->server_dir, "pgbackrest");
    sb->pgbr_conf = lb_path_join(sb->pgbr_dir, "pgbackrest.conf");
    sb->bin_dir = lb_path_join(sb->dir, "bin");
    sb->fence_path = lb_path_join(sb->bin_dir, "fence");
    sb->unfence_path = lb_path_join(sb->bin_dir, "unfence");

    {
        char hex[65];
        unsigned long h;

        lb_sha256_hex(sb->server_dir, strlen(sb->server_dir), hex);
        hex[4] = '\0';
        h = strtoul(hex, NULL, 16);
        sb->port_base = SB_FIRST_PORT + (int)(h % 250) * 4;
    }

    dep = lb_xcalloc(1, sizeof(*dep));
    dep->o = o;
    dep->dir = lb_xstrdup(sb->dir);
    dep->server_dir = lb_xasprintf("%s-deprecated", sb->server_dir);
    server_paths(dep);
    dep->cluster_name = SB_DEPRECATED_CLUSTER_NAME;
    dep->port_base = sb->port_base;
    sb->dep = dep;

    rep = lb_xcalloc(1, sizeof(*rep));
    rep->o = o;
    rep->dir = lb_xstrdup(sb->dir);
    rep->server_dir = lb_xasprintf("%s-replica", sb->server_dir);
    server_paths(rep);
    rep->cluster_name = SB_REPLICA_CLUSTER_NAME;
    rep->port_base = sb->port_base;
    sb->rep = rep;
    return 0;
}

void lb_sb_free(struct lb_sb *sb)
{
    if (sb->dep != NULL) {
        lb_sb_free(sb->dep);
        free(sb->dep);
    }
    if (sb->rep != NULL) {
        lb_sb_free(sb->rep);
        free(sb->rep);
    }
    free(sb->base_path);
    free(sb->pgbr_dir);
    free(sb->pgbr_conf);
    free(sb->bin_dir);
    free(sb->fence_path);
    free(sb->unfence_path);
    free(sb->dir);
    free(sb->server_dir);
    free(sb->data_dir);
    free(sb->sock_dir);
    free(sb->archive_dir);
    free(sb->log_path);
    free(sb->state_path);
    free(sb->env_path);
    free(sb->backups_dir);
    free(sb->dump_path);
    free(sb->staging_dump_path);
    free(sb->pg_ctl);
    free(sb->initdb);
    free(sb->guard_token);
    free(sb->system_identifier);
    memset(sb, 0, sizeof(*sb));
}

/* "" for the sandbox's primary, "deprecated " for the deprecated cluster:
 * progress lines and errors say which server they are about. */
static const char *which(const struct lb_sb *sb)
{
    if (sb->cluster_name != NULL && strcmp(sb->cluster_name, SB_DEPRECATED_CLUSTER_NAME) == 0)
        return "deprecated ";
    if (sb->cluster_name != NULL && strcmp(sb->cluster_name, SB_REPLICA_CLUSTER_NAME) == 0)
        return "replica ";
    return "";
}

/* Stop whatever server runs on the data directory: fast, else immediate. */
static int stop_server(struct lb_sb *sb, struct lb_err *err)
{
    if (!lb_sb_has_cluster(sb) || !lb_sb_pg_ctl_running(sb))
        return 0;
    lb_sb_progress(sb, "stopping the %sPostgreSQL server", which(sb));
    if (lb_sb_stop(sb, "fast", err) == 0)
        return 0;
    lb_err_clear(err);
    if (lb_sb_stop(sb, "immediate", err) == 0)
        return 0;
    if (!lb_sb_pg_ctl_running(sb)) {
        lb_err_clear(err);
        return 0;
    }
    return lb_err_prefix(err, "stopping the %ssandbox server", which(sb));
}

/* Remove what `up` writes into D, then D itself if nothing else is left. */
static int remove_sandbox_dir(struct lb_sb *sb, struct lb_err *err)
{
    char *pg = lb_path_join(sb->dir, "pg");
    char *pg_dep = lb_path_join(sb->dir, "pg-deprecated");
    int rc;

    char *pg_rep = lb_path_join(sb->dir, "pg-replica");

    rc = lb_rmtree(sb->backups_dir, err);
    if (rc == 0)
        rc = lb_rmtree(sb->bin_dir, err);
    if (rc == 0)
        rc = lb_rmtree(pg, err);
    if (rc == 0)
        rc = lb_rmtree(pg_dep, err);
    if (rc == 0)
        rc = lb_rmtree(pg_rep, err);
    if (rc == 0 && unlink(sb->env_path) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rm %s: %s", sb->env_path, strerror(errno));
    if (rc == 0 && unlink(sb->state_path) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rm %s: %s", sb->state_path, strerror(errno));
    if (rc == 0 && rmdir(sb->dir) != 0 && errno != ENOENT) {
        if (errno == ENOTEMPTY || errno == EEXIST)
            lb_sb_progress(sb, "left %s in place: it holds files lifeboat did not write",
                           sb->dir);
        else
            rc = lb_err_set(err, LB_EIO, "rmdir %s: %s", sb->dir, strerror(errno));
    }
    free(pg);
    free(pg_dep);
    free(pg_rep);
    return rc;
}

/* A server of an existing sandbox: leave it running, wait for it, or start it. */
/*
 * Another server answers on this one's port (ours stopped, and someone
 * else's sandbox took the port meanwhile): move ours to a free port,
 * written last in postgresql.auto.conf so that it wins.
 */
static int move_port(struct lb_sb *sb, struct lb_err *err)
{
    char *auto_conf = lb_path_join(sb->data_dir, "postgresql.auto.conf");
    int old = sb->port;
    FILE *f = NULL;
    int rc;

    rc = lb_sb_free_port(&sb->port, sb->port_base, err);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "port %d is taken by another server: moving the %sserver to %d", old,
                   which(sb), sb->port);
    f = fopen(auto_conf, "a");
    if (f == NULL || fprintf(f, "\n# lifeboat sandbox: port %d was taken\nport = %d\n", old,
                             sb->port) < 0) {
        rc = lb_err_set(err, LB_EIO, "%s: %s", auto_conf, strerror(errno));
        goto out;
    }
    sb->port_moved = 1;
out:
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = lb_err_set(err, LB_EIO, "%s: %s", auto_conf, strerror(errno));
    free(auto_conf);
    return rc;
}

static int ensure_running(struct lb_sb *sb, struct lb_err *err)
{
    int ready = 0;
    int rc;

    if (sb->port > 0 && lb_sb_has_cluster(sb) && !lb_cluster_running(sb->data_dir) &&
        lb_sb_answers(sb, 3000)) {
        rc = move_port(sb, err);
        if (rc != 0)
            return rc;
    }
    if (lb_sb_answers(sb, 3000)) {
        lb_sb_progress(sb, "%s already running on 127.0.0.1:%d",
                       which(sb)[0] == 'd' ? "deprecated cluster"
                                           : which(sb)[0] == 'r' ? "replica" : "primary",
                       sb->port);
        return 0;
    }
    if (lb_sb_pg_ctl_running(sb)) {
        /* Starting up, recovering, or a crashed server still dying. */
        lb_sb_progress(sb, "waiting for the %sPostgreSQL server on 127.0.0.1:%d", which(sb),
                       sb->port);
        ready = lb_sb_wait_ready(sb, 60 * 1000);
        if (ready < 0)
            return lb_err_set(err, LB_ETIMEOUT,
                              "the %ssandbox server runs but does not accept connections "
                              "on 127.0.0.1:%d (see %s)", which(sb), sb->port, sb->log_path);
    }
    if (!ready) {
        lb_sb_progress(sb, "starting the stopped %sserver on 127.0.0.1:%d", which(sb),
                       sb->port);
        return lb_sb_start(sb, err);
    }
    return 0;
}

static int dump(struct lb_sb *sb, const struct lb_sb *from, const char *path,
                const char *what, struct lb_err *err);
static int repair(struct lb_sb *sb, int *changed, struct lb_err *err);

/* An existing sandbox: put its topology back, make sure its servers run
 * and its files are there. */
static int resume(struct lb_sb *sb, struct lb_err *err)
{
    int changed = 0;
    int rc;

    rc = repair(sb, &changed, err);
    if (rc == 0 && sb->with_deprecated)
        rc = ensure_running(sb->dep, err);
    if (rc != 0)
        return rc;
    if (sb->o->scale > 0 && sb->o->scale != sb->scale)
        lb_sb_progress(sb, "keeping scale %d (sandbox down, then up, to change it)", sb->scale);
    if (sb->with_deprecated && !sb->o->with_deprecated)
        lb_sb_progress(sb, "keeping the deprecated cluster (sandbox down, then up, to drop it)");
    if (!lb_file_exists(sb->fence_path) || !lb_file_exists(sb->unfence_path) ||
        sb->port_moved || sb->rep->port_moved || sb->dep->port_moved)
        changed = 1;
    if (changed) {
        rc = lb_sb_write_fence_commands(sb, err);
        if (rc == 0)
            rc = lb_sb_state_write(sb, err);
    }
    if (rc == 0 && (changed || !lb_file_exists(sb->env_path))) {
        lb_sb_progress(sb, "writing %s", sb->env_path);
        rc = lb_sb_env_write(sb, err);
    }
    return rc;
}

/* The cluster's system identifier into sb->system_identifier. */
static int read_system_identifier(struct lb_sb *sb, struct lb_pg *c, int64_t deadline,
                                  struct lb_err *err)
{
    int rc;

    free(sb->system_identifier);
    sb->system_identifier = NULL;
    rc = lb_pg_scalar(c, "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
                      0, NULL, deadline, &sb->system_identifier, err);
    if (rc == 0 && sb->system_identifier == NULL)
        rc = lb_err_set(err, LB_EDB, "pg_control_system() returned no system identifier");
    return rc;
}

/* CREATE DATABASE inventory and run `sql` in it (through the sandbox's
 * superuser); leaves the connection to it in *out. */
static int create_database(struct lb_sb *sb, const char *sql, int64_t deadline,
                           struct lb_pg **out, struct lb_err *err)
{
    char *admin = lb_sb_conninfo(sb, "postgres");
    char *ci = lb_sb_conninfo(sb, SB_DB);
    struct lb_pg *c = NULL;
    int rc;

    *out = NULL;
    rc = lb_pg_connect(admin, lb_mono_ms() + CONNECT_TIMEOUT_MS, &c, err);
    if (rc != 0)
        goto out;
    rc = lb_pg_query(c, "CREATE DATABASE " SB_DB, 0, NULL, deadline, NULL, err);
    if (rc != 0)
        goto out;
    lb_pg_close(c);
    c = NULL;
    rc = lb_pg_connect(ci, lb_mono_ms() + CONNECT_TIMEOUT_MS, &c, err);
    if (rc != 0)
        goto out;
    rc = lb_pg_exec_script(c, sql, deadline, err);
    if (rc != 0) {
        lb_err_prefix(err, "seeding the %sserver", which(sb));
        goto out;
    }
    *out = c;
    c = NULL;
out:
    lb_pg_close(c);
    free(admin);
    free(ci);
    return rc;
}

/* CREATE DATABASE inventory, seed it, install the guard marker, read the
 * system identifier. */
static int seed(struct lb_sb *sb, struct lb_err *err)
{
    int64_t deadline = lb_mono_ms() + (300 + 120 * (int64_t)sb->scale) * 1000;
    char *sql = lb_sb_seed_sql(sb->scale);
    struct lb_pg *c = NULL;
    uint8_t raw[32];
    char token[65];
    int rc;

    lb_sb_progress(sb, "seeding scale %d", sb->scale);
    rc = create_database(sb, sql, deadline, &c, err);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "installing the lifeboat_guard marker");
    rc = lb_random_bytes(raw, sizeof(raw), err);
    if (rc != 0)
        goto out;
    lb_hex_encode(raw, sizeof(raw), token);
    rc = lb_guard_install_marker(c, SB_ENV_NAME, token, err);
    if (rc != 0)
        goto out;
    free(sb->guard_token);
    sb->guard_token = lb_xstrdup(token);
    rc = read_system_identifier(sb, c, deadline, err);
out:
    lb_pg_close(c);
    free(sql);
    return rc;
}

/*
 * The deprecated cluster: staging's predecessor, left running after a
 * migration, same schema, no rows (nothing writes to it any more). Its
 * guard marker carries staging's environment and token, as a logical
 * migration copies the table: a restore of its dump over staging then
 * leaves staging's marker as it was, and only the pinned system identifier
 * (its own initdb, so its own) tells the two apart.
 */
static int seed_deprecated(struct lb_sb *sb, struct lb_err *err)
{
    struct lb_sb *dep = sb->dep;
    int64_t deadline = lb_mono_ms() + 300 * 1000;
    char *sql = lb_sb_schema_sql();
    struct lb_pg *c = NULL;
    int rc;

    lb_sb_progress(sb, "creating the deprecated cluster's schema (no rows)");
    rc = create_database(dep, sql, deadline, &c, err);
    if (rc != 0)
        goto out;
    rc = lb_guard_install_marker(c, SB_ENV_NAME, sb->guard_token, err);
    if (rc != 0)
        goto out;
    free(dep->guard_token);
    dep->guard_token = lb_xstrdup(sb->guard_token);
    rc = read_system_identifier(dep, c, deadline, err);
    if (rc == 0 && strcmp(dep->system_identifier, sb->system_identifier) == 0)
        rc = lb_err_set(err, LB_EINVAL, "the deprecated cluster shares staging's system "
                                         "identifier %s", sb->system_identifier);
out:
    lb_pg_close(c);
    free(sql);
    return rc;
}

/* One committed heartbeat before the nightly dump, so a whole-database
 * restore brings back a lifeboat_heartbeat whose newest beat is the dump's
 * moment: the heartbeat then measures a dump restore's RPO as its age. */
static int seed_heartbeat(const char *conninfo, int64_t deadline_ms, struct lb_err *err)
{
    struct lb_pg *c = NULL;
    int rc = lb_pg_connect(conninfo, deadline_ms, &c, err);
    if (rc == 0)
        rc = lb_heartbeat_seed(c, "sandbox", deadline_ms, NULL, err);
    lb_pg_close(c);
    return rc;
}

/* pg_dump of server `from`'s inventory database to `path`, with provenance. */
static int dump(struct lb_sb *sb, const struct lb_sb *from, const char *path,
                const char *what, struct lb_err *err)
{
    struct lb_dump_opts d = {0};
    struct lb_tool_run run = {0};
    char *ci = lb_sb_conninfo(from, SB_DB);
    int rc;

    lb_sb_progress(sb, "%s to %s", what, path);
    d.conninfo = ci;
    d.path = path;
    d.deadline_ms = lb_mono_ms() + (300 + 120 * (int64_t)sb->scale) * 1000;
    rc = from == sb ? seed_heartbeat(ci, d.deadline_ms, err) : 0;
    if (rc == 0)
        rc = lb_backup_pg_dump(&d, &run, NULL, err);
    lb_tool_run_free(&run);
    free(ci);
    return rc;
}

/* Stop a leftover server (immediate) and remove its server directory. */
static int wipe_server(struct lb_sb *sb, struct lb_err *err)
{
    if (lb_sb_has_cluster(sb) && lb_sb_pg_ctl_running(sb)) {
        lb_sb_progress(sb, "stopping the leftover %sserver", which(sb));
        if (lb_sb_stop(sb, "immediate", err) != 0)
            lb_err_clear(err);
    }
    return lb_rmtree(sb->server_dir, err);
}

/* Throw away what is left of an earlier sandbox at this directory. */
static int wipe(struct lb_sb *sb, struct lb_err *err)
{
    int rc;

    rc = wipe_server(sb->rep, err);
    if (rc == 0)
        rc = wipe_server(sb, err);
    if (rc == 0)
        rc = wipe_server(sb->dep, err);
    if (rc == 0)
        rc = lb_rmtree(sb->backups_dir, err);
    if (rc == 0)
        rc = lb_rmtree(sb->bin_dir, err);
    if (rc == 0 && unlink(sb->state_path) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rm %s: %s", sb->state_path, strerror(errno));
    if (rc == 0 && unlink(sb->env_path) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rm %s: %s", sb->env_path, strerror(errno));
    return rc;
}

/* The socket path ".../sock/.s.PGSQL.NNNNN" must fit in sun_path. */
static int check_socket_path(const struct lb_sb *sb, struct lb_err *err)
{
    struct sockaddr_un sun;

    if (strlen(sb->sock_dir) + strlen("/.s.PGSQL.65535.lock") >= sizeof(sun.sun_path))
        return lb_err_set(err, LB_EINVAL,
                          "socket directory %s is too long for a Unix socket: set "
                          "LIFEBOAT_SERVER_ROOT to a short directory", sb->sock_dir);
    return 0;
}

/* initdb, configure and start one server on a free port. */
static int make_server(struct lb_sb *sb, int *started, struct lb_err *err)
{
    int rc;

    rc = lb_sb_make_server_dir(sb, err);
    if (rc == 0)
        rc = lb_sb_free_port(&sb->port, sb->port_base, err);
    if (rc != 0)
        return rc;
    lb_sb_progress(sb, "initdb in %s", sb->data_dir);
    rc = lb_sb_initdb(sb, err);
    if (rc == 0)
        rc = lb_sb_configure(sb, err);
    if (rc != 0)
        return rc;
    lb_sb_progress(sb, "starting the %sPostgreSQL server on 127.0.0.1:%d", which(sb),
                   sb->port);
    rc = lb_sb_start(sb, err);
    if (rc == 0)
        *started = 1;
    return rc;
}

/* The data directory is a standby's (standby.signal). */
static int standby_dir(const struct lb_sb *s)
{
    char *f = lb_path_join(s->data_dir, "standby.signal");
    int yes = lb_file_exists(f);

    free(f);
    return yes;
}

/* The live state of a server, through its own conninfo. */
static int server_state(const struct lb_sb *s, struct lb_cluster_state *st, struct lb_err *err)
{
    char *ci = lb_sb_conninfo(s, "postgres");
    struct lb_pg *c = NULL;
    int rc;

    rc = lb_pg_connect(ci, lb_mono_ms() + CONNECT_TIMEOUT_MS, &c, err);
    if (rc == 0)
        rc = lb_cluster_state_read(c, lb_mono_ms() + CONNECT_TIMEOUT_MS, st, err);
    lb_pg_close(c);
    free(ci);
    return rc;
}

/* A server's timeline: live when it answers, else from its control file
 * (-1 unknown). Its system identifier into sysid when asked. */
static int server_timeline(const struct lb_sb *s, char *sysid)
{
    struct lb_cluster_state st;
    struct lb_cluster_control ctl;
    struct lb_err e = {0};

    if (sysid != NULL)
        sysid[0] = '\0';
    if (lb_sb_answers(s, 2000) && server_state(s, &st, &e) == 0) {
        if (sysid != NULL)
            snprintf(sysid, 32, "%s", st.system_identifier);
        return st.timeline;
    }
    lb_err_clear(&e);
    if (lb_cluster_controldata(s->data_dir, lb_mono_ms() + 30 * 1000, &ctl, &e) != 0)
        return -1;
    if (sysid != NULL)
        snprintf(sysid, 32, "%s", ctl.system_identifier);
    return ctl.timeline;
}

/* Wait for a server to be as wanted (bounded). */
static int wait_for(const struct lb_sb *s, enum lb_cluster_want want, int64_t ms,
                    struct lb_err *err)
{
    struct lb_cluster_wait_opts wo = {0};
    char *ci = lb_sb_conninfo(s, "postgres");
    int rc;

    wo.conninfo = ci;
    wo.want = want;
    wo.data_dir = s->data_dir;
    wo.log_path = s->log_path;
    wo.deadline_ms = lb_mono_ms() + ms;
    rc = lb_cluster_wait(&wo, err);
    free(ci);
    return rc;
}

/*
 * The primary is gone, a standby, or broken: rebuild it from the replica
 * (promoted first if it still is a standby), which holds the same system
 * (identifier, guard marker, data), so environment.lua stays true. A
 * switchover, not a copy started as a second primary: the new primary is
 * cloned as a standby of the replica, catches up, the replica stops (fast:
 * its last WAL is sent and archived) and the new primary is promoted to a
 * timeline of its own. Two servers never write the same timeline, so the
 * WAL archive keeps one history a point-in-time recovery can follow. The
 * replica is rebuilt from the new primary next.
 */
static int rebuild_primary(struct lb_sb *sb, const char *why, struct lb_err *err)
{
    struct lb_sb *rep = sb->rep;
    struct lb_env_target t = {0};
    struct lb_clone_opts co = {0};
    struct lb_cluster_state st;
    struct lb_tool_run run = {0};
    struct lb_pg *c = NULL;
    char *rep_ci = NULL, *pri_ci = NULL, *newdir = NULL, *old = NULL;
    const char *settings[3];
    int rc;

    lb_sb_progress(sb, "%s: rebuilding the primary from the replica", why);
    if (rep->port <= 0 || !lb_sb_has_cluster(rep)) {
        rc = lb_err_set(err, LB_ESTATE, "%s, and there is no replica to rebuild it from", why);
        goto out;
    }
    rc = ensure_running(rep, err);
    if (rc == 0)
        rc = server_state(rep, &st, err);
    if (rc != 0) {
        rc = lb_err_set(err, LB_ESTATE, "%s, and the replica is unusable: %s", why, err->msg);
        goto out;
    }
    if (strcmp(st.system_identifier, sb->system_identifier) != 0) {
        rc = lb_err_set(err, LB_ESTATE, "%s, and the replica is another system (%s, not %s)",
                        why, st.system_identifier, sb->system_identifier);
        goto out;
    }
    rep_ci = lb_sb_conninfo(rep, SB_DB);
    pri_ci = lb_sb_conninfo(sb, SB_DB);
    if (st.in_recovery) {
        lb_sb_progress(sb, "promoting the replica to rebuild the primary from it");
        rc = lb_pg_connect(rep_ci, lb_mono_ms() + CONNECT_TIMEOUT_MS, &c, err);
        if (rc == 0)
            rc = lb_cluster_promote(c, lb_mono_ms() + 120 * 1000, err);
        lb_pg_close(c);
        c = NULL;
        if (rc != 0)
            goto out;
    }
    if (lb_sb_has_cluster(sb) && lb_sb_pg_ctl_running(sb) && lb_sb_stop(sb, "immediate", err) != 0)
        goto out;
    rc = lb_sb_make_server_dir(sb, err);
    if (rc != 0)
        goto out;
    newdir = lb_cluster_sibling_dir(sb->data_dir, "rebuild");
    settings[0] = "unix_socket_directories";
    settings[1] = sb->sock_dir;
    settings[2] = NULL;
    co.standby = 1;
    co.port = sb->port;
    co.cluster_name = SB_CLUSTER_NAME;
    co.settings = settings;
    co.run_as = sb->run_as;
    rc = lb_cluster_clone(rep_ci, newdir, &co,
                          lb_mono_ms() + (300 + 60 * (int64_t)sb->scale) * 1000, &run, err);
    lb_tool_run_free(&run);
    if (rc != 0)
        goto out;
    t.name = (char *)"staging";
    t.data_dir = sb->data_dir;
    rc = lb_cluster_swap_data_dir(&t, newdir, &old, err);
    if (rc == 0 && old != NULL)
        rc = lb_cluster_remove_dir(sb->data_dir, old, err);
    if (rc == 0)
        rc = lb_sb_start(sb, err);
    if (rc == 0)
        rc = wait_for(sb, LB_CLUSTER_STREAMING, 120 * 1000, err);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "switching over: stopping the replica, promoting the new primary");
    rc = lb_sb_stop(rep, "fast", err);
    if (rc == 0)
        rc = lb_pg_connect(pri_ci, lb_mono_ms() + CONNECT_TIMEOUT_MS, &c, err);
    if (rc == 0)
        rc = lb_cluster_promote(c, lb_mono_ms() + 120 * 1000, err);
    lb_pg_close(c);
    c = NULL;
    if (rc == 0)
        rc = wait_for(sb, LB_CLUSTER_PRIMARY, 120 * 1000, err);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "the primary runs again on 127.0.0.1:%d (same system %s)", sb->port,
                   sb->system_identifier);
out:
    if (rc != 0 && newdir != NULL) {
        struct lb_err ignored = {0};
        if (lb_file_exists(newdir))
            lb_cluster_remove_dir(sb->data_dir, newdir, &ignored);
    }
    lb_pg_close(c);
    free(rep_ci);
    free(pri_ci);
    free(newdir);
    free(old);
    return rc;
}

/* Remove what drills left beside a data directory ("data.old-…",
 * "data.pitr-…" and their logs: restores, swaps) when no server runs on
 * it. Runs after unfencing: DATA.FENCED is gone by then. */
static void remove_leftovers(const struct lb_sb *sb, const struct lb_sb *s)
{
    char *base = lb_path_join(s->server_dir, "data.");
    DIR *d = opendir(s->server_dir);
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char *path = lb_path_join(s->server_dir, e->d_name);
        struct lb_err ignored = {0};
        struct stat st;

        if (lb_str_starts(path, base) && lstat(path, &st) == 0 &&
            (!S_ISDIR(st.st_mode) || !lb_cluster_running(path))) {
            lb_sb_progress(sb, "removing %s, left by a drill", path);
            lb_rmtree(path, &ignored);
        }
        free(path);
    }
    if (d != NULL)
        closedir(d);
    free(base);
}

/* The replica must be a running standby streaming from the primary. */
static int repair_replica(struct lb_sb *sb, int *changed, struct lb_err *err)
{
    struct lb_sb *rep = sb->rep;
    struct lb_cluster_state st;
    const char *why = NULL;
    char reason[1200];
    int rc;

    if (rep->port <= 0) {
        why = "the sandbox has no replica yet";
    } else if (!lb_sb_has_cluster(rep)) {
        why = "the replica's data directory is gone";
    } else if (!standby_dir(rep)) {
        why = "the replica is no longer a standby (promoted)";
    } else {
        rc = ensure_running(rep, err);
        if (rc == 0)
            rc = wait_for(rep, LB_CLUSTER_STREAMING, 5000, err);
        if (rc == LB_EINTR)
            return rc;
        if (rc == 0 && (rc = server_state(rep, &st, err)) == 0 &&
            strcmp(st.system_identifier, sb->system_identifier) != 0)
            rc = lb_err_set(err, LB_ESTATE, "another system (%s) answers on its port",
                            st.system_identifier);
        if (rc == 0) {
            lb_sb_progress(sb, "the replica streams from the primary");
            return 0;
        }
        snprintf(reason, sizeof(reason), "the replica does not stream from the primary (%s)",
                 err->msg);
        lb_err_clear(err);
        why = reason;
    }
    lb_sb_progress(sb, "%s: building it", why);
    *changed = 1;
    return lb_sb_build_replica(sb, err);
}

/*
 * Put the canonical topology back after a drill: unfence, start what is
 * stopped, rebuild a primary that is gone or became a standby (from the
 * replica), rebuild a replica that does not stream from the primary, take
 * any backup layer that is missing. LB_ESTATE: start from scratch.
 */
static int repair(struct lb_sb *sb, int *changed, struct lb_err *err)
{
    struct lb_sb *rep = sb->rep;
    struct lb_cluster_state st;
    const char *why = NULL;
    char reason[1200];
    char *prov = NULL;
    int rc = 0;

    *changed = 0;
    if (lb_sb_fenced(sb)) {
        lb_sb_progress(sb, "the primary is fenced: unfencing it");
        rc = lb_sb_unfence(sb, err);
    }
    if (rc == 0 && lb_sb_fenced(rep)) {
        lb_sb_progress(sb, "the replica is fenced: unfencing it");
        rc = lb_sb_unfence(rep, err);
    }
    if (rc != 0)
        return rc;
    /* A promoted replica on a newer timeline than the primary holds the
     * system's live history (a failover): the primary follows it, so that
     * the archive's newest timeline stays the live one and a recovery to
     * the "latest" timeline restores what the system really holds. */
    if (rep->port > 0 && lb_sb_has_cluster(rep) && !standby_dir(rep)) {
        char rep_sysid[32];
        int rep_tli = server_timeline(rep, rep_sysid);
        int pri_tli = lb_sb_has_cluster(sb) ? server_timeline(sb, NULL) : -1;

        if (rep_tli > 0 && strcmp(rep_sysid, sb->system_identifier) == 0 && rep_tli > pri_tli) {
            snprintf(reason, sizeof(reason),
                     "the replica was promoted (timeline %d, newer than the primary's %d)",
                     rep_tli, pri_tli);
            why = reason;
        }
    }
    if (why != NULL) {
        /* decided above */
    } else if (!lb_sb_has_cluster(sb)) {
        why = "the primary's data directory is gone";
    } else if (standby_dir(sb)) {
        why = "the primary is a standby now";
    } else if ((rc = ensure_running(sb, err)) != 0 || (rc = server_state(sb, &st, err)) != 0) {
        if (rc == LB_EINTR)
            return rc;
        snprintf(reason, sizeof(reason), "the primary does not run (%s)", err->msg);
        lb_err_clear(err);
        why = reason;
    } else if (strcmp(st.system_identifier, sb->system_identifier) != 0) {
        return lb_err_set(err, LB_ESTATE, "the primary is another system (%s, not %s)",
                          st.system_identifier, sb->system_identifier);
    } else if (st.in_recovery && wait_for(sb, LB_CLUSTER_PRIMARY, 60 * 1000, err) != 0) {
        snprintf(reason, sizeof(reason), "the primary stays in recovery (%s)", err->msg);
        lb_err_clear(err);
        why = reason;
    }
    if (why != NULL) {
        rc = rebuild_primary(sb, why, err);
        if (rc != 0)
            return rc;
        *changed = 1;
    }
    rc = repair_replica(sb, changed, err);
    if (rc != 0)
        return rc;

    /* Backup layers that are missing. */
    if (!lb_file_exists(sb->dump_path)) {
        if (sb->with_deprecated)
            rc = dump(sb, sb->dep, sb->dump_path,
                      "nightly dump (of the deprecated cluster, as in the incident)", err);
        else
            rc = dump(sb, sb, sb->dump_path, "nightly dump", err);
    }
    if (rc == 0 && sb->with_deprecated && !lb_file_exists(sb->staging_dump_path))
        rc = dump(sb, sb, sb->staging_dump_path, "good dump of staging", err);
    remove_leftovers(sb, sb);
    remove_leftovers(sb, rep);
    prov = lb_provenance_path(sb->base_path);
    if (rc == 0 && !lb_file_exists(prov))
        rc = lb_sb_basebackup(sb, err);
    if (rc == 0)
        rc = lb_sb_pgbackrest(sb, 0, err);
    free(prov);
    return rc;
}

static int create(struct lb_sb *sb, struct lb_err *err)
{
    int started = 0, dep_started = 0;
    int rc;

    rc = check_socket_path(sb, err);
    if (rc == 0)
        rc = check_socket_path(sb->rep, err);
    if (rc == 0 && sb->with_deprecated)
        rc = check_socket_path(sb->dep, err);
    if (rc == 0)
        rc = wipe(sb, err);
    if (rc == 0)
        rc = lb_mkdirs(sb->backups_dir, 0755, err);
    if (rc == 0)
        rc = make_server(sb, &started, err);
    if (rc == 0)
        rc = seed(sb, err);
    if (rc != 0)
        goto out;
    if (sb->with_deprecated) {
        /* Started while staging runs, so the free port found is its own. */
        rc = make_server(sb->dep, &dep_started, err);
        if (rc == 0)
            rc = seed_deprecated(sb, err);
        /* As in the incident: the nightly job was never re-pointed after
         * the migration and still dumps the deprecated cluster. */
        if (rc == 0)
            rc = dump(sb, sb->dep, sb->dump_path,
                      "nightly dump (of the deprecated cluster, as in the incident)", err);
        if (rc == 0)
            rc = dump(sb, sb, sb->staging_dump_path, "good dump of staging", err);
    } else {
        rc = dump(sb, sb, sb->dump_path, "nightly dump", err);
    }
    if (rc == 0)
        rc = lb_sb_pgbackrest(sb, 1, err);
    if (rc == 0)
        rc = lb_sb_basebackup(sb, err);
    if (rc == 0) {
        sb->rep->port = 0;
        rc = lb_sb_build_replica(sb, err);
    }
    if (rc == 0)
        rc = lb_sb_write_fence_commands(sb, err);
    if (rc != 0)
        goto out;
    sb->created_at = lb_wall_ms();
    rc = lb_sb_state_write(sb, err);
    if (rc != 0)
        goto out;
    lb_sb_progress(sb, "writing %s", sb->env_path);
    rc = lb_sb_env_write(sb, err);
out:
    if (rc != 0) {
        /* Leave the files (server.log says why) but no stray server. */
        struct lb_err ignored = {0};
        if (lb_sb_has_cluster(sb->rep) && lb_sb_pg_ctl_running(sb->rep))
            lb_sb_stop(sb->rep, "immediate", &ignored);
        if (dep_started)
            lb_sb_stop(sb->dep, "immediate", &ignored);
        if (started)
            lb_sb_stop(sb, "immediate", &ignored);
    }
    return rc;
}

int lb_sandbox_up(const struct lb_sandbox_opts *o, struct lb_err *err)
{
    struct lb_sandbox_opts defaults = {0};
    struct lb_sb sb;
    int64_t t0 = lb_mono_ms();
    char took[32];
    int rc;

    if (o == NULL)
        o = &defaults;
    if (o->scale < 0 || o->scale > MAX_SCALE)
        return lb_err_set(err, LB_EINVAL, "scale must be between 1 and %d", MAX_SCALE);
    rc = lb_sb_init(&sb, o, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.state_path)) {
        rc = lb_sb_state_read(&sb, err);
        if (rc == 0 && o->with_deprecated && !sb.with_deprecated) {
            /* Adding it would re-point the nightly dump of a sandbox others
             * may be drilling against: say so rather than do it. */
            rc = lb_err_set(err, LB_EINVAL,
                            "the sandbox in %s was built without --with-deprecated: bring "
                            "it down first (lifeboat sandbox down --dir %s)", sb.dir, sb.dir);
            goto out;
        }
        if (rc != 0) {
            lb_sb_progress(&sb, "%s: rebuilding the sandbox", err->msg);
            lb_err_clear(err);
            rc = 0;
        } else if (sb.with_deprecated && !lb_sb_has_cluster(sb.dep)) {
            lb_sb_progress(&sb, "the deprecated cluster's data directory %s is gone: "
                                "rebuilding", sb.dep->data_dir);
        } else {
            /* A fenced directory may not even show its PG_VERSION. */
            if (lb_sb_fenced(&sb)) {
                lb_sb_progress(&sb, "the primary is fenced: unfencing it");
                rc = lb_sb_unfence(&sb, err);
            }
            if (rc == 0 && lb_sb_fenced(sb.rep)) {
                lb_sb_progress(&sb, "the replica is fenced: unfencing it");
                rc = lb_sb_unfence(sb.rep, err);
            }
            if (rc != 0)
                goto out;
            if (!lb_sb_has_cluster(&sb) && !lb_sb_has_cluster(sb.rep)) {
                lb_sb_progress(&sb, "the server's data directory %s is gone: rebuilding",
                               sb.data_dir);
            } else {
                rc = resume(&sb, err);
                if (rc != LB_ESTATE)
                    goto done;
                lb_sb_progress(&sb, "%s: rebuilding the sandbox from scratch", err->msg);
                lb_err_clear(err);
                rc = 0;
            }
        }
        sb.scale = o->scale > 0 ? o->scale : sb.scale;
    }
    sb.with_deprecated = sb.with_deprecated || o->with_deprecated;
    rc = create(&sb, err);
done:
    if (rc == 0) {
        lb_duration_format(lb_mono_ms() - t0, took, sizeof(took));
        lb_sb_progress(&sb, "up in %s", took);
    }
out:
    lb_sb_free(&sb);
    return rc;
}

int lb_sandbox_down(const struct lb_sandbox_opts *o, struct lb_err *err)
{
    struct lb_sandbox_opts defaults = {0};
    struct lb_sb sb;
    int rc;

    if (o == NULL)
        o = &defaults;
    rc = lb_sb_init(&sb, o, err);
    if (rc != 0)
        goto out;
    /* Every server, whatever sandbox.json says (it may be gone). */
    rc = stop_server(sb.rep, err);
    if (rc == 0)
        rc = stop_server(sb.dep, err);
    if (rc == 0)
        rc = stop_server(&sb, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.rep->server_dir))
        lb_sb_progress(&sb, "removing %s", sb.rep->server_dir);
    rc = lb_rmtree(sb.rep->server_dir, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.dep->server_dir))
        lb_sb_progress(&sb, "removing %s", sb.dep->server_dir);
    rc = lb_rmtree(sb.dep->server_dir, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.server_dir))
        lb_sb_progress(&sb, "removing %s", sb.server_dir);
    rc = lb_rmtree(sb.server_dir, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.dir)) {
        lb_sb_progress(&sb, "removing %s", sb.dir);
        rc = remove_sandbox_dir(&sb, err);
    }
out:
    lb_sb_free(&sb);
    return rc;
}

/* Role, streaming and lag of one server, as status reports them. */
static void server_status(const struct lb_sb *s, int running, char *role, size_t rolesz,
                          int *timeline, int *streaming, int64_t *lag, int64_t *age)
{
    struct lb_cluster_state st;
    struct lb_err e = {0};

    *timeline = -1;
    *streaming = 0;
    *lag = -1;
    *age = -1;
    if (lb_sb_fenced(s)) {
        snprintf(role, rolesz, "fenced");
        return;
    }
    if (!running) {
        snprintf(role, rolesz, "%s", lb_sb_has_cluster(s) ? "stopped" : "missing");
        return;
    }
    if (server_state(s, &st, &e) != 0) {
        snprintf(role, rolesz, "unreachable");
        return;
    }
    snprintf(role, rolesz, "%s", st.in_recovery ? "standby" : "primary");
    *timeline = st.timeline;
    *streaming = st.streaming;
    *lag = st.replay_lag_bytes;
    *age = st.replay_age_ms;
}

int lb_sandbox_status(const struct lb_sandbox_opts *o, struct lb_sandbox_status *st,
                      struct lb_err *err)
{
    struct lb_sandbox_opts defaults = {0};
    struct lb_sb sb;
    int streaming;
    int64_t lag, age;
    int rc;

    memset(st, 0, sizeof(*st));
    if (o == NULL)
        o = &defaults;
    rc = lb_sb_init(&sb, o, err);
    if (rc != 0)
        goto out;
    snprintf(st->server_dir, sizeof(st->server_dir), "%s", sb.server_dir);
    snprintf(st->env_path, sizeof(st->env_path), "%s", sb.env_path);
    st->exists = lb_file_exists(sb.state_path);
    if (st->exists && lb_sb_state_read(&sb, err) == 0)
        st->port = sb.port;
    lb_err_clear(err);
    st->running = (st->port > 0 && lb_sb_answers(&sb, 2000)) || lb_sb_pg_ctl_running(&sb);
    st->deprecated = st->exists && sb.with_deprecated;
    if (st->deprecated) {
        st->deprecated_port = sb.dep->port;
        st->deprecated_running = lb_sb_answers(sb.dep, 2000) || lb_sb_pg_ctl_running(sb.dep);
    }
    st->primary_timeline = -1;
    st->replica_timeline = -1;
    st->replica_lag_bytes = -1;
    st->replica_replay_age_ms = -1;
    if (!st->exists)
        goto out;
    server_status(&sb, st->running, st->primary_role, sizeof(st->primary_role),
                  &st->primary_timeline, &streaming, &lag, &age);
    st->replica = sb.rep->port > 0;
    if (st->replica) {
        st->replica_port = sb.rep->port;
        st->replica_running = lb_sb_answers(sb.rep, 2000) || lb_sb_pg_ctl_running(sb.rep);
        server_status(sb.rep, st->replica_running, st->replica_role, sizeof(st->replica_role),
                      &st->replica_timeline, &st->replica_streaming, &st->replica_lag_bytes,
                      &st->replica_replay_age_ms);
    }
    st->pgbackrest = lb_file_exists(sb.pgbr_conf);
out:
    lb_sb_free(&sb);
    return rc;
}

char *lb_sandbox_status_format(const struct lb_sandbox_status *st, int json)
{
    struct lb_buf b = {0};

    if (json) {
        lb_buf_printf(&b,
                      "{\"exists\": %s, \"running\": %s, \"port\": %d, \"server_dir\": \"%s\", "
                      "\"environment\": \"%s\", \"primary\": {\"role\": \"%s\", \"timeline\": %d}, "
                      "\"replica\": ",
                      st->exists ? "true" : "false", st->running ? "true" : "false", st->port,
                      st->server_dir, st->env_path,
                      st->primary_role[0] ? st->primary_role : "unknown", st->primary_timeline);
        if (st->replica)
            lb_buf_printf(&b,
                          "{\"port\": %d, \"running\": %s, \"role\": \"%s\", \"streaming\": %s, "
                          "\"timeline\": %d, \"lag_bytes\": %lld, \"replay_age_ms\": %lld}",
                          st->replica_port, st->replica_running ? "true" : "false",
                          st->replica_role[0] ? st->replica_role : "unknown",
                          st->replica_streaming ? "true" : "false", st->replica_timeline,
                          (long long)st->replica_lag_bytes,
                          (long long)st->replica_replay_age_ms);
        else
            lb_buf_adds(&b, "null");
        lb_buf_printf(&b, ", \"pgbackrest\": %s, \"deprecated\": %s, \"deprecated_port\": %d, "
                          "\"deprecated_running\": %s}\n",
                      st->pgbackrest ? "true" : "false", st->deprecated ? "true" : "false",
                      st->deprecated_port, st->deprecated_running ? "true" : "false");
        return lb_buf_steal(&b);
    }
    lb_buf_printf(&b, "sandbox %s%s\n", st->exists ? "exists" : "does not exist",
                  st->exists ? (st->running ? ", running" : ", stopped") : "");
    if (st->exists) {
        lb_buf_printf(&b, "  primary (us-east-1): port %d, %s", st->port,
                      st->primary_role[0] ? st->primary_role : "unknown");
        if (st->primary_timeline > 0)
            lb_buf_printf(&b, ", timeline %d", st->primary_timeline);
        lb_buf_addc(&b, '\n');
        if (st->replica) {
            lb_buf_printf(&b, "  replica (us-west-2): port %d, %s", st->replica_port,
                          st->replica_role[0] ? st->replica_role : "unknown");
            if (strcmp(st->replica_role, "standby") == 0) {
                lb_buf_adds(&b, st->replica_streaming ? ", streaming" : ", NOT streaming");
                if (st->replica_lag_bytes >= 0)
                    lb_buf_printf(&b, ", replay lag %lld bytes", (long long)st->replica_lag_bytes);
                if (st->replica_replay_age_ms >= 0) {
                    char d[32];
                    lb_duration_format(st->replica_replay_age_ms, d, sizeof(d));
                    lb_buf_printf(&b, ", last replayed commit %s ago", d);
                }
            }
            lb_buf_addc(&b, '\n');
        } else {
            lb_buf_adds(&b, "  replica (us-west-2): none\n");
        }
    }
    lb_buf_printf(&b, "  server data and sockets: %s\n  environment: %s\n", st->server_dir,
                  st->env_path);
    if (st->deprecated)
        lb_buf_printf(&b, "  deprecated cluster: port %d, %s\n", st->deprecated_port,
                      st->deprecated_running ? "running" : "stopped");
    return lb_buf_steal(&b);
}
