/*
 * The scenario globals: scenario{}, step, rollback, mark, expect, check,
 * gap, metric, log, sleep, manual. Declarations fill the plan; the rest
 * record into the run and only work while a step executes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/util.h"

static const char *const step_kinds[] = {"fault", "restore", "check", "manual", "action", NULL};

/* ---- helpers shared by every binding ---------------------------------- */

const char *l_opt_string_field(lua_State *L, int t, const char *k, const char *def)
{
    const char *v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "field '%s' must be a string, not %s", k, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);   /* the string stays alive: it is still referenced by the table */
    return v;
}

void l_check_options(lua_State *L, int t, const char *what, const char *const *known)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = known; *k && !ok; k++)
                ok = strcmp(lua_tostring(L, -1), *k) == 0;
        if (!ok)
            luaL_error(L, "%s: unknown option '%s'", what, luaL_tolstring(L, -1, NULL));
    }
}

lua_Integer l_opt_int_field(lua_State *L, int t, const char *k, lua_Integer def)
{
    lua_Integer v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        int isnum = 0;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "field '%s' must be an integer, not %s", k, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

lua_Number l_opt_number_field(lua_State *L, int t, const char *k, lua_Number def)
{
    lua_Number v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "field '%s' must be a number, not %s", k, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

int l_opt_bool_field(lua_State *L, int t, const char *k, int def)
{
    int v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_error(L, "field '%s' must be a boolean, not %s", k, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int64_t duration_at(lua_State *L, int idx, const char *what)
{
    struct lb_err e = {0};
    int64_t ms = -1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (n < 0 || n > 1e12)
            luaL_error(L, "%s: bad duration %f", what, (double)n);
        return (int64_t)(n * 1000.0);
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: a duration is a string like \"10m\" or a number of seconds, "
                      "not %s", what, luaL_typename(L, idx));
    if (lb_duration_parse(lua_tostring(L, idx), &ms, &e) < 0)
        luaL_error(L, "%s: %s", what, e.msg);
    return ms;
}

int64_t l_opt_duration_field(lua_State *L, int t, const char *k)
{
    int64_t v = -1;
    if (lua_getfield(L, t, k) != LUA_TNIL)
        v = duration_at(L, -1, k);
    lua_pop(L, 1);
    return v;
}

int64_t l_check_duration(lua_State *L, int idx)
{
    return duration_at(L, idx, "duration");
}

/* NULL-ended char* array owned by a userdata box on the stack. */
const char **l_opt_string_array(lua_State *L, int t, const char *k)
{
    const char **v;
    lua_Integer n;
    t = lua_absindex(L, t);
    if (lua_getfield(L, t, k) == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        /* A single name is a list of one. */
        v = lua_newuserdatauv(L, 2 * sizeof(char *), 1);
        v[0] = lua_tostring(L, -2);
        v[1] = NULL;
        lua_insert(L, -2);
        lua_setiuservalue(L, -2, 1);  /* keep the string alive */
        return v;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "field '%s' must be a list of strings, not %s", k, luaL_typename(L, -1));
    n = (lua_Integer)lua_rawlen(L, -1);
    v = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "field '%s' must be a list of strings (item %d is %s)", k, (int)i,
                       luaL_typename(L, -1));
        v[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    v[n] = NULL;
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 1);   /* the table keeps the strings alive */
    return v;
}

/* Reject keys a table should not have: the first typo is a plan error. */
static void check_keys(lua_State *L, int t, const char *what, const char *const *allowed)
{
    t = lua_absindex(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            for (const char *const *a = allowed; *a; a++)
                if (strcmp(*a, k) == 0)
                    ok = 1;
            if (!ok) {
                lua_pop(L, 2);
                luaL_error(L, "%s: unknown key '%s'", what, k);
            }
        } else {
            lua_pop(L, 2);
            luaL_error(L, "%s: keys must be names", what);
        }
        lua_pop(L, 1);
    }
}

static char **dup_nullv(const char **v)
{
    size_t n = 0;
    char **out;
    if (!v)
        return NULL;
    while (v[n])
        n++;
    out = lb_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = lb_xstrdup(v[i]);
    return out;
}

/* ---- declarations ------------------------------------------------------- */

/* scenario { id, title, objectives = { rto, rpo }, tags, limits, description } */
static int l_scenario_decl(lua_State *L)
{
    static const char *const keys[] = {"id", "title", "objectives", "tags", "limits",
                                       "description", NULL};
    static const char *const okeys[] = {"rto", "rpo", NULL};
    static const char *const lkeys[] = {"max_rows", "tables", "faults", NULL};
    struct lb_script *s = l_script(L);
    char where[256];

    luaL_checktype(L, 1, LUA_TTABLE);
    if (s->executing)
        return luaL_error(L, "scenario{} declares; call it at the top level of the file");
    if (s->id) {
        l_plan_error(L, 1, "scenario{} is declared twice");
        return 0;
    }
    check_keys(L, 1, "scenario", keys);
    l_where(L, 1, where, sizeof(where));
    const char *id = l_opt_string_field(L, 1, "id", NULL);
    if (!id || !*id)
        return luaL_error(L, "scenario: 'id' is required");
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return luaL_error(L, "scenario: id '%s' may only use a-z, 0-9, '-' and '_'", id);
    const char *title = l_opt_string_field(L, 1, "title", id);
    if (lua_getfield(L, 1, "objectives") == LUA_TTABLE) {
        check_keys(L, -1, "scenario.objectives", okeys);
        s->rto_ms = l_opt_duration_field(L, -1, "rto");
        s->rpo_ms = l_opt_duration_field(L, -1, "rpo");
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "scenario: 'objectives' must be a table");
    }
    lua_pop(L, 1);
    s->tags = dup_nullv(l_opt_string_array(L, 1, "tags"));
    if (s->tags)
        lua_pop(L, 1);
    if (lua_getfield(L, 1, "limits") == LUA_TTABLE) {
        int lt = lua_gettop(L);
        check_keys(L, lt, "scenario.limits", lkeys);
        s->limits.max_rows = l_opt_int_field(L, lt, "max_rows", -1);
        const char **tables = l_opt_string_array(L, lt, "tables");
        s->limits.tables = dup_nullv(tables);
        if (tables)
            lua_pop(L, 1);
        const char **faults = l_opt_string_array(L, lt, "faults");
        s->limits.faults = dup_nullv(faults);
        if (faults)
            lua_pop(L, 1);
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "scenario: 'limits' must be a table");
    }
    lua_pop(L, 1);
    s->id = lb_xstrdup(id);
    s->title = lb_xstrdup(title);
    s->declared_at = lb_xstrdup(where);
    return 0;
}

static int valid_kind(const char *k)
{
    for (const char *const *p = step_kinds; *p; p++)
        if (strcmp(*p, k) == 0)
            return 1;
    return 0;
}

/* step(name, [opts], fn) */
static int l_step(lua_State *L)
{
    static const char *const keys[] = {"kind", "timeout", "critical", "retry", NULL};
    struct lb_script *s = l_script(L);
    const char *name = luaL_checkstring(L, 1);
    int fnidx = 2, critical;
    const char *kind = "action";
    int64_t timeout = -1, retry_delay = 0;
    lua_Integer attempts = 1;
    char where[256];

    if (s->executing)
        return luaL_error(L, "step() declares; call it at the top level of the file");
    if (lua_type(L, 2) == LUA_TTABLE) {
        check_keys(L, 2, "step options", keys);
        kind = l_opt_string_field(L, 2, "kind", "action");
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL) {
            struct lb_err e = {0};
            if (lua_type(L, -1) == LUA_TSTRING &&
                lb_duration_parse(lua_tostring(L, -1), &timeout, &e) < 0)
                l_plan_error(L, 1, "step '%s': timeout: %s", name, e.msg);
            else if (lua_type(L, -1) != LUA_TSTRING)
                timeout = l_check_duration(L, -1);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "retry") == LUA_TTABLE) {
            attempts = l_opt_int_field(L, -1, "attempts", 1);
            retry_delay = l_opt_duration_field(L, -1, "delay");
            if (attempts < 1 || attempts > 100)
                l_plan_error(L, 1, "step '%s': retry.attempts must be 1..100", name);
        } else if (!lua_isnil(L, -1)) {
            l_plan_error(L, 1, "step '%s': retry must be { attempts = N, delay = \"5s\" }",
                         name);
        }
        lua_pop(L, 1);
        fnidx = 3;
    }
    luaL_checktype(L, fnidx, LUA_TFUNCTION);
    if (!valid_kind(kind))
        l_plan_error(L, 1, "step '%s': unknown kind '%s' (fault, restore, check, manual, "
                           "action)", name, kind);
    for (size_t i = 0; i < s->nsteps; i++)
        if (strcmp(s->steps[i].name, name) == 0)
            l_plan_error(L, 1, "duplicate step name '%s' (first declared at %s)", name,
                         s->steps[i].declared_at);
    /* A fault that did not land makes the rest meaningless: critical by default. */
    critical = strcmp(kind, "fault") == 0;
    if (lua_type(L, 2) == LUA_TTABLE)
        critical = l_opt_bool_field(L, 2, "critical", critical);

    l_where(L, 1, where, sizeof(where));
    s->steps = lb_xrealloc(s->steps, (s->nsteps + 1) * sizeof(*s->steps));
    struct lb_script_step *st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof(*st));
    st->name = lb_xstrdup(name);
    st->kind = lb_xstrdup(kind);
    st->critical = critical;
    st->timeout_ms = timeout;
    st->retry_attempts = (int)attempts;
    st->retry_delay_ms = retry_delay > 0 ? retry_delay : 0;
    st->declared_at = lb_xstrdup(where);
    lua_pushvalue(L, fnidx);
    st->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* rollback(name, fn): declared at load time, or registered from inside a
 * step (committed to the store before the call returns, so before the fault
 * that follows it runs). */
static int l_rollback(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const char *name = luaL_checkstring(L, 1);
    char where[256];

    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (s->in_rollback)
        return luaL_error(L, "rollback() cannot be called from a rollback");
    l_where(L, 1, where, sizeof(where));
    s->rollbacks = lb_xrealloc(s->rollbacks, (s->nrollbacks + 1) * sizeof(*s->rollbacks));
    struct lb_script_rollback *rb = &s->rollbacks[s->nrollbacks];
    memset(rb, 0, sizeof(*rb));
    rb->name = lb_xstrdup(name);
    rb->declared_at = lb_xstrdup(where);
    lua_pushvalue(L, 2);
    rb->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->nrollbacks++;
    if (s->executing && s->run) {
        struct lb_err e = {0};
        int id = lb_run_rollback_register(s->run, name, where, &e);
        if (id < 0)
            return lb_lua_raise(L, &e);
        rb->id = id;
    }
    return 0;
}

/* ---- records ------------------------------------------------------------ */

/* mark(name) */
static int l_mark(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "mark()");
    struct lb_err e = {0};
    if (lb_run_mark(s->run, luaL_checkstring(L, 1), &e) < 0)
        return lb_lua_raise(L, &e);
    return 0;
}

static int record_check(lua_State *L, const char *name, int ok, const char *expected,
                        const char *observed)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    if (lb_run_check(s->run, name, ok, expected, observed, NULL, &e) < 0)
        return lb_lua_raise(L, &e);
    if (!ok && lb_run_gap(s->run, "major", "validation", name, observed, &e) < 0)
        return lb_lua_raise(L, &e);
    return 0;
}

/* expect(cond, msg): a check that also fails the step. */
static int l_expect(lua_State *L)
{
    l_need_exec(L, "expect()");
    int ok = lua_toboolean(L, 1);
    const char *msg = luaL_optstring(L, 2, "expectation");
    if (ok) {
        record_check(L, msg, 1, "true", "true");
        lua_settop(L, 1);
        return 1;
    }
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    if (lb_run_check(s->run, msg, 0, "true", "false", NULL, &e) < 0)
        return lb_lua_raise(L, &e);
    return l_raise(L, LB_EINVAL, "expectation failed: %s", msg);
}

/* Text of an optional value, kept alive on the stack (NULL for nil). */
static const char *value_text(lua_State *L, int t, const char *k)
{
    if (lua_getfield(L, t, k) == LUA_TNIL)
        return NULL;
    return luaL_tolstring(L, -1, NULL);
}

/* check(name, ok, { expected, observed }) -> ok */
static int l_check(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "check()");
    const char *name = luaL_checkstring(L, 1);
    int ok = lua_toboolean(L, 2);
    const char *expected = NULL, *observed = NULL;
    struct lb_err e = {0};
    int rc;

    if (lua_type(L, 3) == LUA_TTABLE) {
        expected = value_text(L, 3, "expected");
        observed = value_text(L, 3, "observed");
    }
    rc = lb_run_check(s->run, name, ok, expected, observed, NULL, &e);
    if (rc == 0 && !ok) {
        char detail[512];
        snprintf(detail, sizeof(detail), "expected %s, observed %s",
                 expected ? expected : "?", observed ? observed : "?");
        rc = lb_run_gap(s->run, "major", "validation", name, detail, &e);
    }
    if (rc < 0)
        return lb_lua_raise(L, &e);
    lua_pushboolean(L, ok);
    return 1;
}

/* gap{ severity, category, title, detail } */
static int l_gap(lua_State *L)
{
    static const char *const keys[] = {"severity", "category", "title", "detail", NULL};
    struct lb_script *s = l_need_exec(L, "gap()");
    struct lb_err e = {0};
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, "gap", keys);
    const char *sev = l_opt_string_field(L, 1, "severity", "major");
    const char *cat = l_opt_string_field(L, 1, "category", "scenario");
    const char *title = l_opt_string_field(L, 1, "title", NULL);
    const char *detail = l_opt_string_field(L, 1, "detail", NULL);
    if (!title)
        return luaL_error(L, "gap: 'title' is required");
    if (lb_run_gap(s->run, sev, cat, title, detail, &e) < 0) {
        if (e.code == LB_EINVAL)
            return luaL_error(L, "gap: %s", e.msg);
        return lb_lua_raise(L, &e);
    }
    return 0;
}

/* metric(name, value, [unit]) */
static int l_metric(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "metric()");
    struct lb_err e = {0};
    if (lb_run_metric(s->run, luaL_checkstring(L, 1), luaL_checknumber(L, 2),
                      luaL_optstring(L, 3, NULL), &e) < 0)
        return lb_lua_raise(L, &e);
    return 0;
}

/* log(...) / print(...) */
static int l_log(lua_State *L)
{
    struct lb_script *s = l_script(L);
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    if (s->run)
        lb_run_log(s->run, lua_tostring(L, -1));
    return 0;
}

/* sleep(duration): in short slices, so the deadline and Ctrl-C still work. */
static int l_sleep(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "sleep()");
    int64_t ms = l_check_duration(L, 1);
    int64_t until = lb_mono_ms() + ms;
    for (;;) {
        int64_t left = until - lb_mono_ms();
        if (lb_interrupted())
            return l_raise(L, LB_EINTR, "interrupted during sleep");
        if (s->deadline_ms != LB_NO_DEADLINE && lb_mono_ms() > s->deadline_ms)
            return l_raise(L, LB_ETIMEOUT, "deadline passed during sleep");
        if (left <= 0)
            break;
        lb_sleep_ms(left < 100 ? left : 100);
    }
    return 0;
}

/* manual(prompt, [{ timeout }]) -> { by, via, seconds }: wait for a human to
 * acknowledge (typing "done" on the terminal, or `lifeboat ack RUN [STEP]`). */
static int l_manual(lua_State *L)
{
    static const char *const keys[] = {"timeout", NULL};
    struct lb_script *s = l_need_exec(L, "manual()");
    struct lb_manual_opts o = {0};
    struct lb_manual_result res;
    struct lb_err e = {0};

    o.prompt = luaL_checkstring(L, 1);
    o.timeout_ms = -1;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_keys(L, 2, "manual options", keys);
        o.timeout_ms = l_opt_duration_field(L, 2, "timeout");
    }
    o.deadline_ms = s->deadline_ms;
    /* On a terminal the operator may answer here; unattended (cron,
     * systemd, `lifeboat due`) only `lifeboat ack` can. */
    o.tty_in = isatty(STDIN_FILENO) ? STDIN_FILENO : -1;
    o.tty_out = STDERR_FILENO;
    if (lb_manual_wait(s->run, lb_run_store(s->run), &o, &res, &e) < 0)
        return lb_lua_raise(L, &e);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, res.by);
    lua_setfield(L, -2, "by");
    lua_pushstring(L, res.via);
    lua_setfield(L, -2, "via");
    lua_pushnumber(L, (lua_Number)res.waited_ms / 1000.0);
    lua_setfield(L, -2, "seconds");
    return 1;
}

int luaopen_lifeboat_scenario(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"scenario", l_scenario_decl}, {"step", l_step},     {"rollback", l_rollback},
        {"mark", l_mark},              {"expect", l_expect}, {"check", l_check},
        {"gap", l_gap},                {"metric", l_metric}, {"log", l_log},
        {"print", l_log},              {"sleep", l_sleep},   {"manual", l_manual},
        {NULL, NULL},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    return 0;
}
