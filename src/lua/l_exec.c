/*
 * exec{ argv..., timeout, env }: run a program from an argv, never a shell,
 * in its own process group, killed at the deadline; output captured,
 * bounded, and redacted before it is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/proc.h"

static int procres_gc(lua_State *L)
{
    lb_proc_result_free(lua_touserdata(L, 1));
    return 0;
}

int l_exec_run(lua_State *L, const char *what, int raise_on_failure)
{
    struct lb_script *s = l_script(L);
    struct lb_proc_opts o = {0};
    struct lb_err e = {0};
    int64_t timeout, deadline;
    lua_Integer n;
    int argv_t = 1;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "argv") == LUA_TTABLE)
        argv_t = lua_gettop(L);           /* kept on the stack */
    else
        lua_pop(L, 1);
    n = (lua_Integer)lua_rawlen(L, argv_t);
    if (n < 1)
        return luaL_error(L, "%s: argv is empty (%s{ \"program\", \"arg\", ... })", what, what);
    const char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, argv_t, i) != LUA_TSTRING && !lua_isnumber(L, -1))
            return luaL_error(L, "%s: argv[%d] must be a string", what, (int)i);
        argv[i - 1] = lua_tostring(L, -1);   /* kept alive by the table */
        lua_pop(L, 1);
    }
    argv[n] = NULL;

    const char **envv = NULL;
    if (lua_getfield(L, 1, "env") == LUA_TTABLE) {
        int et = lua_gettop(L);
        int count = 0;
        lua_pushnil(L);
        while (lua_next(L, et)) {
            count++;
            lua_pop(L, 1);
        }
        envv = lua_newuserdatauv(L, (size_t)(count + 1) * sizeof(char *), 0);
        lua_createtable(L, count, 0);       /* keeps the "NAME=value" strings alive */
        int anchor = lua_gettop(L);
        int i = 0;
        lua_pushnil(L);
        while (lua_next(L, et)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
                return luaL_error(L, "%s: env must map names to strings", what);
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            envv[i++] = lua_tostring(L, -1);
            lua_rawseti(L, anchor, i);
            lua_pop(L, 1);
        }
        envv[i] = NULL;
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "%s: env must be a table", what);
    }

    timeout = l_opt_duration_field(L, 1, "timeout");
    deadline = l_deadline(L);
    if (timeout > 0 && lb_mono_ms() + timeout < deadline)
        deadline = lb_mono_ms() + timeout;

    o.argv = argv;
    o.env_add = envv;
    o.deadline_ms = deadline;
    struct lb_proc_result *res = lua_newuserdatauv(L, sizeof(*res), 0);
    memset(res, 0, sizeof(*res));
    if (luaL_newmetatable(L, "lifeboat.procresult")) {
        lua_pushcfunction(L, procres_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);

    int rc = lb_proc_run(&o, res, &e);
    if (rc == LB_EPROC)
        return lb_lua_raise(L, &e);
    {
        struct lb_tool_run tr = {0};
        char *cmd = lb_proc_argv_string(argv);
        tr.cmdline = cmd;
        tr.exit_status = res->exited ? res->status : -1;
        tr.duration_ms = res->duration_ms;
        tr.output = res->output;
        tr.timed_out = res->timed_out;
        tr.interrupted = res->interrupted;
        l_record_tool(L, what, &tr);
        free(cmd);
    }
    if (rc < 0)
        return lb_lua_raise(L, &e);

    char *clean = lb_redact_text(lb_run_secrets(s->run), res->output ? res->output : "");
    if (raise_on_failure && (!res->exited || res->status != 0)) {
        char *line = lb_str_last_line(clean);

        lua_pushstring(L, line);
        free(line);
        free(clean);
        return l_raise(L, LB_EPROC, "%s %s %s: %s", what, argv[0],
                       res->exited ? "exited with a non-zero status" : "was killed",
                       lua_tostring(L, -1));
    }
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, res->exited ? res->status : -1);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, clean);
    free(clean);
    lua_setfield(L, -2, "output");
    lua_pushnumber(L, (lua_Number)res->duration_ms / 1000.0);
    lua_setfield(L, -2, "duration");
    if (!res->exited) {
        lua_pushinteger(L, res->signal);
        lua_setfield(L, -2, "signal");
    }
    return 1;
}

/* exec{ "prog", "arg", ..., timeout = "5m", env = { NAME = "value" } }
 *   -> { status, output, duration, signal } */
static int l_exec(lua_State *L)
{
    l_need_exec(L, "exec");
    return l_exec_run(L, "exec", 0);
}

int luaopen_lifeboat_exec(lua_State *L)
{
    lua_pushcfunction(L, l_exec);
    lua_setglobal(L, "exec");
    return 0;
}
