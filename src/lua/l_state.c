/*
 * The sandboxed Lua state of one scenario: allow-listed libraries, text
 * chunks only, a memory cap in the allocator, a count hook that enforces
 * the step deadline, `require` from the scenario library path only, and the
 * one protected call every C→Lua entry goes through.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/util.h"

#define DEFAULT_MEM_LIMIT ((size_t)512 * 1024 * 1024)
#define HOOK_COUNT 1000
#define DECLARE_DEADLINE_MS 10000

/* Embedded helpers (generated from the src/lua Lua files at build time). */
struct lb_lua_embedded { const char *name; const char *src; size_t len; };
extern const struct lb_lua_embedded lb_lua_embedded[];

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lb_script *s = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (nsize > old && s->mem_used - old + nsize > s->mem_limit)
        return NULL;    /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        s->mem_used = s->mem_used - old + nsize;
    return p;
}

struct lb_script *lb_script_from_state(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

void l_where(lua_State *L, int level, char *out, size_t outsz)
{
    lua_Debug ar;
    out[0] = '\0';
    for (int lv = level; lv < level + 8; lv++) {
        if (!lua_getstack(L, lv, &ar))
            break;
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0) {
            snprintf(out, outsz, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
    snprintf(out, outsz, "?");
}

/* ---- errors across the border ---------------------------------------- */

static int error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "error");
    }
    return 1;
}

static int code_from_name(const char *name)
{
    for (int c = -1; c >= -12; c--)
        if (strcmp(lb_rc_name(c), name) == 0)
            return c;
    return LB_EINVAL;
}

/* Push an error table {code, message, sqlstate, step} with its metatable. */
static void push_error(lua_State *L, int code, const char *where, const char *msg,
                       const char *sqlstate)
{
    struct lb_script *s = l_script(L);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, lb_rc_name(code));
    lua_setfield(L, -2, "code");
    if (where && *where)
        lua_pushfstring(L, "%s: %s", where, msg);
    else
        lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    if (sqlstate && *sqlstate) {
        lua_pushstring(L, sqlstate);
        lua_setfield(L, -2, "sqlstate");
    }
    if (s && s->run && lb_run_current_step(s->run) > 0) {
        lua_pushinteger(L, lb_run_current_step(s->run));
        lua_setfield(L, -2, "step");
    }
    luaL_setmetatable(L, LB_MT_ERROR);
}

int lb_lua_raise(lua_State *L, const struct lb_err *err)
{
    char where[256];
    l_where(L, 1, where, sizeof(where));
    push_error(L, err->code ? err->code : LB_EINVAL, where, err->msg, err->sqlstate);
    return lua_error(L);
}

int l_raise(lua_State *L, int code, const char *fmt, ...)
{
    struct lb_err e = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    e.code = code;
    return lb_lua_raise(L, &e);
}

/* Message handler: every error becomes an error table with a traceback. */
static int msghandler(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, LB_MT_ERROR);
        int ours = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (ours) {
            luaL_traceback(L, L, NULL, 1);
            lua_setfield(L, 1, "traceback");
            lua_settop(L, 1);
            return 1;
        }
    }
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    push_error(L, LB_EINVAL, NULL, msg, NULL);
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, -2, "traceback");
    return 1;
}

/* After a failed pcall: turn the error value on top into err (and pop it). */
static int extract_error(lua_State *L, int status, char **traceback, struct lb_err *err)
{
    struct lb_script *s = l_script(L);
    int code = LB_EINVAL;

    if (traceback)
        *traceback = NULL;
    if (status == LUA_ERRMEM) {
        lua_pop(L, 1);
        return lb_err_set(err, LB_ENOMEM, "out of memory (the scenario memory cap is %zu MiB)",
                          s->mem_limit / (1024 * 1024));
    }
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "code");
        if (lua_isstring(L, -1))
            code = code_from_name(lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, -1, "message");
        lb_err_set(err, code, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_pop(L, 1);
        lua_getfield(L, -1, "sqlstate");
        if (lua_isstring(L, -1))
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        if (traceback) {
            lua_getfield(L, -1, "traceback");
            if (lua_isstring(L, -1))
                *traceback = lb_xstrdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    } else {
        lb_err_set(err, code, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
    }
    lua_pop(L, 1);
    return err->code;
}

/* Call the function on top of the stack with no arguments. A function
 * that returns false has failed, as if it had raised. */
static void hook(lua_State *L, lua_Debug *ar);

static int docall(struct lb_script *s, char **traceback, struct lb_err *err)
{
    lua_State *L = s->L;
    int base = lua_gettop(L);
    int status;

    if (traceback)
        *traceback = NULL;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    status = lua_pcall(L, 0, 1, base);
    lua_remove(L, base);
    if (status != LUA_OK)
        return extract_error(L, status, traceback, err);
    int failed = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (failed)
        return lb_err_set(err, LB_EINVAL, "the function returned false");
    return 0;
}

int lb_script_call(struct lb_script *s, int fnref, char **traceback, struct lb_err *err)
{
    lua_sethook(s->L, hook, LUA_MASKCOUNT, HOOK_COUNT);
    lua_rawgeti(s->L, LUA_REGISTRYINDEX, fnref);
    return docall(s, traceback, err);
}

/* ---- deadline hook ------------------------------------------------------- */

/*
 * Once the deadline has passed (or Ctrl-C came), the hook fires on every
 * instruction and line, so the error is raised again as soon as a
 * scenario's pcall has caught it: a pcall loop cannot swallow the deadline.
 * lb_script_call re-arms the ordinary hook for the next call.
 */
static void hook(lua_State *L, lua_Debug *ar)
{
    struct lb_script *s = l_script(L);
    (void)ar;
    /* The runner acknowledges the first Ctrl-C before the rollbacks: only a
     * second one stops them. */
    if (lb_interrupted()) {
        lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        l_raise(L, LB_EINTR, "interrupted");
    }
    if (s->deadline_ms != LB_NO_DEADLINE && lb_mono_ms() > s->deadline_ms) {
        lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        l_raise(L, LB_ETIMEOUT, "deadline passed");
    }
}

int64_t l_deadline(lua_State *L)
{
    return l_script(L)->deadline_ms;
}

struct lb_script *l_need_exec(lua_State *L, const char *what)
{
    struct lb_script *s = l_script(L);
    if (!s->executing || !s->run)
        luaL_error(L, "%s can only be called inside a step or rollback function "
                      "(loading a scenario only declares)", what);
    return s;
}

/* ---- require ------------------------------------------------------------- */

static int valid_module_name(const char *n)
{
    if (!*n)
        return 0;
    for (const char *p = n; *p; p++)
        if (!(( *p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return 0;
    return strstr(n, "..") == NULL;
}

/* require(name): scenario library modules only, text chunks, run in the
 * sandbox's own globals. */
static int l_require(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const char *name = luaL_checkstring(L, 1);
    char rel[256];
    char *dirs[3] = {NULL, NULL, NULL};
    char *found = NULL;
    int ndirs = 0;

    if (!valid_module_name(name))
        return luaL_error(L, "require: bad module name '%s'", name);
    lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.loaded");
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);

    snprintf(rel, sizeof(rel), "%s.lua", name);
    for (char *p = rel; *p && p < rel + strlen(name); p++)
        if (*p == '.')
            *p = '/';
    {
        char *sdir = lb_path_dir(s->path);
        dirs[ndirs++] = lb_path_join(sdir, "lib");
        free(sdir);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.libpath");
    if (lua_isstring(L, -1))
        dirs[ndirs++] = lb_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    for (int i = 0; i < ndirs && !found; i++) {
        char *cand = lb_path_join(dirs[i], rel);
        if (lb_file_exists(cand))
            found = cand;
        else
            free(cand);
    }
    for (int i = 0; i < ndirs; i++)
        free(dirs[i]);
    if (!found)
        return luaL_error(L, "require: module '%s' not found in the scenario library "
                             "(scenarios/lib/%s)", name, rel);
    int st = luaL_loadfilex(L, found, "t");
    free(found);
    if (st != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

/* ---- state --------------------------------------------------------------- */

static void open_sandbox_libs(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL},
    };
    static const char *const banned[] = {
        "dofile", "loadfile", "load", "collectgarbage", "require", NULL,
    };
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    for (const char *const *b = banned; *b; b++) {
        lua_pushnil(L);
        lua_setglobal(L, *b);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    /* The string metatable is shared by every string: lock it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

static int load_embedded(lua_State *L, struct lb_err *err)
{
    for (const struct lb_lua_embedded *e = lb_lua_embedded; e->name; e++) {
        char chunk[128];
        snprintf(chunk, sizeof(chunk), "=[lifeboat %s.lua]", e->name);
        if (luaL_loadbufferx(L, e->src, e->len, chunk, "t") != LUA_OK ||
            lua_pcall(L, 0, 0, 0) != LUA_OK) {
            lb_err_set(err, LB_EINVAL, "embedded %s.lua: %s", e->name, lua_tostring(L, -1));
            lua_pop(L, 1);
            return err->code;
        }
    }
    return 0;
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_nullv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void lb_script_free(struct lb_script *s)
{
    if (!s)
        return;
    lb_script_close_handles(s);
    if (s->L)
        lua_close(s->L);
    for (size_t i = 0; i < s->nsteps; i++) {
        free(s->steps[i].name);
        free(s->steps[i].kind);
        free(s->steps[i].declared_at);
    }
    free(s->steps);
    for (size_t i = 0; i < s->nrollbacks; i++) {
        free(s->rollbacks[i].name);
        free(s->rollbacks[i].declared_at);
    }
    free(s->rollbacks);
    free_strv(s->targets_used, s->ntargets_used);
    free_strv(s->backups_used, s->nbackups_used);
    free_nullv(s->tags);
    free_nullv(s->limits.tables);
    free_nullv(s->limits.faults);
    lb_buf_free(&s->errors);
    free(s->path);
    free(s->sha256);
    free(s->id);
    free(s->title);
    free(s->declared_at);
    free(s);
}

void l_plan_error(lua_State *L, int level, const char *fmt, ...)
{
    struct lb_script *s = l_script(L);
    char where[256], msg[768];
    va_list ap;

    l_where(L, level, where, sizeof(where));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lb_buf_printf(&s->errors, "%s: %s\n", where, msg);
    s->nerrors++;
}

static int has_name(char **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return 1;
    return 0;
}

void l_note_target_use(lua_State *L, const char *name)
{
    struct lb_script *s = l_script(L);
    if (has_name(s->targets_used, s->ntargets_used, name))
        return;
    s->targets_used = lb_xrealloc(s->targets_used, (s->ntargets_used + 1) * sizeof(char *));
    s->targets_used[s->ntargets_used++] = lb_xstrdup(name);
}

void l_note_backup_use(lua_State *L, const char *name)
{
    struct lb_script *s = l_script(L);
    if (has_name(s->backups_used, s->nbackups_used, name))
        return;
    s->backups_used = lb_xrealloc(s->backups_used, (s->nbackups_used + 1) * sizeof(char *));
    s->backups_used[s->nbackups_used++] = lb_xstrdup(name);
}

/* Checks that need the whole file read: the plan as a whole. */
static void validate_plan(struct lb_script *s)
{
    if (!s->id) {
        lb_buf_printf(&s->errors, "%s: no scenario{ id = ..., title = ... } declaration\n",
                      s->path);
        s->nerrors++;
    }
    if (s->nsteps == 0) {
        lb_buf_printf(&s->errors, "%s: the scenario declares no step\n", s->path);
        s->nerrors++;
    }
}

int lb_script_load(const struct lb_script_opts *o, struct lb_script **out,
                   struct lb_err *err)
{
    struct lb_script *s = lb_xcalloc(1, sizeof(*s));
    char sha[65];
    lua_State *L;
    int rc;

    *out = s;
    s->path = lb_xstrdup(o->path);
    s->env = o->env;
    s->rto_ms = s->rpo_ms = -1;
    s->limits.max_rows = -1;
    s->mem_limit = o->mem_limit ? o->mem_limit : DEFAULT_MEM_LIMIT;
    s->deadline_ms = LB_NO_DEADLINE;

    if (lb_sha256_file_hex(o->path, sha, err) < 0)
        return lb_err_set(err, LB_EINVAL, "%s: cannot read the scenario: %s", o->path,
                          err->msg);
    s->sha256 = lb_xstrdup(sha);

    L = lua_newstate(l_alloc, s);
    if (!L)
        return lb_err_set(err, LB_ENOMEM, "cannot create a Lua state");
    s->L = L;
    open_sandbox_libs(L);

    luaL_newmetatable(L, LB_MT_ERROR);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "lifeboat.loaded");
    if (o->lib_path) {
        lua_pushstring(L, o->lib_path);
        lua_setfield(L, LUA_REGISTRYINDEX, "lifeboat.libpath");
    }
    lua_pushcfunction(L, l_require);
    lua_setglobal(L, "require");

    luaopen_lifeboat_scenario(L);
    luaopen_lifeboat_env(L);
    luaopen_lifeboat_target(L);
    luaopen_lifeboat_backup(L);
    luaopen_lifeboat_fault(L);
    luaopen_lifeboat_recover(L);
    luaopen_lifeboat_exec(L);
    luaopen_lifeboat_http(L);
    rc = load_embedded(L, err);
    if (rc < 0)
        return rc;

    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_COUNT);
    s->deadline_ms = lb_mono_ms() + DECLARE_DEADLINE_MS;

    if (luaL_loadfilex(L, o->path, "t") != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        lb_buf_printf(&s->errors, "%s\n", m ? m : "cannot load the scenario");
        s->nerrors++;
        lb_err_set(err, LB_EINVAL, "%s", m ? m : "cannot load the scenario");
        lua_pop(L, 1);
        s->deadline_ms = LB_NO_DEADLINE;
        return err->code;
    }
    rc = docall(s, NULL, err);
    s->deadline_ms = LB_NO_DEADLINE;
    if (rc < 0) {
        if (rc == LB_ETIMEOUT)
            lb_err_set(err, LB_EINVAL, "%s: loading took longer than %ds: a scenario file "
                       "only declares; do the work inside steps", o->path,
                       DECLARE_DEADLINE_MS / 1000);
        lb_buf_printf(&s->errors, "%s\n", err->msg);
        s->nerrors++;
        err->code = LB_EINVAL;
        return LB_EINVAL;
    }
    validate_plan(s);
    if (s->nerrors) {
        const char *first = s->errors.data;
        const char *nl = strchr(first, '\n');
        lb_err_set(err, LB_EINVAL, "%.*s", (int)(nl ? nl - first : (long)strlen(first)), first);
        return LB_EINVAL;
    }
    return 0;
}
