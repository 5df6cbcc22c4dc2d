/*
 * backup(name) handles, backupctl (taking backups) and restore (driving the
 * team's real restore tools). Every tool run is recorded on the step: its
 * command line (no password), exit status, duration and output tail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"

struct l_backup { char *name; };

/* ---- handles ------------------------------------------------------------ */

const struct lb_env_backup *l_check_backup(lua_State *L, int idx)
{
    struct lb_script *s = l_script(L);
    struct l_backup *b = luaL_checkudata(L, idx, LB_MT_BACKUP);
    const struct lb_env_backup *eb = lb_env_backup(s->env, b->name);
    if (!eb)
        l_raise(L, LB_EINVAL, "backup '%s' is not declared in the environment", b->name);
    return eb;
}

static int backup_gc(lua_State *L)
{
    struct l_backup *b = luaL_checkudata(L, 1, LB_MT_BACKUP);
    free(b->name);
    b->name = NULL;
    return 0;
}

static int backup_tostring(lua_State *L)
{
    struct l_backup *b = luaL_checkudata(L, 1, LB_MT_BACKUP);
    lua_pushfstring(L, "backup(%s)", b->name ? b->name : "?");
    return 1;
}

/* backup(name) -> handle */
static int l_backup_new(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const char *name = luaL_checkstring(L, 1);
    if (s->env && !lb_env_backup(s->env, name))
        l_plan_error(L, 1, "unknown backup '%s'", name);
    l_note_backup_use(L, name);
    struct l_backup *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->name = NULL;
    luaL_setmetatable(L, LB_MT_BACKUP);
    b->name = lb_xstrdup(name);
    return 1;
}

static void push_provenance(lua_State *L, const struct lb_provenance *p)
{
    char iso[40];
    lua_createtable(L, 0, 10);
    if (p->kind) {
        lua_pushstring(L, p->kind);
        lua_setfield(L, -2, "kind");
    }
    if (p->source_system_identifier) {
        lua_pushstring(L, p->source_system_identifier);
        lua_setfield(L, -2, "system_identifier");
    }
    if (p->source_cluster_name) {
        lua_pushstring(L, p->source_cluster_name);
        lua_setfield(L, -2, "cluster_name");
    }
    if (p->database) {
        lua_pushstring(L, p->database);
        lua_setfield(L, -2, "database");
    }
    if (p->server_version) {
        lua_pushstring(L, p->server_version);
        lua_setfield(L, -2, "version");
    }
    lua_pushinteger(L, p->taken_at);
    lua_setfield(L, -2, "taken_at_ms");
    lb_wall_format(p->taken_at, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "taken_at");
    lua_pushnumber(L, (lua_Number)(lb_wall_ms() - p->taken_at) / 1000.0);
    lua_setfield(L, -2, "age");
    lua_createtable(L, 0, (int)p->ntables);
    int64_t total = 0;
    for (size_t i = 0; i < p->ntables; i++) {
        lua_pushinteger(L, p->tables[i].rows);
        lua_setfield(L, -2, p->tables[i].name);
        total += p->tables[i].rows;
    }
    lua_setfield(L, -2, "tables");
    lua_pushinteger(L, total);
    lua_setfield(L, -2, "rows");
}

/* backup:info() -> provenance table, or nil and a reason */
static int l_backup_info(lua_State *L)
{
    const struct lb_env_backup *eb = l_check_backup(L, 1);
    struct lb_provenance *p = NULL;
    struct lb_err e = {0};
    if (!eb->path) {
        lua_pushnil(L);
        lua_pushfstring(L, "backup '%s' has no path", eb->name);
        return 2;
    }
    if (lb_provenance_read(eb->path, &p, &e) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, e.msg);
        return 2;
    }
    push_provenance(L, p);
    lua_pushboolean(L, lb_file_exists(eb->path));
    lua_setfield(L, -2, "exists");
    lb_provenance_free(p);
    return 1;
}

/* ---- recording tool runs ------------------------------------------------ */

void l_record_tool(lua_State *L, const char *what, const struct lb_tool_run *tr)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    char name[128];
    struct lb_buf b = {0};

    lb_buf_printf(&b, "$ %s\n", tr->cmdline ? tr->cmdline : what);
    if (tr->output && *tr->output)
        lb_buf_adds(&b, tr->output);
    if (tr->timed_out)
        lb_buf_adds(&b, "\n[killed at the step deadline]");
    else if (tr->interrupted)
        lb_buf_adds(&b, "\n[killed: interrupted]");
    else
        lb_buf_printf(&b, "\n[exit status %d, %lld ms]", tr->exit_status,
                      (long long)tr->duration_ms);
    lb_run_step_output(s->run, b.data);
    lb_buf_free(&b);
    snprintf(name, sizeof(name), "%s.duration", what);
    lb_run_metric(s->run, name, (double)tr->duration_ms, "ms", &e);
    snprintf(name, sizeof(name), "%s.exit_status", what);
    lb_run_metric(s->run, name, tr->exit_status, NULL, &e);
}

/* Box a tool run so it is freed even if recording raises. */
static int toolrun_gc(lua_State *L)
{
    lb_tool_run_free(lua_touserdata(L, 1));
    return 0;
}

static struct lb_tool_run *new_toolrun_box(lua_State *L)
{
    struct lb_tool_run *tr = lua_newuserdatauv(L, sizeof(*tr), 0);
    memset(tr, 0, sizeof(*tr));
    if (luaL_newmetatable(L, "lifeboat.toolrun")) {
        lua_pushcfunction(L, toolrun_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return tr;
}

/* Last non-empty line of a tool's output, for error messages. */
static void last_line(const char *out, char *buf, size_t bufsz)
{
    const char *end, *start;
    buf[0] = '\0';
    if (!out)
        return;
    end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    start = end;
    while (start > out && start[-1] != '\n')
        start--;
    snprintf(buf, bufsz, "%.*s", (int)(end - start), start);
}

static void get_target_field(lua_State *L, int opts, struct l_target **t)
{
    if (lua_getfield(L, opts, "target") == LUA_TNIL)
        luaL_error(L, "'target' is required");
    *t = l_check_target(L, -1);
    lua_pop(L, 1);
}

/* ---- restore ------------------------------------------------------------ */

static struct lb_script *restore_begin(lua_State *L, const char *what)
{
    struct lb_script *s = l_need_exec(L, what);
    const char *kind = lb_run_current_kind(s->run);
    if (!s->in_rollback && (!kind || (strcmp(kind, "restore") != 0 &&
                                      strcmp(kind, "action") != 0)))
        luaL_error(L, "%s must run inside a step of kind \"restore\" (or a rollback)", what);
    return s;
}

/* restore.pg_restore{ target, from, tables, jobs = 1, clean = false } */
static int l_restore_pg_restore(lua_State *L)
{
    static const char *const keys[] = {"target", "from", "tables", "jobs", "clean", NULL};
    struct lb_script *s = restore_begin(L, "restore.pg_restore");
    struct l_target *t;
    struct lb_restore_opts ro = {0};
    struct lb_provenance *prov = NULL;
    struct lb_err e = {0};
    char line[1400];

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int ok = 0;
        lua_pop(L, 1);
        for (const char *const *k = keys; *k; k++)
            if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), *k) == 0)
                ok = 1;
        if (!ok)
            return luaL_error(L, "restore.pg_restore: unknown option '%s'",
                              luaL_tolstring(L, -1, NULL));
    }
    get_target_field(L, 1, &t);
    if (lua_getfield(L, 1, "from") == LUA_TNIL)
        return luaL_error(L, "restore.pg_restore: 'from' (a backup) is required");
    const struct lb_env_backup *eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    if (strcmp(eb->kind, "pg_dump") != 0 || !eb->path)
        return luaL_error(L, "restore.pg_restore: backup '%s' is a %s, not a pg_dump archive",
                          eb->name, eb->kind);
    ro.tables = l_opt_string_array(L, 1, "tables");
    ro.jobs = (int)l_opt_int_field(L, 1, "jobs", 1);
    ro.clean = l_opt_bool_field(L, 1, "clean", 0);
    if (ro.jobs < 1 || ro.jobs > 64)
        return luaL_error(L, "restore.pg_restore: jobs must be 1..64");
    if (!lb_file_exists(eb->path))
        return l_raise(L, LB_EINVAL, "backup '%s': %s does not exist", eb->name, eb->path);

    l_target_guard(L, t, "restore.pg_restore");
    ro.conn = l_target_conn(L, t);
    ro.conninfo = l_target_env(L, t)->conninfo;
    ro.archive = eb->path;
    ro.deadline_ms = l_deadline(L);

    /* What the archive says of itself is the RPO evidence of a dump restore. */
    if (lb_provenance_read(eb->path, &prov, &e) == 0) {
        lb_run_set_rpo_evidence(s->run, "backup snapshot time (pg_dump provenance)",
                                prov->taken_at);
        lb_provenance_free(prov);
    } else {
        snprintf(line, sizeof(line), "backup '%s' has no provenance: %s", eb->name, e.msg);
        lb_run_log(s->run, line);
    }

    struct lb_tool_run *tr = new_toolrun_box(L);
    int rc = lb_backup_pg_restore(&ro, tr, &e);
    l_record_tool(L, "pg_restore", tr);
    if (rc < 0)
        return lb_lua_raise(L, &e);
    if (tr->exit_status != 0) {
        last_line(tr->output, line, sizeof(line));
        return l_raise(L, LB_EPROC, "pg_restore exited with status %d: %s", tr->exit_status,
                       line);
    }
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, (lua_Number)tr->duration_ms / 1000.0);
    lua_setfield(L, -2, "duration");
    lua_pushstring(L, tr->cmdline ? tr->cmdline : "");
    lua_setfield(L, -2, "command");
    return 1;
}

/* ---- backupctl ---------------------------------------------------------- */

/* backupctl.pg_dump{ target, to = backup } -> provenance */
static int l_backupctl_pg_dump(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "backupctl.pg_dump");
    struct l_target *t;
    struct lb_dump_opts o = {0};
    struct lb_provenance *prov = NULL;
    struct lb_err e = {0};
    char line[512];

    luaL_checktype(L, 1, LUA_TTABLE);
    get_target_field(L, 1, &t);
    if (lua_getfield(L, 1, "to") == LUA_TNIL)
        return luaL_error(L, "backupctl.pg_dump: 'to' (a backup) is required");
    const struct lb_env_backup *eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    if (strcmp(eb->kind, "pg_dump") != 0 || !eb->path)
        return luaL_error(L, "backupctl.pg_dump: backup '%s' is a %s, not a pg_dump archive",
                          eb->name, eb->kind);
    (void)l_target_conn(L, t);    /* connect and guard before anything runs */
    o.conninfo = l_target_env(L, t)->conninfo;
    o.path = eb->path;
    o.deadline_ms = l_deadline(L);
    struct lb_tool_run *tr = new_toolrun_box(L);
    int rc = lb_backup_pg_dump(&o, tr, &prov, &e);
    l_record_tool(L, "pg_dump", tr);
    if (rc < 0) {
        lb_provenance_free(prov);
        return lb_lua_raise(L, &e);
    }
    if (tr->exit_status != 0) {
        lb_provenance_free(prov);
        last_line(tr->output, line, sizeof(line));
        return l_raise(L, LB_EPROC, "pg_dump exited with status %d: %s", tr->exit_status,
                       line);
    }
    snprintf(line, sizeof(line), "pg_dump of target '%s' written to %s", t->name, eb->path);
    lb_run_log(s->run, line);
    if (prov) {
        push_provenance(L, prov);
        lb_provenance_free(prov);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

int luaopen_lifeboat_backup(lua_State *L)
{
    static const luaL_Reg methods[] = {{"info", l_backup_info}, {NULL, NULL}};
    static const luaL_Reg restore_fns[] = {{"pg_restore", l_restore_pg_restore},
                                           {NULL, NULL}};
    static const luaL_Reg backupctl_fns[] = {{"pg_dump", l_backupctl_pg_dump}, {NULL, NULL}};

    luaL_newmetatable(L, LB_MT_BACKUP);
    lua_pushcfunction(L, backup_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, backup_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_backup_new);
    lua_setglobal(L, "backup");
    luaL_newlib(L, restore_fns);
    lua_setglobal(L, "restore");
    luaL_newlib(L, backupctl_fns);
    lua_setglobal(L, "backupctl");
    return 0;
}
