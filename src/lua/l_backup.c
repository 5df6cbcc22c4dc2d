/*
 * backup(name) handles, backupctl (taking backups) and restore (driving the
 * team's real restore tools). Every tool run is recorded on the step: its
 * command line (no password), exit status, duration and output tail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"

struct l_backup { char *name; };

/* pg_restore --list of an archive for info(), at most. */
#define INFO_TOOL_TIMEOUT_MS 60000

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

void l_push_provenance(lua_State *L, const struct lb_provenance *p)
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
    if (p->finished_at > 0) {
        lua_pushinteger(L, p->finished_at);
        lua_setfield(L, -2, "finished_at_ms");
    }
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

/* Box a provenance so it is freed even if pushing it raises. */
static int prov_gc(lua_State *L)
{
    struct lb_provenance **box = lua_touserdata(L, 1);
    lb_provenance_free(*box);
    *box = NULL;
    return 0;
}

struct lb_provenance **l_new_provenance_box(lua_State *L)
{
    struct lb_provenance **box = lua_newuserdatauv(L, sizeof(*box), 0);
    *box = NULL;
    if (luaL_newmetatable(L, "lifeboat.provenance")) {
        lua_pushcfunction(L, prov_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

/* Box a TOC summary so it is freed even if pushing it raises. */
static int tocsum_gc(lua_State *L)
{
    struct lb_toc_summary **box = lua_touserdata(L, 1);
    lb_toc_summary_free(*box);
    *box = NULL;
    return 0;
}

static struct lb_toc_summary **new_tocsum_box(lua_State *L)
{
    struct lb_toc_summary **box = lua_newuserdatauv(L, sizeof(*box), 0);
    *box = NULL;
    if (luaL_newmetatable(L, "lifeboat.tocsummary")) {
        lua_pushcfunction(L, tocsum_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

static void set_opt_string(lua_State *L, const char *k, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* t.toc = what `pg_restore --list` says of the archive (or t.toc_error). */
static void push_toc(lua_State *L, const char *archive, int64_t deadline_ms)
{
    struct lb_toc_summary **box = new_tocsum_box(L);
    struct lb_err e = {0};
    const struct lb_toc_summary *ts;

    if (lb_backup_toc_summary(archive, deadline_ms, box, &e) < 0) {
        lua_pop(L, 1);
        lua_pushstring(L, e.msg);
        lua_setfield(L, -2, "toc_error");
        return;
    }
    ts = *box;
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, (lua_Integer)ts->entries);
    lua_setfield(L, -2, "entries");
    lua_pushinteger(L, (lua_Integer)ts->data_entries);
    lua_setfield(L, -2, "data_entries");
    if (ts->header_entries >= 0) {
        lua_pushinteger(L, (lua_Integer)ts->header_entries);
        lua_setfield(L, -2, "header_entries");
    }
    set_opt_string(L, "archive_created", ts->archive_created);
    set_opt_string(L, "dbname", ts->dbname);
    set_opt_string(L, "format", ts->format);
    set_opt_string(L, "compression", ts->compression);
    set_opt_string(L, "dumped_from", ts->dumped_from);
    set_opt_string(L, "dumped_by", ts->dumped_by);
    lua_createtable(L, (int)ts->ntables, 0);
    for (size_t i = 0; i < ts->ntables; i++) {
        lua_pushstring(L, ts->tables[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "tables");
    lua_setfield(L, -3, "toc");      /* into the info table, under the box */
    lua_pop(L, 1);                   /* the box (freed by the GC) */
}

/* backup:info() -> { provenance fields..., exists, size, modified_at, toc }
 * or nil and a reason when there is neither a provenance file nor an
 * artifact */
static int l_backup_info(lua_State *L)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_backup *eb = l_check_backup(L, 1);
    struct lb_provenance **p;
    struct lb_err e = {0};
    struct stat st;
    int exists, rc;
    int64_t deadline = lb_mono_ms() + INFO_TOOL_TIMEOUT_MS;

    if (!eb->path) {
        lua_pushnil(L);
        lua_pushfstring(L, "backup '%s' has no path", eb->name);
        return 2;
    }
    if (s->executing && s->deadline_ms < deadline)
        deadline = s->deadline_ms;
    exists = stat(eb->path, &st) == 0;
    p = l_new_provenance_box(L);
    rc = lb_provenance_read(eb->path, p, &e);
    if (rc < 0 && !exists) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s (and %s does not exist)", e.msg, eb->path);
        return 2;
    }
    if (rc == 0) {
        l_push_provenance(L, *p);
    } else {
        lua_createtable(L, 0, 6);
        lua_pushstring(L, e.msg);
        lua_setfield(L, -2, "provenance_error");
    }
    lua_pushboolean(L, rc == 0);
    lua_setfield(L, -2, "provenance");
    lua_pushboolean(L, exists);
    lua_setfield(L, -2, "exists");
    if (exists) {
        char iso[40];
        lua_pushinteger(L, (lua_Integer)st.st_size);
        lua_setfield(L, -2, "size");
        lb_wall_format((int64_t)st.st_mtime * 1000, iso, sizeof(iso));
        lua_pushstring(L, iso);
        lua_setfield(L, -2, "modified_at");
        if (strcmp(eb->kind, "pg_dump") == 0 && S_ISREG(st.st_mode))
            push_toc(L, eb->path, deadline);
    }
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

struct lb_tool_run *l_new_tool_run(lua_State *L)
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

static void get_target_field(lua_State *L, int opts, struct l_target **t)
{
    if (lua_getfield(L, opts, "target") == LUA_TNIL)
        luaL_error(L, "'target' is required");
    *t = l_check_target(L, -1);
    lua_pop(L, 1);
}

/* ---- restore ------------------------------------------------------------ */

struct lb_script *l_restore_begin(lua_State *L, const char *what)
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
    struct lb_script *s = l_restore_begin(L, "restore.pg_restore");
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

    /* What the archive says of itself is the RPO evidence of a dump restore,
     * but only for a dump of this very cluster: a dump of another system
     * says nothing of how much of this one's data survived. A rollback's
     * restore repairs, it does not measure. */
    if (lb_provenance_read(eb->path, &prov, &e) == 0) {
        const char *pinned = l_target_env(L, t)->system_identifier;
        const char *src = prov->source_system_identifier;
        if (s->in_rollback) {
            /* nothing to measure */
        } else if (pinned && src && strcmp(pinned, src) == 0) {
            lb_run_set_rpo_evidence(s->run, "backup snapshot time (pg_dump provenance)",
                                    prov->taken_at);
        } else {
            snprintf(line, sizeof(line), "backup '%s' comes from system_identifier %s, not "
                     "the target's %s: its age is no RPO evidence", eb->name,
                     src ? src : "(unknown)", pinned ? pinned : "(not pinned)");
            lb_run_log(s->run, line);
        }
        lb_provenance_free(prov);
    } else {
        snprintf(line, sizeof(line), "backup '%s' has no provenance: %s", eb->name, e.msg);
        lb_run_log(s->run, line);
    }

    struct lb_tool_run *tr = l_new_tool_run(L);
    int rc = lb_backup_pg_restore(&ro, tr, &e);
    l_record_tool(L, "pg_restore", tr);
    if (rc < 0)
        return lb_lua_raise(L, &e);
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
    struct lb_tool_run *tr = l_new_tool_run(L);
    int rc = lb_backup_pg_dump(&o, tr, &prov, &e);
    l_record_tool(L, "pg_dump", tr);
    if (rc < 0) {
        lb_provenance_free(prov);
        return lb_lua_raise(L, &e);
    }
    snprintf(line, sizeof(line), "pg_dump of target '%s' written to %s", t->name, eb->path);
    lb_run_log(s->run, line);
    if (prov) {
        l_push_provenance(L, prov);
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
