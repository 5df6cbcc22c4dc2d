/*
 * target(name): a handle on a declared PostgreSQL target. Created closed;
 * the first use connects and runs the safety guard, and every destructive
 * action runs it again. Parameters always travel through PQexecParams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"

#define CONNECT_TIMEOUT_MS 30000

/* ---- typed values ---------------------------------------------------- */

void l_push_value(lua_State *L, const struct lb_pg_result *r, int row, int col)
{
    const char *v = lb_pg_value(r, row, col);
    if (!v) {
        lua_pushnil(L);
        return;
    }
    switch (r->kinds[col]) {
    case LB_PG_INT: {
        int64_t n;
        if (lb_parse_int64(v, &n) == 0)
            lua_pushinteger(L, (lua_Integer)n);
        else
            lua_pushstring(L, v);   /* oid beyond int64? keep the text */
        break;
    }
    case LB_PG_FLOAT:
        lua_pushnumber(L, strtod(v, NULL));
        break;
    case LB_PG_BOOL:
        lua_pushboolean(L, v[0] == 't');
        break;
    default:
        lua_pushstring(L, v);
    }
}

void l_push_rows(lua_State *L, const struct lb_pg_result *r)
{
    lua_createtable(L, r->nrows, 0);
    for (int i = 0; i < r->nrows; i++) {
        lua_createtable(L, 0, r->ncols);
        for (int j = 0; j < r->ncols; j++) {
            l_push_value(L, r, i, j);
            lua_setfield(L, -2, r->colnames[j]);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

/* ---- handles ----------------------------------------------------------- */

struct l_target *l_check_target(lua_State *L, int idx)
{
    struct l_target *t = luaL_checkudata(L, idx, LB_MT_TARGET);
    if (t->closed)
        luaL_error(L, "target '%s' is closed", t->name ? t->name : "?");
    return t;
}

const struct lb_env_target *l_target_env(lua_State *L, struct l_target *t)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *et = lb_env_target(s->env, t->name);
    if (!et)
        l_raise(L, LB_EINVAL, "target '%s' is not declared in the environment", t->name);
    return et;
}

static int64_t connect_deadline(lua_State *L)
{
    int64_t d = l_deadline(L), c = lb_mono_ms() + CONNECT_TIMEOUT_MS;
    return d < c ? d : c;
}

struct lb_pg *l_target_conn(lua_State *L, struct l_target *t)
{
    struct lb_script *s = l_need_exec(L, "a target method");
    const struct lb_env_target *et = l_target_env(L, t);
    struct lb_err e = {0};

    if (t->conn && lb_pg_ok(t->conn))
        return t->conn;
    lb_pg_close(t->conn);
    t->conn = NULL;
    t->guarded = 0;
    if (lb_pg_connect(et->conninfo, connect_deadline(L), &t->conn, &e) < 0) {
        lb_err_prefix(&e, "target '%s'", t->name);
        lb_lua_raise(L, &e);
    }
    /* A new connection may reach a new server: prove it again. */
    if (lb_guard_check(t->conn, s->env, et, l_deadline(L), NULL, &e) < 0) {
        lb_pg_close(t->conn);
        t->conn = NULL;
        lb_lua_raise(L, &e);
    }
    t->guarded = 1;
    return t->conn;
}

void l_target_guard(lua_State *L, struct l_target *t, const char *action)
{
    struct lb_script *s = l_script(L);
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_err e = {0};
    if (lb_guard_check(c, s->env, l_target_env(L, t), l_deadline(L), NULL, &e) < 0) {
        lb_err_prefix(&e, "refusing %s", action);
        lb_lua_raise(L, &e);
    }
}

static void target_close(struct l_target *t)
{
    if (t->closed)
        return;
    lb_pg_close(t->conn);
    t->conn = NULL;
    free(t->name);
    t->name = NULL;
    t->closed = 1;
}

/* Registry table of open handles, so the runner can close them all. */
static void track_handle(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.handles") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "lifeboat.handles");
    }
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void lb_script_close_handles(struct lb_script *s)
{
    lua_State *L = s->L;
    if (!L)
        return;
    l_heartbeat_close_all(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.handles") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            struct l_target *t = luaL_testudata(L, -1, LB_MT_TARGET);
            if (t)
                target_close(t);
        }
    }
    lua_pop(L, 1);
}

/* target(name) -> handle */
static int l_target_new(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const char *name = luaL_checkstring(L, 1);
    struct l_target *t;

    if (s->env && !lb_env_target(s->env, name))
        l_plan_error(L, 1, "unknown target '%s' (the environment declares: %s)", name,
                     s->env->ntargets ? s->env->targets[0].name : "none");
    l_note_target_use(L, name);
    t = lua_newuserdatauv(L, sizeof(*t), 0);
    memset(t, 0, sizeof(*t));
    t->closed = 1;                      /* closed until fully built */
    luaL_setmetatable(L, LB_MT_TARGET);
    t->name = lb_xstrdup(name);
    t->closed = 0;
    track_handle(L, -1);
    return 1;
}

/* Collect query parameters (stack first..last) as text. Numbers are
 * converted in place, so every string stays alive on the stack; the array
 * lives in a userdata box pushed on top. */
static const char **collect_params(lua_State *L, int first, int last, int *nparams)
{
    int n = last >= first ? last - first + 1 : 0;
    const char **v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(char *), 0);
    for (int i = 0; i < n; i++) {
        int idx = first + i;
        switch (lua_type(L, idx)) {
        case LUA_TNIL:
            v[i] = NULL;
            break;
        case LUA_TBOOLEAN:
            v[i] = lua_toboolean(L, idx) ? "true" : "false";
            break;
        case LUA_TNUMBER:
            lua_pushvalue(L, idx);
            lua_tostring(L, -1);          /* converts the copy */
            lua_replace(L, idx);
            v[i] = lua_tostring(L, idx);
            break;
        case LUA_TSTRING:
            v[i] = lua_tostring(L, idx);
            break;
        default:
            luaL_argerror(L, idx, "query parameters must be nil, boolean, number or string");
        }
    }
    *nparams = n;
    return v;
}

/* Result box: frees the copied result when collected, even if a later call
 * raises. */
static int result_gc(lua_State *L)
{
    lb_pg_result_free(lua_touserdata(L, 1));
    return 0;
}

static struct lb_pg_result *new_result_box(lua_State *L)
{
    struct lb_pg_result *r = lua_newuserdatauv(L, sizeof(*r), 0);
    memset(r, 0, sizeof(*r));
    if (luaL_newmetatable(L, "lifeboat.pgresult")) {
        lua_pushcfunction(L, result_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return r;
}

/* Run target:method(sql, ...) into a result box left on top of the stack. */
static struct lb_pg_result *run_query(lua_State *L, int guard, const char *what)
{
    int last = lua_gettop(L);
    struct l_target *t = l_check_target(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    struct lb_err e = {0};
    int n;

    if (guard)
        l_target_guard(L, t, what);
    struct lb_pg *c = l_target_conn(L, t);
    const char **params = collect_params(L, 3, last, &n);
    struct lb_pg_result *r = new_result_box(L);
    if (lb_pg_query(c, sql, n, params, l_deadline(L), r, &e) < 0) {
        lb_err_prefix(&e, "target '%s'", t->name);
        lb_lua_raise(L, &e);
    }
    return r;
}

/* target:query(sql, ...) -> array of rows */
static int l_target_query(lua_State *L)
{
    l_push_rows(L, run_query(L, 0, "target:query"));
    return 1;
}

/* target:exec(sql, ...) -> rows affected */
static int l_target_exec(lua_State *L)
{
    struct lb_pg_result *r = run_query(L, 1, "target:exec");
    lua_pushinteger(L, r->affected >= 0 ? r->affected : 0);
    return 1;
}

/* target:scalar(sql, ...) -> value of row 1, column 1 (nil if none) */
static int l_target_scalar(lua_State *L)
{
    struct lb_pg_result *r = run_query(L, 0, "target:scalar");
    if (r->nrows > 0 && r->ncols > 0)
        l_push_value(L, r, 0, 0);
    else
        lua_pushnil(L);
    return 1;
}

static const char TABLES_SQL[] =
    "SELECT n.nspname || '.' || c.relname FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
    " AND c.relname NOT LIKE 'lifeboat\\_%' ORDER BY 1";

/* target:tables() -> { "public.accounts", ... } */
static int l_target_tables(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_pg_result *box = new_result_box(L);
    struct lb_err e = {0};
    if (lb_pg_query(c, TABLES_SQL, 0, NULL, l_deadline(L), box, &e) < 0)
        return lb_lua_raise(L, &e);
    lua_createtable(L, box->nrows, 0);
    for (int i = 0; i < box->nrows; i++) {
        lua_pushstring(L, lb_pg_value(box, i, 0));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* target:exists(table) -> boolean */
static int l_target_exists(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_err e = {0};
    char *v = NULL;
    const char *params[1] = {name};
    if (lb_pg_scalar(c, "SELECT to_regclass($1) IS NOT NULL", 1, params, l_deadline(L), &v,
                     &e) < 0)
        return lb_lua_raise(L, &e);
    lua_pushboolean(L, v && v[0] == 't');
    free(v);
    return 1;
}

/* target:identity() -> { system_identifier, cluster_name, version, in_recovery, host, port } */
static int l_target_identity(lua_State *L)
{
    struct lb_script *s = l_script(L);
    struct l_target *t = l_check_target(L, 1);
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_guard_seen seen;
    struct lb_err e = {0};
    if (lb_guard_check(c, s->env, l_target_env(L, t), l_deadline(L), &seen, &e) < 0)
        return lb_lua_raise(L, &e);
    lua_createtable(L, 0, 7);
    lua_pushstring(L, seen.system_identifier);
    lua_setfield(L, -2, "system_identifier");
    lua_pushstring(L, seen.cluster_name);
    lua_setfield(L, -2, "cluster_name");
    lua_pushinteger(L, seen.server_version);
    lua_setfield(L, -2, "version");
    lua_pushboolean(L, seen.in_recovery);
    lua_setfield(L, -2, "in_recovery");
    lua_pushstring(L, seen.host);
    lua_setfield(L, -2, "host");
    lua_pushstring(L, seen.server_addr);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, strtol(seen.port, NULL, 10));
    lua_setfield(L, -2, "port");
    return 1;
}

/* target:wait_ready([{ timeout = "60s" }]) -> seconds waited */
static int l_target_wait_ready(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    int64_t timeout = lua_istable(L, 2) ? l_opt_duration_field(L, 2, "timeout") : -1;
    int64_t start = lb_mono_ms();
    int64_t until = start + (timeout > 0 ? timeout : 60000);
    int64_t step_deadline = l_deadline(L);
    if (step_deadline < until)
        until = step_deadline;
    l_need_exec(L, "target:wait_ready");
    for (;;) {
        struct lb_err e = {0};
        struct lb_pg *c = NULL;
        const struct lb_env_target *et = l_target_env(L, t);
        if (lb_pg_connect(et->conninfo, until, &c, &e) == 0) {
            char *v = NULL;
            if (lb_pg_scalar(c, "SELECT 1", 0, NULL, until, &v, &e) == 0) {
                free(v);
                lb_pg_close(c);
                break;
            }
        }
        lb_pg_close(c);
        if (e.code == LB_EINTR)
            return lb_lua_raise(L, &e);
        if (lb_mono_ms() >= until)
            return l_raise(L, LB_ETIMEOUT, "target '%s' not ready: %s", t->name, e.msg);
        lb_sleep_ms(200);
    }
    lua_pushnumber(L, (lua_Number)(lb_mono_ms() - start) / 1000.0);
    return 1;
}

/* target:close() */
static int l_target_close(lua_State *L)
{
    struct l_target *t = luaL_checkudata(L, 1, LB_MT_TARGET);
    l_heartbeat_close(L, 1);
    target_close(t);
    return 0;
}

static int l_target_tostring(lua_State *L)
{
    struct l_target *t = luaL_checkudata(L, 1, LB_MT_TARGET);
    lua_pushfstring(L, "target(%s)", t->closed ? "closed" : t->name);
    return 1;
}

int luaopen_lifeboat_target(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"query", l_target_query},       {"exec", l_target_exec},
        {"scalar", l_target_scalar},     {"tables", l_target_tables},
        {"exists", l_target_exists},     {"identity", l_target_identity},
        {"wait_ready", l_target_wait_ready}, {"close", l_target_close},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_target_close}, {"__close", l_target_close},
        {"__tostring", l_target_tostring}, {NULL, NULL},
    };
    luaL_newmetatable(L, LB_MT_TARGET);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    /* Methods that live with their concern (validation, heartbeat). */
    luaL_setfuncs(L, l_target_validate_methods, 0);
    luaL_setfuncs(L, l_target_heartbeat_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaopen_lifeboat_validate(L);

    lua_pushcfunction(L, l_target_new);
    lua_setglobal(L, "target");
    return 0;
}

int lb_script_guard_all(struct lb_script *s, struct lb_buf *report, struct lb_err *err)
{
    for (size_t i = 0; i < s->ntargets_used; i++) {
        const char *name = s->targets_used[i];
        const struct lb_env_target *et = lb_env_target(s->env, name);
        struct lb_guard_seen seen;
        struct lb_pg *c = NULL;
        int64_t deadline = lb_mono_ms() + CONNECT_TIMEOUT_MS;
        int rc;

        if (!et)
            return lb_err_set(err, LB_EINVAL, "target '%s' is not in the environment", name);
        rc = lb_pg_connect(et->conninfo, deadline, &c, err);
        if (rc == 0)
            rc = lb_guard_check(c, s->env, et, deadline, &seen, err);
        lb_pg_close(c);
        if (rc < 0) {
            if (rc != LB_ESAFETY && rc != LB_EINTR)
                /* Cannot reach it, cannot prove it: refuse. */
                rc = lb_err_set(err, LB_ESAFETY, "target '%s': cannot verify identity: %s",
                                name, err->msg);
            return rc;
        }
        lb_buf_printf(report,
                      "  %-10s %s%s%s:%s  system_identifier %s  cluster %s  PostgreSQL %d%s"
                      "  guard ok\n",
                      name, strcmp(name, et->name) ? "→ " : "",
                      strcmp(name, et->name) ? et->name : "",
                      seen.server_addr[0] ? seen.server_addr : seen.host, seen.port,
                      seen.system_identifier,
                      seen.cluster_name[0] ? seen.cluster_name : "-",
                      seen.server_version / 10000, seen.in_recovery ? " (standby)" : "");
    }
    return 0;
}
