/*
 * Environment files: a Lua chunk that returns one table, run with no globals
 * but os.getenv (data only, like a rockspec), checked key by key. And the
 * read-only `env` global scenarios see (no secrets in it).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/notify.h"
#include "lifeboat/pg.h"
#include "lifeboat/util.h"

#define ENV_LOAD_DEADLINE_MS 5000

/* Loader state: the source text, for file:line of keys. */
struct env_loader {
    const char *path;
    const char *src;
    struct lb_err *err;
    int64_t deadline;
};

/* Line (1-based) of the first `key =` at or after line `from`; 0 if none. */
static int key_line(const char *src, const char *key, int from)
{
    size_t klen = strlen(key);
    int line = 1;
    for (const char *p = src; *p; p++) {
        if (*p == '\n') {
            line++;
            continue;
        }
        if (line < from || strncmp(p, key, klen) != 0)
            continue;
        if (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        const char *q = p + klen;
        if (*q == '"' || *q == '\'')
            q++;
        if (*q == ']')
            q++;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' && q[1] != '=')
            return line;
    }
    return 0;
}

static int env_fail(struct env_loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int env_fail(struct env_loader *ld, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        return lb_err_set(ld->err, LB_EINVAL, "%s:%d: %s", ld->path, line, msg);
    return lb_err_set(ld->err, LB_EINVAL, "%s: %s", ld->path, msg);
}

static int check_known(lua_State *L, struct env_loader *ld, int t, const char *what,
                       const char *const *allowed, int from)
{
    t = lua_absindex(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return env_fail(ld, from, "%s: keys must be names", what);
        }
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0)
                ok = 1;
        if (!ok) {
            int rc = env_fail(ld, key_line(ld->src, k, from), "%s: unknown key '%s'", what, k);
            lua_pop(L, 1);
            return rc;
        }
    }
    return 0;
}

/* String field (copied) or NULL; wrong type is an error at its line. */
static int get_str(lua_State *L, struct env_loader *ld, int t, const char *k,
                   const char *what, int from, int required, char **out)
{
    int rc = 0;
    *out = NULL;
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TSTRING) {
        *out = lb_xstrdup(lua_tostring(L, -1));
    } else if (ty == LUA_TNUMBER && strcmp(k, "system_identifier") == 0) {
        rc = env_fail(ld, key_line(ld->src, k, from),
                      "%s.%s must be a string: system identifiers exceed 2^53 and "
                      "lose digits as numbers", what, k);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, k, from), "%s.%s must be a string, not %s",
                      what, k, lua_typename(L, ty));
    } else if (required) {
        rc = env_fail(ld, from, "%s: '%s' is required", what, k);
    }
    lua_pop(L, 1);
    return rc;
}

static int get_duration(lua_State *L, struct env_loader *ld, int t, const char *k,
                        const char *what, int from, int64_t *out)
{
    int rc = 0;
    *out = -1;
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TNUMBER) {
        *out = (int64_t)(lua_tonumber(L, -1) * 1000.0);
    } else if (ty == LUA_TSTRING) {
        struct lb_err e = {0};
        if (lb_duration_parse(lua_tostring(L, -1), out, &e) < 0)
            rc = env_fail(ld, key_line(ld->src, k, from), "%s.%s: %s", what, k, e.msg);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, k, from),
                      "%s.%s must be a duration (\"26h\") or seconds, not %s", what, k,
                      lua_typename(L, ty));
    }
    lua_pop(L, 1);
    return rc;
}

/* A list of strings (argv or names), NULL-ended, or NULL if absent. */
static int get_strv(lua_State *L, struct env_loader *ld, int t, const char *k,
                    const char *what, int from, char ***out, size_t *count)
{
    int rc = 0;
    *out = NULL;
    if (count)
        *count = 0;
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        char **v = lb_xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
                rc = env_fail(ld, key_line(ld->src, k, from),
                              "%s.%s must be a list of strings (item %zu is %s)", what, k,
                              i + 1, luaL_typename(L, -1));
            else
                v[i] = lb_xstrdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        *out = v;
        if (count)
            *count = n;
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, k, from), "%s.%s must be a list of strings",
                      what, k);
    }
    lua_pop(L, 1);
    return rc;
}

static void register_conninfo_secret(struct lb_secrets *sec, const char *conninfo)
{
    char *without = NULL, *password = NULL;
    struct lb_err e = {0};
    if (lb_pg_conninfo_split_password(conninfo, &without, &password, &e) == 0 && password)
        lb_secrets_add(sec, password);
    free(without);
    free(password);
}

static int parse_target(lua_State *L, struct env_loader *ld, struct lb_env *env,
                        const char *name, int from, struct lb_env_target *t)
{
    static const char *const keys[] = {"conninfo", "role", "region", "system_identifier",
                                       "cluster_name", "guard_token", "stop", "start",
                                       "fence", "unfence", "replica_of", "data_dir", NULL};
    char what[160];
    int rc, line = key_line(ld->src, name, from);
    snprintf(what, sizeof(what), "targets.%s", name);
    if (!lua_istable(L, -1))
        return env_fail(ld, line, "%s must be a table", what);
    t->name = lb_xstrdup(name);
    t->line = line;
    if ((rc = check_known(L, ld, -1, what, keys, line)) < 0 ||
        (rc = get_str(L, ld, -1, "conninfo", what, line, 1, &t->conninfo)) < 0 ||
        (rc = get_str(L, ld, -1, "role", what, line, 1, &t->role)) < 0 ||
        (rc = get_str(L, ld, -1, "region", what, line, 0, &t->region)) < 0 ||
        (rc = get_str(L, ld, -1, "system_identifier", what, line, 0,
                      &t->system_identifier)) < 0 ||
        (rc = get_str(L, ld, -1, "cluster_name", what, line, 0, &t->cluster_name)) < 0 ||
        (rc = get_str(L, ld, -1, "guard_token", what, line, 0, &t->guard_token)) < 0 ||
        (rc = get_str(L, ld, -1, "replica_of", what, line, 0, &t->replica_of)) < 0 ||
        (rc = get_str(L, ld, -1, "data_dir", what, line, 0, &t->data_dir)) < 0 ||
        (rc = get_strv(L, ld, -1, "stop", what, line, &t->stop_argv, NULL)) < 0 ||
        (rc = get_strv(L, ld, -1, "start", what, line, &t->start_argv, NULL)) < 0 ||
        (rc = get_strv(L, ld, -1, "fence", what, line, &t->fence_argv, NULL)) < 0 ||
        (rc = get_strv(L, ld, -1, "unfence", what, line, &t->unfence_argv, NULL)) < 0)
        return rc;
    if (t->system_identifier) {
        int64_t v;
        if (lb_parse_int64(t->system_identifier, &v) < 0 && strlen(t->system_identifier) < 21)
            return env_fail(ld, key_line(ld->src, "system_identifier", line),
                            "%s.system_identifier '%s' is not a number", what,
                            t->system_identifier);
    }
    register_conninfo_secret(env->secrets, t->conninfo);
    if (t->guard_token)
        lb_secrets_add(env->secrets, t->guard_token);
    return 0;
}

static int parse_backup(lua_State *L, struct env_loader *ld, const char *name, int from,
                        struct lb_env_backup *b)
{
    static const char *const keys[] = {"kind", "path", "wal_archive", "source", "max_age",
                                       "tolerance", "stanza", "repo", "argv", NULL};
    static const char *const kinds[] = {"pg_dump", "basebackup", "pgbackrest", "command",
                                        NULL};
    char what[160];
    int rc, ok = 0, line = key_line(ld->src, name, from);
    snprintf(what, sizeof(what), "backups.%s", name);
    if (!lua_istable(L, -1))
        return env_fail(ld, line, "%s must be a table", what);
    b->name = lb_xstrdup(name);
    b->line = line;
    b->tolerance = 0.05;
    if ((rc = check_known(L, ld, -1, what, keys, line)) < 0 ||
        (rc = get_str(L, ld, -1, "kind", what, line, 1, &b->kind)) < 0 ||
        (rc = get_str(L, ld, -1, "path", what, line, 0, &b->path)) < 0 ||
        (rc = get_str(L, ld, -1, "wal_archive", what, line, 0, &b->wal_archive)) < 0 ||
        (rc = get_str(L, ld, -1, "source", what, line, 0, &b->source)) < 0 ||
        (rc = get_str(L, ld, -1, "stanza", what, line, 0, &b->stanza)) < 0 ||
        (rc = get_duration(L, ld, -1, "max_age", what, line, &b->max_age_ms)) < 0 ||
        (rc = get_strv(L, ld, -1, "argv", what, line, &b->argv, NULL)) < 0)
        return rc;
    for (const char *const *k = kinds; *k; k++)
        if (strcmp(*k, b->kind) == 0)
            ok = 1;
    if (!ok)
        return env_fail(ld, key_line(ld->src, "kind", line),
                        "%s.kind '%s' is unknown (pg_dump, basebackup, pgbackrest, command)",
                        what, b->kind);
    if (lua_getfield(L, -1, "tolerance") != LUA_TNIL) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 1) {
            lua_pop(L, 1);
            return env_fail(ld, key_line(ld->src, "tolerance", line),
                            "%s.tolerance must be a number between 0 and 1", what);
        }
        b->tolerance = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    b->repo = 1;
    if (lua_getfield(L, -1, "repo") != LUA_TNIL) {
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return env_fail(ld, key_line(ld->src, "repo", line),
                            "%s.repo must be an integer", what);
        }
        b->repo = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    if ((strcmp(b->kind, "pg_dump") == 0 || strcmp(b->kind, "basebackup") == 0) && !b->path)
        return env_fail(ld, line, "%s: kind %s needs a 'path'", what, b->kind);
    if (strcmp(b->kind, "command") == 0 && !b->argv)
        return env_fail(ld, line, "%s: kind command needs 'argv'", what);
    return 0;
}

/* Iterate a name → table map in a stable (sorted) order. */
static char **sorted_keys(lua_State *L, int t, size_t *n)
{
    char **keys = NULL;
    size_t cnt = 0;
    t = lua_absindex(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            keys = lb_xrealloc(keys, (cnt + 1) * sizeof(char *));
            keys[cnt++] = lb_xstrdup(lua_tostring(L, -1));
        }
    }
    for (size_t i = 1; i < cnt; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            char *tmp = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = tmp;
        }
    *n = cnt;
    return keys;
}

static void free_keys(char **k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(k[i]);
    free(k);
}

/* notify = { slack = {...}, pagerduty = {...}, webhook = {...}, pushgateway = {...},
 * timeout, retries }: names of environment variables only, never secrets. */
static int parse_notify(lua_State *L, struct env_loader *ld, struct lb_env *env, int from)
{
    static const char *const keys[] = {"slack", "pagerduty", "webhook", "pushgateway",
                                       "timeout", "retries", NULL};
    struct lb_notify_config *c = lb_notify_config_new();
    int t = lua_gettop(L), rc, ty;
    int64_t timeout = -1;

    env->notify = c;
    c->line = from;
    if ((rc = check_known(L, ld, t, "notify", keys, from)) < 0 ||
        (rc = get_duration(L, ld, t, "timeout", "notify", from, &timeout)) < 0)
        return rc;
    if (timeout > 0)
        c->timeout_ms = timeout;
    ty = lua_getfield(L, t, "retries");
    if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
        lua_tointeger(L, -1) <= 10)
        c->retries = (int)lua_tointeger(L, -1);
    else if (ty != LUA_TNIL)
        rc = env_fail(ld, key_line(ld->src, "retries", from),
                      "notify.retries must be an integer from 0 to 10");
    lua_pop(L, 1);
    if (rc < 0)
        return rc;

    if ((ty = lua_getfield(L, t, "slack")) == LUA_TTABLE) {
        static const char *const k[] = {"webhook_env", NULL};
        int line = key_line(ld->src, "slack", from);
        if ((rc = check_known(L, ld, -1, "notify.slack", k, line)) == 0)
            rc = get_str(L, ld, -1, "webhook_env", "notify.slack", line, 1,
                         &c->slack_webhook_env);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, "slack", from), "notify.slack must be a table");
    }
    lua_settop(L, t);
    if (rc < 0)
        return rc;

    if ((ty = lua_getfield(L, t, "pagerduty")) == LUA_TTABLE) {
        static const char *const k[] = {"routing_key_env", "endpoint", "page", NULL};
        int line = key_line(ld->src, "pagerduty", from);
        if ((rc = check_known(L, ld, -1, "notify.pagerduty", k, line)) == 0 &&
            (rc = get_str(L, ld, -1, "routing_key_env", "notify.pagerduty", line, 1,
                          &c->pagerduty_routing_key_env)) == 0)
            rc = get_str(L, ld, -1, "endpoint", "notify.pagerduty", line, 0,
                         &c->pagerduty_endpoint);
        if (rc == 0) {
            int pt = lua_getfield(L, -1, "page");
            if (pt == LUA_TBOOLEAN)
                c->pagerduty_page = lua_toboolean(L, -1);
            else if (pt != LUA_TNIL)
                rc = env_fail(ld, key_line(ld->src, "page", line),
                              "notify.pagerduty.page must be true or false");
            lua_pop(L, 1);
        }
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, "pagerduty", from),
                      "notify.pagerduty must be a table");
    }
    lua_settop(L, t);
    if (rc < 0)
        return rc;

    if ((ty = lua_getfield(L, t, "webhook")) == LUA_TTABLE) {
        static const char *const k[] = {"url_env", NULL};
        int line = key_line(ld->src, "webhook", from);
        if ((rc = check_known(L, ld, -1, "notify.webhook", k, line)) == 0)
            rc = get_str(L, ld, -1, "url_env", "notify.webhook", line, 1, &c->webhook_url_env);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, "webhook", from), "notify.webhook must be a table");
    }
    lua_settop(L, t);
    if (rc < 0)
        return rc;

    if ((ty = lua_getfield(L, t, "pushgateway")) == LUA_TTABLE) {
        static const char *const k[] = {"url", "url_env", "job", NULL};
        int line = key_line(ld->src, "pushgateway", from);
        if ((rc = check_known(L, ld, -1, "notify.pushgateway", k, line)) == 0 &&
            (rc = get_str(L, ld, -1, "url", "notify.pushgateway", line, 0,
                          &c->pushgateway_url)) == 0 &&
            (rc = get_str(L, ld, -1, "url_env", "notify.pushgateway", line, 0,
                          &c->pushgateway_url_env)) == 0)
            rc = get_str(L, ld, -1, "job", "notify.pushgateway", line, 0, &c->pushgateway_job);
        if (rc == 0 && !c->pushgateway_url == !c->pushgateway_url_env)
            rc = env_fail(ld, line, "notify.pushgateway needs url or url_env (one of them)");
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, key_line(ld->src, "pushgateway", from),
                      "notify.pushgateway must be a table");
    }
    lua_settop(L, t);
    if (rc < 0)
        return rc;
    return lb_notify_config_resolve(c, env->secrets, ld->err);
}

static int parse_env(lua_State *L, struct env_loader *ld, struct lb_env *env)
{
    static const char *const keys[] = {"name", "targets", "routes", "backups", "scratch",
                                       "protected", "objectives", "notify", NULL};
    int top = lua_gettop(L);
    int rc;
    char **names = NULL;
    size_t n = 0;

    if (!lua_istable(L, top))
        return env_fail(ld, 0, "the file must return a table (return { name = ..., "
                               "targets = { ... } })");
    if ((rc = check_known(L, ld, top, "environment", keys, 1)) < 0 ||
        (rc = get_str(L, ld, top, "name", "environment", 1, 1, &env->name)) < 0 ||
        (rc = get_str(L, ld, top, "scratch", "environment", 1, 0, &env->scratch)) < 0)
        return rc;

    int tline = key_line(ld->src, "targets", 1);
    if (lua_getfield(L, top, "targets") != LUA_TTABLE) {
        lua_settop(L, top);
        return env_fail(ld, tline, "'targets' is required and must be a table");
    }
    names = sorted_keys(L, -1, &n);
    env->targets = lb_xcalloc(n ? n : 1, sizeof(*env->targets));
    for (size_t i = 0; i < n && rc == 0; i++) {
        lua_getfield(L, -1, names[i]);
        rc = parse_target(L, ld, env, names[i], tline, &env->targets[i]);
        env->ntargets = i + 1;
        lua_pop(L, 1);
    }
    free_keys(names, n);
    lua_settop(L, top);
    if (rc < 0)
        return rc;
    if (env->ntargets == 0)
        return env_fail(ld, tline, "'targets' declares no target");

    int bline = key_line(ld->src, "backups", 1);
    int ty = lua_getfield(L, top, "backups");
    if (ty == LUA_TTABLE) {
        names = sorted_keys(L, -1, &n);
        env->backups = lb_xcalloc(n ? n : 1, sizeof(*env->backups));
        for (size_t i = 0; i < n && rc == 0; i++) {
            lua_getfield(L, -1, names[i]);
            rc = parse_backup(L, ld, names[i], bline, &env->backups[i]);
            env->nbackups = i + 1;
            lua_pop(L, 1);
        }
        free_keys(names, n);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, bline, "'backups' must be a table");
    }
    lua_settop(L, top);
    if (rc < 0)
        return rc;

    int rline = key_line(ld->src, "routes", 1);
    ty = lua_getfield(L, top, "routes");
    if (ty == LUA_TTABLE) {
        names = sorted_keys(L, -1, &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (lua_getfield(L, -1, names[i]) != LUA_TSTRING)
                rc = env_fail(ld, key_line(ld->src, names[i], rline),
                              "routes.%s must name a target", names[i]);
            else if (!lb_env_target(env, lua_tostring(L, -1)))
                rc = env_fail(ld, key_line(ld->src, names[i], rline),
                              "routes.%s names '%s', which is not a declared target",
                              names[i], lua_tostring(L, -1));
            else
                lb_env_set_route(env, names[i], lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        free_keys(names, n);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, rline, "'routes' must be a table");
    }
    lua_settop(L, top);
    if (rc < 0)
        return rc;

    int pline = key_line(ld->src, "protected", 1);
    ty = lua_getfield(L, top, "protected");
    if (ty == LUA_TTABLE) {
        static const char *const pkeys[] = {"system_identifiers", "hosts", NULL};
        if ((rc = check_known(L, ld, -1, "protected", pkeys, pline)) == 0 &&
            (rc = get_strv(L, ld, -1, "system_identifiers", "protected", pline,
                           &env->protected_sysids, &env->nprotected_sysids)) == 0)
            rc = get_strv(L, ld, -1, "hosts", "protected", pline, &env->protected_hosts,
                          &env->nprotected_hosts);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, pline, "'protected' must be a table");
    }
    lua_settop(L, top);
    if (rc < 0)
        return rc;

    int oline = key_line(ld->src, "objectives", 1);
    env->rto_ms = env->rpo_ms = -1;
    ty = lua_getfield(L, top, "objectives");
    if (ty == LUA_TTABLE) {
        static const char *const okeys[] = {"rto", "rpo", NULL};
        if ((rc = check_known(L, ld, -1, "objectives", okeys, oline)) == 0 &&
            (rc = get_duration(L, ld, -1, "rto", "objectives", oline, &env->rto_ms)) == 0)
            rc = get_duration(L, ld, -1, "rpo", "objectives", oline, &env->rpo_ms);
    } else if (ty != LUA_TNIL) {
        rc = env_fail(ld, oline, "'objectives' must be a table");
    }
    lua_settop(L, top);
    if (rc < 0)
        return rc;

    int nline = key_line(ld->src, "notify", 1);
    ty = lua_getfield(L, top, "notify");
    if (ty == LUA_TTABLE)
        rc = parse_notify(L, ld, env, nline);
    else if (ty != LUA_TNIL)
        rc = env_fail(ld, nline, "'notify' must be a table");
    lua_settop(L, top);
    if (rc < 0)
        return rc;

    if (env->scratch && !lb_env_target(env, env->scratch))
        return env_fail(ld, key_line(ld->src, "scratch", 1),
                        "scratch names '%s', which is not a declared target", env->scratch);
    for (size_t i = 0; i < env->nbackups; i++)
        if (env->backups[i].source && !lb_env_target(env, env->backups[i].source))
            return env_fail(ld, key_line(ld->src, "source", env->backups[i].line),
                            "backups.%s.source names '%s', which is not a declared target",
                            env->backups[i].name, env->backups[i].source);
    for (size_t i = 0; i < env->ntargets; i++)
        if (env->targets[i].replica_of && !lb_env_target(env, env->targets[i].replica_of))
            return env_fail(ld, key_line(ld->src, "replica_of", env->targets[i].line),
                            "targets.%s.replica_of names '%s', which is not a declared "
                            "target", env->targets[i].name, env->targets[i].replica_of);
    return 0;
}

static void env_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.env_deadline");
    int64_t deadline = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (lb_mono_ms() > deadline || lb_interrupted())
        luaL_error(L, "the environment file took too long to load");
}

int lb_env_load(const char *path, struct lb_env **out, struct lb_err *err)
{
    struct env_loader ld = {.path = path, .err = err};
    struct lb_env *env = NULL;
    char *src = NULL;
    size_t len = 0;
    lua_State *L = NULL;
    int rc;

    *out = NULL;
    rc = lb_file_read(path, &src, &len, err);
    if (rc < 0) {
        rc = lb_err_set(err, LB_EINVAL, "%s: cannot read the environment file: %s", path,
                        err->msg);
        goto out;
    }
    ld.src = src;
    L = luaL_newstate();
    if (!L) {
        rc = lb_err_set(err, LB_ENOMEM, "cannot create a Lua state");
        goto out;
    }
    lua_pushinteger(L, (lua_Integer)(lb_mono_ms() + ENV_LOAD_DEADLINE_MS));
    lua_setfield(L, LUA_REGISTRYINDEX, "lifeboat.env_deadline");
    lua_sethook(L, env_hook, LUA_MASKCOUNT, 1000);
    if (luaL_loadbufferx(L, src, len, lua_pushfstring(L, "@%s", path), "t") != LUA_OK) {
        rc = lb_err_set(err, LB_EINVAL, "%s", lua_tostring(L, -1));
        goto out;
    }
    lua_remove(L, -2);
    /* The chunk's only global: os.getenv. */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);                       /* _ENV */
    lua_newtable(L);                       /* os */
    lua_getfield(L, -3, "getenv");
    lua_setfield(L, -2, "getenv");
    lua_setfield(L, -2, "os");
    lua_remove(L, -2);
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        rc = lb_err_set(err, LB_EINVAL, "%s", lua_tostring(L, -1));
        goto out;
    }
    env = lb_xcalloc(1, sizeof(*env));
    env->secrets = lb_secrets_new();
    env->path = lb_xstrdup(path);
    rc = parse_env(L, &ld, env);
    if (rc < 0)
        goto out;
    *out = env;
    env = NULL;
out:
    lb_env_free(env);
    if (L)
        lua_close(L);
    free(src);
    return rc;
}

/* ---- the `env` global ----------------------------------------------------- */

static int readonly_newindex(lua_State *L)
{
    return luaL_error(L, "env is read-only");
}

static int readonly_pairs(lua_State *L)
{
    lua_getglobal(L, "next");
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__index");
    lua_remove(L, -2);
    lua_pushnil(L);
    return 3;
}

/* Replace the table on top with a read-only proxy of it (recursively). */
static void make_readonly(lua_State *L)
{
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int has_mt = lua_istable(L, -1) && lua_getmetatable(L, -1);
        if (has_mt) {
            lua_pop(L, 2);   /* a live view (routes) is read-only already */
        } else if (lua_istable(L, -1)) {
            make_readonly(L);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, t);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_newtable(L);                       /* proxy */
    lua_createtable(L, 0, 4);              /* metatable */
    lua_pushvalue(L, t);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, readonly_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, t);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

/* env.routes reads the routes as they are now: a failover re-points them. */
static int routes_index(lua_State *L)
{
    const struct lb_env *env = l_script(L)->env;
    const char *k = lua_tostring(L, 2);
    for (size_t i = 0; env && k && i < env->nroutes; i++)
        if (strcmp(env->routes[i].name, k) == 0) {
            lua_pushstring(L, env->routes[i].target);
            return 1;
        }
    return 0;
}

static int routes_next(lua_State *L)
{
    const struct lb_env *env = l_script(L)->env;
    size_t i = 0;
    if (!lua_isnil(L, 2)) {
        const char *k = lua_tostring(L, 2);
        while (env && i < env->nroutes && strcmp(env->routes[i].name, k ? k : "") != 0)
            i++;
        i++;
    }
    if (!env || i >= env->nroutes)
        return 0;
    lua_pushstring(L, env->routes[i].name);
    lua_pushstring(L, env->routes[i].target);
    return 2;
}

static int routes_pairs(lua_State *L)
{
    lua_pushcfunction(L, routes_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static void push_live_routes(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, routes_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, routes_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

int luaopen_lifeboat_env(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const struct lb_env *env = s->env;

    lua_newtable(L);
    if (env) {
        set_str(L, "name", env->name);
        lua_newtable(L);
        for (size_t i = 0; i < env->ntargets; i++) {
            const struct lb_env_target *t = &env->targets[i];
            lua_newtable(L);
            set_str(L, "role", t->role);
            set_str(L, "region", t->region);
            set_str(L, "system_identifier", t->system_identifier);
            set_str(L, "cluster_name", t->cluster_name);
            set_str(L, "replica_of", t->replica_of);
            lua_setfield(L, -2, t->name);
        }
        lua_setfield(L, -2, "targets");
        lua_newtable(L);
        for (size_t i = 0; i < env->nbackups; i++) {
            const struct lb_env_backup *b = &env->backups[i];
            lua_newtable(L);
            set_str(L, "kind", b->kind);
            set_str(L, "path", b->path);
            set_str(L, "source", b->source);
            set_str(L, "stanza", b->stanza);
            if (b->max_age_ms >= 0) {
                lua_pushnumber(L, (lua_Number)b->max_age_ms / 1000.0);
                lua_setfield(L, -2, "max_age");
            }
            lua_pushnumber(L, b->tolerance);
            lua_setfield(L, -2, "tolerance");
            lua_setfield(L, -2, b->name);
        }
        lua_setfield(L, -2, "backups");
        push_live_routes(L);
        lua_setfield(L, -2, "routes");
        lua_newtable(L);
        if (env->rto_ms >= 0) {
            lua_pushnumber(L, (lua_Number)env->rto_ms / 1000.0);
            lua_setfield(L, -2, "rto");
        }
        if (env->rpo_ms >= 0) {
            lua_pushnumber(L, (lua_Number)env->rpo_ms / 1000.0);
            lua_setfield(L, -2, "rpo");
        }
        lua_setfield(L, -2, "objectives");
    }
    make_readonly(L);
    lua_setglobal(L, "env");
    return 0;
}
