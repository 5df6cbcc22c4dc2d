/*
 * files: sandbox.json (what `up` built: port, server directory, guard
 * token, pinned identifier) and environment.lua (the same facts in the
 * environment format DESIGN describes, read by the engine's loader).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lifeboat/proc.h"
#include "sandbox_int.h"

#define STATE_FORMAT 1

char *lb_sb_conninfo(const struct lb_sb *sb, const char *db)
{
    return lb_xasprintf("host=127.0.0.1 port=%d dbname=%s user=%s", sb->port, db, SB_USER);
}

int lb_sb_state_write(const struct lb_sb *sb, struct lb_err *err)
{
    cJSON *root = cJSON_CreateObject();
    char *conninfo = lb_sb_conninfo(sb, SB_DB);
    char *dep_conninfo = NULL;
    char *rep_conninfo = NULL;
    char *text = NULL;
    char iso[64];
    char ms[32];
    int rc;

    lb_wall_format(sb->created_at, iso, sizeof(iso));
    snprintf(ms, sizeof(ms), "%" PRId64, sb->created_at);
    if (root == NULL ||
        cJSON_AddNumberToObject(root, "format", STATE_FORMAT) == NULL ||
        cJSON_AddStringToObject(root, "created_at", iso) == NULL ||
        cJSON_AddRawToObject(root, "created_at_ms", ms) == NULL ||
        cJSON_AddNumberToObject(root, "port", sb->port) == NULL ||
        cJSON_AddStringToObject(root, "conninfo", conninfo) == NULL ||
        cJSON_AddStringToObject(root, "server_dir", sb->server_dir) == NULL ||
        cJSON_AddStringToObject(root, "data_dir", sb->data_dir) == NULL ||
        cJSON_AddStringToObject(root, "cluster_name", SB_CLUSTER_NAME) == NULL ||
        cJSON_AddStringToObject(root, "system_identifier", sb->system_identifier) == NULL ||
        cJSON_AddStringToObject(root, "guard_token", sb->guard_token) == NULL ||
        cJSON_AddNumberToObject(root, "scale", sb->scale) == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "sandbox.json: out of memory");
        goto out;
    }
    if (sb->with_deprecated) {
        const struct lb_sb *dep = sb->dep;
        cJSON *d = cJSON_AddObjectToObject(root, "deprecated");

        dep_conninfo = lb_sb_conninfo(dep, SB_DB);
        if (d == NULL ||
            cJSON_AddNumberToObject(d, "port", dep->port) == NULL ||
            cJSON_AddStringToObject(d, "conninfo", dep_conninfo) == NULL ||
            cJSON_AddStringToObject(d, "server_dir", dep->server_dir) == NULL ||
            cJSON_AddStringToObject(d, "data_dir", dep->data_dir) == NULL ||
            cJSON_AddStringToObject(d, "cluster_name", SB_DEPRECATED_CLUSTER_NAME) == NULL ||
            cJSON_AddStringToObject(d, "system_identifier", dep->system_identifier) == NULL) {
            rc = lb_err_set(err, LB_ENOMEM, "sandbox.json: out of memory");
            goto out;
        }
    }
    /* After "deprecated": readers take the second conninfo as its. */
    if (sb->rep != NULL && sb->rep->port > 0) {
        const struct lb_sb *rep = sb->rep;
        cJSON *r = cJSON_AddObjectToObject(root, "replica");

        rep_conninfo = lb_sb_conninfo(rep, SB_DB);
        if (r == NULL ||
            cJSON_AddNumberToObject(r, "port", rep->port) == NULL ||
            cJSON_AddStringToObject(r, "conninfo", rep_conninfo) == NULL ||
            cJSON_AddStringToObject(r, "server_dir", rep->server_dir) == NULL ||
            cJSON_AddStringToObject(r, "data_dir", rep->data_dir) == NULL ||
            cJSON_AddStringToObject(r, "cluster_name", SB_REPLICA_CLUSTER_NAME) == NULL ||
            cJSON_AddStringToObject(r, "slot", SB_REPLICA_SLOT) == NULL) {
            rc = lb_err_set(err, LB_ENOMEM, "sandbox.json: out of memory");
            goto out;
        }
    }
    if (cJSON_AddStringToObject(root, "base_backup", sb->base_path) == NULL ||
        cJSON_AddStringToObject(root, "wal_archive", sb->archive_dir) == NULL ||
        cJSON_AddStringToObject(root, "pgbackrest_config", sb->pgbr_conf) == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "sandbox.json: out of memory");
        goto out;
    }
    text = cJSON_Print(root);
    if (text == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "sandbox.json: out of memory");
        goto out;
    }
    rc = lb_file_write(sb->state_path, text, strlen(text), err);
out:
    cJSON_free(text);
    cJSON_Delete(root);
    free(conninfo);
    free(dep_conninfo);
    free(rep_conninfo);
    return rc;
}

int lb_sb_state_read(struct lb_sb *sb, struct lb_err *err)
{
    cJSON *root = NULL;
    const cJSON *v, *d;
    char *text = NULL;
    int rc;

    rc = lb_file_read(sb->state_path, &text, NULL, err);
    if (rc != 0)
        goto out;
    root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        rc = lb_err_set(err, LB_EINVAL, "%s: not a sandbox state file", sb->state_path);
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "port");
    sb->port = cJSON_IsNumber(v) ? v->valueint : 0;
    v = cJSON_GetObjectItemCaseSensitive(root, "scale");
    sb->scale = cJSON_IsNumber(v) ? v->valueint : 1;
    v = cJSON_GetObjectItemCaseSensitive(root, "created_at_ms");
    sb->created_at = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
    free(sb->guard_token);
    free(sb->system_identifier);
    v = cJSON_GetObjectItemCaseSensitive(root, "guard_token");
    sb->guard_token = cJSON_IsString(v) ? lb_xstrdup(v->valuestring) : NULL;
    v = cJSON_GetObjectItemCaseSensitive(root, "system_identifier");
    sb->system_identifier = cJSON_IsString(v) ? lb_xstrdup(v->valuestring) : NULL;
    if (sb->port <= 0 || sb->port > 65535 || sb->guard_token == NULL ||
        sb->system_identifier == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "%s: incomplete sandbox state", sb->state_path);
        goto out;
    }
    /* A sandbox built before the replica existed has none: up adds it. */
    d = cJSON_GetObjectItemCaseSensitive(root, "replica");
    v = cJSON_GetObjectItemCaseSensitive(d, "port");
    sb->rep->port = cJSON_IsNumber(v) && v->valueint > 0 && v->valueint <= 65535 ? v->valueint : 0;
    d = cJSON_GetObjectItemCaseSensitive(root, "deprecated");
    if (d != NULL) {
        struct lb_sb *dep = sb->dep;

        v = cJSON_GetObjectItemCaseSensitive(d, "port");
        dep->port = cJSON_IsNumber(v) ? v->valueint : 0;
        v = cJSON_GetObjectItemCaseSensitive(d, "system_identifier");
        free(dep->system_identifier);
        dep->system_identifier = cJSON_IsString(v) ? lb_xstrdup(v->valuestring) : NULL;
        free(dep->guard_token);
        dep->guard_token = lb_xstrdup(sb->guard_token);
        if (!cJSON_IsObject(d) || dep->port <= 0 || dep->port > 65535 ||
            dep->system_identifier == NULL) {
            rc = lb_err_set(err, LB_EINVAL, "%s: incomplete state of the deprecated cluster",
                            sb->state_path);
            goto out;
        }
        sb->with_deprecated = 1;
    }
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* A Lua string literal. */
static void lua_str(struct lb_buf *b, const char *s)
{
    lb_buf_addc(b, '"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            lb_buf_addc(b, '\\');
            lb_buf_addc(b, (char)c);
        } else if (c == '\n') {
            lb_buf_adds(b, "\\n");
        } else if (c < 0x20 || c == 0x7f) {
            lb_buf_printf(b, "\\%03u", (unsigned)c);
        } else {
            lb_buf_addc(b, (char)c);
        }
    }
    lb_buf_addc(b, '"');
}

/* `key = { "a", "b", ... },` from a NULL-ended argv. */
static void lua_argv(struct lb_buf *b, const char *key, const char *const *argv)
{
    size_t i;

    lb_buf_printf(b, "      %s = { ", key);
    for (i = 0; argv[i] != NULL; i++) {
        if (i > 0)
            lb_buf_adds(b, ", ");
        lua_str(b, argv[i]);
    }
    lb_buf_adds(b, " },\n");
}

/* Text for a Lua comment line: no line breaks. */
static char *one_line(const char *s)
{
    char *copy = lb_xstrdup(s);
    char *p;

    for (p = copy; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return copy;
}

/* What a target block of environment.lua says besides the server's own facts. */
struct env_target_spec {
    const char *name;
    const char *region;
    const char *replica_of;   /* NULL: none */
};

/* One target block of environment.lua for server `s` (its stop and start
 * argv run the server tools as the postgres user when root; fence and
 * unfence are the sandbox's D/bin commands). */
static void env_target(struct lb_buf *b, const struct env_target_spec *spec,
                       const struct lb_sb *s, const struct lb_sb *sb)
{
    const char *stop[16], *start[16], *fence[3], *unfence[3];
    char *conninfo = lb_sb_conninfo(s, SB_DB);
    size_t n = 0, m = 0;

    if (s->run_as != NULL) {
        const char *wrap[] = {"runuser", "-u", s->run_as, "--"};
        size_t i;

        for (i = 0; i < 4; i++)
            stop[n++] = start[m++] = wrap[i];
    }
    stop[n++] = s->pg_ctl;
    stop[n++] = "-D";
    stop[n++] = s->data_dir;
    stop[n++] = "-m";
    stop[n++] = "immediate";
    stop[n++] = "stop";
    stop[n] = NULL;
    start[m++] = s->pg_ctl;
    start[m++] = "-D";
    start[m++] = s->data_dir;
    start[m++] = "-l";
    start[m++] = s->log_path;
    start[m++] = "-w";
    start[m++] = "start";
    start[m] = NULL;
    fence[0] = sb->fence_path;
    fence[1] = s->data_dir;
    fence[2] = NULL;
    unfence[0] = sb->unfence_path;
    unfence[1] = s->data_dir;
    unfence[2] = NULL;

    lb_buf_printf(b, "    %s = {\n      conninfo = ", spec->name);
    lua_str(b, conninfo);
    lb_buf_adds(b, ",\n      role = \"staging\",\n      region = ");
    lua_str(b, spec->region);
    if (spec->replica_of != NULL) {
        lb_buf_adds(b, ",\n      replica_of = ");
        lua_str(b, spec->replica_of);
    }
    lb_buf_adds(b, ",\n      system_identifier = ");
    lua_str(b, s->system_identifier);
    lb_buf_adds(b, ",\n      cluster_name = ");
    lua_str(b, s->cluster_name);
    lb_buf_adds(b, ",\n      guard_token = ");
    lua_str(b, sb->guard_token);
    lb_buf_adds(b, ",\n      data_dir = ");
    lua_str(b, s->data_dir);
    lb_buf_adds(b, ",\n");
    lua_argv(b, "stop ", stop);
    lua_argv(b, "start", start);
    lua_argv(b, "fence", fence);
    lua_argv(b, "unfence", unfence);
    lb_buf_adds(b, "    },\n");
    free(conninfo);
}

/* One pg_dump layer of environment.lua. */
static void env_dump_layer(struct lb_buf *b, const char *name, const char *path)
{
    lb_buf_printf(b, "    %s = { kind = \"pg_dump\", path = ", name);
    lua_str(b, path);
    lb_buf_adds(b, ", source = \"staging\", max_age = \"26h\", tolerance = 0.05 },\n");
}

int lb_sb_env_write(const struct lb_sb *sb, struct lb_err *err)
{
    static const struct env_target_spec staging = {"staging", "us-east-1", NULL};
    static const struct env_target_spec replica = {"replica", "us-west-2", "staging"};
    static const struct env_target_spec deprecated = {"deprecated", "us-east-1", NULL};
    struct lb_sb rep_pinned;
    struct lb_buf b = {0};
    char *comment_dir = one_line(sb->server_dir);
    char now[64];
    int rc;

    lb_wall_format(lb_wall_ms(), now, sizeof(now));
    lb_buf_printf(&b,
                  "-- Written by `lifeboat sandbox up` on %s. Server data and sockets: %s\n"
                  "-- Two regions: the primary (us-east-1) archives its WAL and streams to\n"
                  "-- the replica (us-west-2), a physical copy: same system identifier and\n"
                  "-- guard marker. `lifeboat sandbox up` puts this topology back after a drill.\n"
                  "return {\n"
                  "  name = \"" SB_ENV_NAME "\",\n"
                  "  targets = {\n",
                  now, comment_dir);
    env_target(&b, &staging, sb, sb);
    if (sb->rep != NULL && sb->rep->port > 0) {
        /* A physical replica is the same system: the primary's identifier. */
        rep_pinned = *sb->rep;
        rep_pinned.system_identifier = sb->system_identifier;
        env_target(&b, &replica, &rep_pinned, sb);
    }
    if (sb->with_deprecated) {
        lb_buf_adds(&b, "    -- staging's predecessor, left running after the migration: same\n"
                        "    -- schema, no rows, its own system_identifier.\n");
        env_target(&b, &deprecated, sb->dep, sb);
    }
    lb_buf_adds(&b, "  },\n  routes = { primary = \"staging\" },\n  backups = {\n");
    if (sb->with_deprecated) {
        lb_buf_adds(&b, "    -- As in the incident: the nightly job still dumps the deprecated\n"
                        "    -- cluster, while everyone believes it backs up staging.\n");
        env_dump_layer(&b, "nightly_dump", sb->dump_path);
        lb_buf_adds(&b, "    -- A good dump of staging: what a drill's rollback restores from.\n");
        env_dump_layer(&b, "staging_dump", sb->staging_dump_path);
    } else {
        env_dump_layer(&b, "nightly_dump", sb->dump_path);
    }
    lb_buf_adds(&b, "    -- pg_basebackup (plain format) and the WAL archive the primary's\n"
                    "    -- archive_command fills: point-in-time recovery.\n"
                    "    base_backup = { kind = \"basebackup\", path = ");
    lua_str(&b, sb->base_path);
    lb_buf_adds(&b, ", wal_archive = ");
    lua_str(&b, sb->archive_dir);
    lb_buf_adds(&b, ",\n                    source = \"staging\", max_age = \"8d\" },\n"
                    "    -- pgBackRest, stanza " SB_STANZA ": `path` is its configuration file\n"
                    "    -- (pass it as --config); repo 1 is the hot repository, repo 2 the cold\n"
                    "    -- one standing for off-site storage. Provenance: repoN.provenance.json\n"
                    "    -- beside the configuration, as are the repositories repo1/ and repo2/.\n"
                    "    pgbackrest_hot = { kind = \"pgbackrest\", stanza = \"" SB_STANZA "\", "
                    "repo = 1, path = ");
    lua_str(&b, sb->pgbr_conf);
    lb_buf_adds(&b, ",\n                       source = \"staging\", max_age = \"8d\" },\n"
                    "    pgbackrest_cold = { kind = \"pgbackrest\", stanza = \"" SB_STANZA "\", "
                    "repo = 2, path = ");
    lua_str(&b, sb->pgbr_conf);
    lb_buf_adds(&b, ",\n                        source = \"staging\", max_age = \"8d\" },\n");
    lb_buf_adds(&b, "  },\n"
                    "  -- `lifeboat audit --restore` restores each dump into a throw-away\n"
                    "  -- database (lifeboat_audit_*) on this target's cluster, then drops it.\n"
                    "  scratch = \"staging\",\n"
                    "  objectives = { rto = \"30m\", rpo = \"26h\" },\n}\n");
    rc = lb_file_write(sb->env_path, b.data, b.len, err);
    lb_buf_free(&b);
    free(comment_dir);
    return rc;
}
