/*
 * sandbox: bring a local staging system up, down, or report on it. A
 * complete sandbox is one whose sandbox.json exists: that file is written
 * last, so an `up` that failed half-way is rebuilt from scratch next time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lifeboat/backup.h"
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
    struct lb_sb *dep;

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

    dep = lb_xcalloc(1, sizeof(*dep));
    dep->o = o;
    dep->dir = lb_xstrdup(sb->dir);
    dep->server_dir = lb_xasprintf("%s-deprecated", sb->server_dir);
    server_paths(dep);
    dep->cluster_name = SB_DEPRECATED_CLUSTER_NAME;
    sb->dep = dep;
    return 0;
}

void lb_sb_free(struct lb_sb *sb)
{
    if (sb->dep != NULL) {
        lb_sb_free(sb->dep);
        free(sb->dep);
    }
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
    return sb->cluster_name != NULL && strcmp(sb->cluster_name, SB_DEPRECATED_CLUSTER_NAME) == 0
               ? "deprecated "
               : "";
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

    rc = lb_sb_rmtree(sb->backups_dir, err);
    if (rc == 0)
        rc = lb_sb_rmtree(pg, err);
    if (rc == 0)
        rc = lb_sb_rmtree(pg_dep, err);
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
    return rc;
}

/* A server of an existing sandbox: leave it running, wait for it, or start it. */
static int ensure_running(struct lb_sb *sb, struct lb_err *err)
{
    int ready = 0;

    if (lb_sb_answers(sb, 3000)) {
        lb_sb_progress(sb, "%salready running on 127.0.0.1:%d",
                       which(sb)[0] != '\0' ? "deprecated cluster " : "", sb->port);
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

/* A running (or stopped) sandbox: make sure its servers run and it has its file. */
static int resume(struct lb_sb *sb, struct lb_err *err)
{
    int rc;

    rc = ensure_running(sb, err);
    if (rc == 0 && sb->with_deprecated)
        rc = ensure_running(sb->dep, err);
    if (rc != 0)
        return rc;
    if (sb->o->scale > 0 && sb->o->scale != sb->scale)
        lb_sb_progress(sb, "keeping scale %d (sandbox down, then up, to change it)", sb->scale);
    if (sb->with_deprecated && !sb->o->with_deprecated)
        lb_sb_progress(sb, "keeping the deprecated cluster (sandbox down, then up, to drop it)");
    if (!lb_file_exists(sb->env_path)) {
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
    return lb_sb_rmtree(sb->server_dir, err);
}

/* Throw away what is left of an earlier sandbox at this directory. */
static int wipe(struct lb_sb *sb, struct lb_err *err)
{
    int rc;

    rc = wipe_server(sb, err);
    if (rc == 0)
        rc = wipe_server(sb->dep, err);
    if (rc == 0)
        rc = lb_sb_rmtree(sb->backups_dir, err);
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
        rc = lb_sb_free_port(&sb->port, err);
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

static int create(struct lb_sb *sb, struct lb_err *err)
{
    int started = 0, dep_started = 0;
    int rc;

    rc = check_socket_path(sb, err);
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
    int rc;

    if (o == NULL)
        o = &defaults;
    if (o->scale < 0 || o->scale > MAX_SCALE)
        return lb_err_set(err, LB_EINVAL, "scale must be between 1 and %d", MAX_SCALE);
    rc = lb_sb_init(&sb, o, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.state_path) && lb_sb_has_cluster(&sb)) {
        rc = lb_sb_state_read(&sb, err);
        if (rc == 0 && o->with_deprecated && !sb.with_deprecated) {
            /* Adding it would re-point the nightly dump of a sandbox others
             * may be drilling against: say so rather than do it. */
            rc = lb_err_set(err, LB_EINVAL,
                            "the sandbox in %s was built without --with-deprecated: bring "
                            "it down first (lifeboat sandbox down --dir %s)", sb.dir, sb.dir);
            goto out;
        }
        if (rc == 0 && sb.with_deprecated && !lb_sb_has_cluster(sb.dep)) {
            lb_sb_progress(&sb, "the deprecated cluster's data directory %s is gone: "
                                "rebuilding", sb.dep->data_dir);
        } else if (rc == 0) {
            rc = resume(&sb, err);
            goto out;
        } else {
            lb_sb_progress(&sb, "%s: rebuilding the sandbox", err->msg);
            lb_err_clear(err);
            rc = 0;
        }
        sb.scale = o->scale > 0 ? o->scale : sb.scale;
    } else if (lb_file_exists(sb.state_path)) {
        lb_sb_progress(&sb, "the server's data directory %s is gone: rebuilding", sb.data_dir);
    }
    sb.with_deprecated = sb.with_deprecated || o->with_deprecated;
    rc = create(&sb, err);
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
    /* Both servers, whatever sandbox.json says (it may be gone). */
    rc = stop_server(sb.dep, err);
    if (rc == 0)
        rc = stop_server(&sb, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.dep->server_dir))
        lb_sb_progress(&sb, "removing %s", sb.dep->server_dir);
    rc = lb_sb_rmtree(sb.dep->server_dir, err);
    if (rc != 0)
        goto out;
    if (lb_file_exists(sb.server_dir))
        lb_sb_progress(&sb, "removing %s", sb.server_dir);
    rc = lb_sb_rmtree(sb.server_dir, err);
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

int lb_sandbox_status(const struct lb_sandbox_opts *o, struct lb_sandbox_status *st,
                      struct lb_err *err)
{
    struct lb_sandbox_opts defaults = {0};
    struct lb_sb sb;
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
out:
    lb_sb_free(&sb);
    return rc;
}
