/*
 * Recovery: the faults that take servers away (fault.stop_server,
 * fault.region_loss) or damage data in place (fault.encrypt_table,
 * fault.corrupt_rows), and the restores that bring a service back by other
 * means than a dump: point-in-time recovery (restore.pitr), promotion of a
 * replica (restore.promote), pgBackRest (restore.pgbackrest), a team's own
 * runbook step (restore.command), rebuilding a replica
 * (restore.rebuild_replica), unfencing (restore.unfence), and scratch
 * restores (a backup layer restored into a throw-away server or database
 * and handed back as a target handle to validate: restore.scratch,
 * into = "scratch"). Also backupctl.basebackup and backupctl.pgbackrest,
 * backup:info() for base backups and pgBackRest, and target:replication().
 *
 * Safety, on top of the faults' blast radius: a running server is proven
 * by the online guard before it is stopped, fenced or replaced; a stopped
 * one by the offline guard (its declared data directory's
 * system_identifier, read with pg_controldata, equals the pin and is not
 * protected; role staging) before its data is touched or it is started;
 * after any start the first connection runs the online guard again.
 * Server control only ever runs what the environment declares (cluster.h).
 *
 * Per-run state lives in the registry table "lifeboat.recover":
 * `follows` (target → the primary it streams from, after a rebuild),
 * `promoted` (old primary → the target that took over from it) and
 * `scratch` (the scratch restores to tear down at the end of the run).
 * Whether a server is fenced is read from the server itself
 * (lb_cluster_is_fenced), never remembered.
 *
 * Everything C allocates lives in a userdata box with a __gc before
 * anything that may raise runs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "l_recover.h"
#include "lifeboat/backup.h"
#include "lifeboat/cluster.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"

#define STATE_KEY "lifeboat.recover"
#define LB_MT_SCRATCH "lifeboat.scratch"
#define SCRATCH_PREFIX "scratch."
#define SCRATCH_DB_PREFIX "lifeboat_scratch_"
#define EVENTS_TABLE "public.lifeboat_events"

/* A probe ("does it answer?") never waits longer. */
#define PROBE_MS 3000
/* Connecting to a server that should answer. */
#define CONNECT_MS 15000
/* After a stop, how long the server may take to stop answering. */
#define DOWN_WAIT_MS 10000
/* Tearing a scratch restore down at the end of the run. */
#define TEARDOWN_MS 60000
/* A replica that has replayed nothing for longer (before the incident) is
 * not healthy enough to promote, unless it streams. */
#define DEFAULT_MAX_LAG_MS (5 * 60 * 1000)

/* ---- boxes -------------------------------------------------------------- */

struct pgbox { struct lb_pg *c; };
struct strbox { char *p; };

static int pgbox_gc(lua_State *L)
{
    struct pgbox *b = lua_touserdata(L, 1);
    lb_pg_close(b->c);
    b->c = NULL;
    return 0;
}

static int strbox_gc(lua_State *L)
{
    struct strbox *b = lua_touserdata(L, 1);
    free(b->p);
    b->p = NULL;
    return 0;
}

static void *new_box(lua_State *L, size_t size, const char *mt, lua_CFunction gc)
{
    void *b = lua_newuserdatauv(L, size, 0);
    memset(b, 0, size);
    if (luaL_newmetatable(L, mt)) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static struct pgbox *new_pgbox(lua_State *L)
{
    return new_box(L, sizeof(struct pgbox), "lifeboat.recover.pg", pgbox_gc);
}

/* Box a malloc'ed string (taking ownership); returns it. */
static char *box_str(lua_State *L, char *p)
{
    struct strbox *b = new_box(L, sizeof(struct strbox), "lifeboat.recover.str", strbox_gc);
    b->p = p;
    return p;
}

/* ---- small helpers ------------------------------------------------------ */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int64_t probe_deadline(lua_State *L, int64_t ms)
{
    return min64(l_deadline(L), lb_mono_ms() + ms);
}

static void logf_run(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_run(lua_State *L, const char *fmt, ...)
{
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    lb_run_log(l_script(L)->run, line);
}

static void metric(lua_State *L, const char *name, double v, const char *unit)
{
    struct lb_err e = {0};
    if (lb_run_metric(l_script(L)->run, name, v, unit, &e) < 0)
        lb_lua_raise(L, &e);
}

/* A sub-step phase, as reports draw them (docs/reports.md): its offset from
 * the step's start and its duration. Only inside a step. */
static void phase(lua_State *L, const char *name, int64_t start_mono, int64_t end_mono)
{
    struct lb_run *run = l_script(L)->run;
    int64_t step_start = lb_run_step_started_at(run);
    char m[128];
    if (lb_run_current_step(run) <= 0)
        return;
    if (step_start >= 0) {
        int64_t start_wall = lb_wall_ms() - (lb_mono_ms() - start_mono);
        snprintf(m, sizeof(m), "phase.%s.start_ms", name);
        metric(L, m, (double)(start_wall > step_start ? start_wall - step_start : 0), "ms");
    }
    snprintf(m, sizeof(m), "phase.%s.duration_ms", name);
    metric(L, m, (double)(end_mono - start_mono), "ms");
}

static void gap(lua_State *L, const char *severity, const char *category, const char *title,
                const char *detail)
{
    struct lb_err e = {0};
    lb_run_gap(l_script(L)->run, severity, category, title, detail, &e);
}

/* Record a tool run on the step (when it ran at all). */
static void record(lua_State *L, const char *what, const struct lb_tool_run *tr)
{
    if (tr->cmdline || tr->output || tr->duration_ms > 0)
        l_record_tool(L, what, tr);
}

/* A target given as a handle or a name (field k of the table at t, or the
 * value at idx when k is NULL). Copies the environment name into name
 * (routes followed now); *handle gets the handle or NULL. */
static const struct lb_env_target *target_arg(lua_State *L, int t, const char *k,
                                              char *name, size_t namesz,
                                              struct l_target **handle)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *et;
    int idx = t;
    if (k) {
        lua_getfield(L, t, k);
        idx = lua_gettop(L);
    }
    *handle = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        et = lb_env_target(s->env, lua_tostring(L, idx));
        if (!et) {
            l_raise(L, LB_EINVAL, "target '%s' is not declared in the environment",
                    lua_tostring(L, idx));
            return NULL;
        }
    } else if (luaL_testudata(L, idx, LB_MT_TARGET)) {
        *handle = l_check_target(L, idx);
        et = l_target_env(L, *handle);
    } else {
        luaL_error(L, "'%s' must be a target handle or a target name", k ? k : "target");
        return NULL;
    }
    snprintf(name, namesz, "%s", et->name);
    if (k)
        lua_pop(L, 1);
    return et;
}

/* The environment target by name (after anything that may have moved the
 * target array). */
static const struct lb_env_target *env_target(lua_State *L, const char *name)
{
    const struct lb_env_target *et = lb_env_target(l_script(L)->env, name);
    if (!et)
        l_raise(L, LB_EINVAL, "target '%s' is not declared in the environment", name);
    return et;
}

/* ---- per-run state ------------------------------------------------------- */

/* Push registry[STATE_KEY][sub], created on demand. */
static void push_state(lua_State *L, const char *sub)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    }
    if (lua_getfield(L, -1, sub) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, sub);
    }
    lua_remove(L, -2);
}

/* Copy state[sub][key] into out ("" when unset). */
static void state_get(lua_State *L, const char *sub, const char *key, char *out, size_t outsz)
{
    push_state(L, sub);
    lua_getfield(L, -1, key);
    snprintf(out, outsz, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 2);
}

/* state[sub][key] = value (NULL clears). */
static void state_set(lua_State *L, const char *sub, const char *key, const char *value)
{
    push_state(L, sub);
    if (value)
        lua_pushstring(L, value);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, key);
    lua_pop(L, 1);
}

/* The primary `name` streams from: what a rebuild in this run made it
 * follow, else its declared replica_of; "" when none. */
static void upstream_of(lua_State *L, const struct lb_env_target *et, char *out, size_t outsz)
{
    state_get(L, "follows", et->name, out, outsz);
    if (!out[0] && et->replica_of)
        snprintf(out, outsz, "%s", et->replica_of);
}

/* Close the connection of every handle that resolves to target `name`
 * (its server went away or was replaced: the next use reconnects and
 * proves it again). */
static void close_handles_to(lua_State *L, const char *name)
{
    struct lb_script *s = l_script(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.handles") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct l_target *t = luaL_testudata(L, -2, LB_MT_TARGET);
            const struct lb_env_target *et;
            lua_pop(L, 1);
            if (!t || t->closed || !t->conn || !t->name)
                continue;
            et = lb_env_target(s->env, t->name);
            if (et && strcmp(et->name, name) == 0) {
                lb_pg_close(t->conn);
                t->conn = NULL;
                t->guarded = 0;
            }
        }
    }
    lua_pop(L, 1);
}

/* Same for the handles opened on a route name. */
static void close_handles_named(lua_State *L, const char *route)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.handles") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct l_target *t = luaL_testudata(L, -2, LB_MT_TARGET);
            lua_pop(L, 1);
            if (t && !t->closed && t->conn && t->name && strcmp(t->name, route) == 0) {
                lb_pg_close(t->conn);
                t->conn = NULL;
                t->guarded = 0;
            }
        }
    }
    lua_pop(L, 1);
}

/* ---- guards -------------------------------------------------------------- */

static int is_protected_sysid(const struct lb_env *env, const char *sysid)
{
    for (size_t i = 0; i < env->nprotected_sysids; i++)
        if (strcmp(env->protected_sysids[i], sysid) == 0)
            return 1;
    return 0;
}

/* The offline guard's test: 0, or -1 with the reason in why. */
static int offline_check(const struct lb_env *env, const struct lb_env_target *et,
                         int64_t deadline, char *why, size_t whysz)
{
    struct lb_err e = {0};
    char sysid[32] = "";

    if (!et->role || strcmp(et->role, "staging") != 0) {
        snprintf(why, whysz, "role is '%s', lifeboat only acts on 'staging'",
                 et->role ? et->role : "(none)");
        return -1;
    }
    if (!et->system_identifier || !*et->system_identifier) {
        snprintf(why, whysz, "no pinned system_identifier in the environment");
        return -1;
    }
    if (!et->data_dir) {
        snprintf(why, whysz, "it is not running and declares no data_dir: a stopped server "
                 "cannot be proven");
        return -1;
    }
    if (lb_cluster_offline_identity(et->data_dir, sysid, deadline, &e) < 0) {
        snprintf(why, whysz, "cannot read the identity of its data directory %s (%s)%s",
                 et->data_dir, e.msg,
                 lb_cluster_is_fenced(et) == 1 ? "; it is fenced: restore.unfence{ target, "
                                                 "start = false } first" : "");
        return -1;
    }
    if (strcmp(sysid, et->system_identifier) != 0) {
        snprintf(why, whysz, "data directory %s holds system_identifier %s, the environment "
                 "pins %s", et->data_dir, sysid, et->system_identifier);
        return -1;
    }
    if (is_protected_sysid(env, sysid)) {
        snprintf(why, whysz, "system_identifier %s is on the protected list", sysid);
        return -1;
    }
    return 0;
}

/*
 * The offline guard: prove, without a connection, that the declared data
 * directory of `et` is the pinned staging cluster. Raises a safety error
 * (exit 3, nothing touched) otherwise.
 */
static void offline_guard(lua_State *L, const struct lb_env_target *et, const char *action)
{
    char why[1400];
    if (offline_check(l_script(L)->env, et, probe_deadline(L, 60000), why, sizeof(why)) < 0)
        l_raise(L, LB_ESAFETY, "refusing %s: target '%s': %s", action, et->name, why);
}

/* Try to connect to et within ms; on success the connection is left in
 * box->c (not yet proven). Returns 1 if it answered. */
static int answers(lua_State *L, const struct lb_env_target *et, int64_t ms, struct pgbox *box,
                   struct lb_err *e)
{
    if (lb_pg_connect(et->conninfo, probe_deadline(L, ms), &box->c, e) < 0) {
        lb_pg_close(box->c);
        box->c = NULL;
        return 0;
    }
    return 1;
}

/* Prove box->c (connected to et) with the online guard, or raise. */
static void online_guard(lua_State *L, const struct lb_env_target *et, struct pgbox *box,
                         const char *action)
{
    struct lb_err e = {0};
    if (lb_guard_check(box->c, l_script(L)->env, et, probe_deadline(L, CONNECT_MS), NULL,
                       &e) < 0) {
        if (e.code != LB_ESAFETY && e.code != LB_EINTR && e.code != LB_ETIMEOUT)
            lb_err_set(&e, LB_ESAFETY, "target '%s': cannot verify identity: %s", et->name,
                       e.msg);
        lb_err_prefix(&e, "refusing %s", action);
        lb_lua_raise(L, &e);
    }
}

/* Wait until et stops answering (and no postmaster owns its data dir). */
static int wait_down(lua_State *L, const struct lb_env_target *et)
{
    int64_t until = probe_deadline(L, DOWN_WAIT_MS);
    for (;;) {
        struct lb_pg *c = NULL;
        struct lb_err e = {0};
        int up = lb_pg_connect(et->conninfo, min64(until, lb_mono_ms() + 1000), &c, &e) == 0;
        lb_pg_close(c);
        if (!up && (!et->data_dir || !lb_cluster_running(et->data_dir)))
            return 1;
        if (lb_mono_ms() >= until || lb_interrupted())
            return 0;
        lb_sleep_ms(200);
    }
}

/* ---- faults --------------------------------------------------------------- */

/* The WAL position of a running primary, just before lifeboat stops it:
 * how far its replicas must have received to have lost nothing (kept in
 * state.last_lsn for restore.promote). */
static void remember_last_lsn(lua_State *L, const struct lb_env_target *et)
{
    struct lb_pg *c = NULL;
    struct lb_err e = {0};
    char *lsn = NULL;
    int64_t deadline = probe_deadline(L, PROBE_MS);
    if (lb_pg_connect(et->conninfo, deadline, &c, &e) == 0 &&
        lb_guard_check(c, l_script(L)->env, et, deadline, NULL, &e) == 0 &&
        lb_pg_scalar(c, "SELECT CASE WHEN pg_is_in_recovery() THEN NULL"
                        " ELSE pg_current_wal_lsn()::text END", 0, NULL, deadline, &lsn,
                     &e) == 0 && lsn)
        state_set(L, "last_lsn", et->name, lsn);
    free(lsn);
    lb_pg_close(c);
}

/* Stop (or fence) one target whose identity has been proven, and prove the
 * fault landed. Records the tool run. */
static void stop_one(lua_State *L, const struct lb_env_target *et, const char *mode, int fence)
{
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    char what[160];
    int rc;

    remember_last_lsn(L, et);
    tr = l_new_tool_run(L);

    if (fence)
        rc = lb_cluster_fence(et, l_deadline(L), tr, &e);
    else
        rc = lb_cluster_stop(et, mode, l_deadline(L), tr, &e);
    snprintf(what, sizeof(what), "fault.%s.%s", fence ? "fence" : "stop", et->name);
    record(L, what, tr);
    lua_pop(L, 1);
    if (rc < 0) {
        lb_err_prefix(&e, "target '%s'", et->name);
        lb_lua_raise(L, &e);
    }
    close_handles_to(L, et->name);
    if (!wait_down(L, et))
        l_raise(L, LB_EINVAL, "fault did not land: target '%s' still accepts connections "
                "after its %s command", et->name, fence ? "fence" : "stop");
}

/* fault.stop_server(db, { mode = "immediate", fence = false }) -> { target, fenced } */
static int l_fault_stop_server(lua_State *L)
{
    static const char *const keys[] = {"mode", "fence", NULL};
    struct l_target *t = l_check_target(L, 1);
    const char *mode = "immediate";
    int fence = 0;
    char name[128];

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        l_check_options(L, 2, "fault.stop_server", keys);
        mode = l_opt_string_field(L, 2, "mode", "immediate");
        fence = l_opt_bool_field(L, 2, "fence", 0);
    }
    if (strcmp(mode, "immediate") != 0 && strcmp(mode, "fast") != 0 &&
        strcmp(mode, "smart") != 0)
        return luaL_error(L, "fault.stop_server: mode must be \"immediate\", \"fast\" or "
                             "\"smart\"");
    l_fault_checks(L, "stop_server", NULL);
    /* A running server is proven on its connection before it is stopped. */
    l_target_guard(L, t, "fault.stop_server");
    snprintf(name, sizeof(name), "%s", l_target_env(L, t)->name);
    stop_one(L, env_target(L, name), mode, fence);
    metric(L, "fault.servers_stopped", 1, "servers");
    if (fence)
        metric(L, "fault.servers_fenced", 1, "servers");
    logf_run(L, "target '%s' stopped%s", name, fence ? " and fenced" : "");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "target");
    lua_pushboolean(L, fence);
    lua_setfield(L, -2, "fenced");
    return 1;
}

/* fault.region_loss(region, { fence = true }) -> { region, targets, stopped, fenced } */
static int l_fault_region_loss(lua_State *L)
{
    static const char *const keys[] = {"fence", NULL};
    struct lb_script *s;
    const char *region = luaL_checkstring(L, 1);
    int want_fence = 1, n = 0, nfenced = 0, nstopped = 0;
    int names, i;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        l_check_options(L, 2, "fault.region_loss", keys);
        want_fence = l_opt_bool_field(L, 2, "fence", 1);
    }
    s = l_fault_checks(L, "region_loss", NULL);

    /* The targets of the region (not scratch restores), by name: the
     * guards below must not hold pointers into the environment. */
    lua_newtable(L);
    names = lua_gettop(L);
    for (size_t k = 0; k < s->env->ntargets; k++) {
        const struct lb_env_target *et = &s->env->targets[k];
        if (et->region && strcmp(et->region, region) == 0 &&
            !lb_str_starts(et->name, SCRATCH_PREFIX)) {
            lua_pushstring(L, et->name);
            lua_rawseti(L, names, ++n);
        }
    }
    if (n == 0)
        return l_raise(L, LB_EINVAL, "fault.region_loss: no target of the environment is in "
                       "region '%s'", region);

    /* Prove every one before stopping any: a refusal touches nothing. A
     * server that answers is proven online; one that does not, offline. */
    lua_newtable(L);
    int running = lua_gettop(L);
    for (i = 1; i <= n; i++) {
        struct pgbox *box = new_pgbox(L);
        struct lb_err e = {0};
        const struct lb_env_target *et;
        lua_rawgeti(L, names, i);
        et = env_target(L, lua_tostring(L, -1));
        if (answers(L, et, PROBE_MS, box, &e)) {
            online_guard(L, et, box, "fault.region_loss");
            lua_pushboolean(L, 1);
        } else {
            offline_guard(L, et, "fault.region_loss");
            lua_pushboolean(L, 0);
        }
        lua_rawseti(L, running, i);
        lb_pg_close(box->c);
        box->c = NULL;
        lua_pop(L, 2);
    }

    /* Then the region goes: every server stopped and fenced (fence stops it
     * too), each through its declared commands. */
    for (i = 1; i <= n; i++) {
        const struct lb_env_target *et;
        int fence;
        lua_rawgeti(L, names, i);
        et = env_target(L, lua_tostring(L, -1));
        fence = want_fence && et->fence_argv;
        if (want_fence && !et->fence_argv) {
            char title[300];
            snprintf(title, sizeof(title), "target '%s' declares no fence command: it could "
                     "be restarted by accident during the drill", et->name);
            gap(L, "minor", "safety", title, NULL);
        }
        lua_rawgeti(L, running, i);
        int was_running = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (was_running || fence) {
            stop_one(L, et, "immediate", fence);
            et = env_target(L, lua_tostring(L, -1));
        }
        logf_run(L, "region %s: target '%s' %s%s", region, et->name,
                 was_running ? "stopped" : "was already down",
                 fence ? " and fenced" : "");
        nfenced += fence;
        nstopped += was_running;
        lua_pop(L, 1);
    }
    if (nstopped == 0 && nfenced == 0)
        return l_raise(L, LB_EINVAL, "fault did not land: every server of region '%s' was "
                       "already down", region);
    metric(L, "fault.servers_stopped", nstopped, "servers");
    metric(L, "fault.servers_fenced", nfenced, "servers");
    lua_createtable(L, 0, 4);
    lua_pushstring(L, region);
    lua_setfield(L, -2, "region");
    lua_pushvalue(L, names);
    lua_setfield(L, -2, "targets");
    lua_pushinteger(L, nstopped);
    lua_setfield(L, -2, "stopped");
    lua_pushinteger(L, nfenced);
    lua_setfield(L, -2, "fenced");
    return 1;
}

/* ---- damage in place: encrypt_table, corrupt_rows -------------------------- */

static int resbox_gc(lua_State *L)
{
    lb_pg_result_free(lua_touserdata(L, 1));
    return 0;
}

static struct lb_pg_result *new_resbox(lua_State *L)
{
    return new_box(L, sizeof(struct lb_pg_result), "lifeboat.recover.result", resbox_gc);
}

static int bufbox_gc(lua_State *L)
{
    lb_buf_free(lua_touserdata(L, 1));
    return 0;
}

static struct lb_buf *new_bufbox(lua_State *L)
{
    return new_box(L, sizeof(struct lb_buf), "lifeboat.recover.buf", bufbox_gc);
}

/* Run SQL inside the fault's transaction; on failure roll it back and raise. */
static void txq(lua_State *L, struct lb_pg *c, const char *sql, int n, const char *const *p,
                struct lb_pg_result *out)
{
    struct lb_err e = {0};
    if (lb_pg_query(c, sql, n, p, l_deadline(L), out, &e) < 0) {
        struct lb_err ignore = {0};
        lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 10000, &ignore);
        lb_lua_raise(L, &e);
    }
}

static void tx_fail(lua_State *L, struct lb_pg *c, int code, const char *msg)
{
    struct lb_err ignore = {0};
    lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 10000, &ignore);
    l_raise(L, code, "%s", msg);
}

static const char COLUMNS_SQL[] =
    "SELECT quote_ident(a.attname), t.typcategory::text, t.typname::text,"
    "       format_type(a.atttypid, a.atttypmod),"
    "       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid"
    "               AND k.contype IN ('p', 'f') AND a.attnum = ANY (k.conkey)),"
    "       a.attidentity <> '' OR a.attgenerated <> '',"
    "       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid"
    "               AND k.contype = 'p' AND a.attnum = ANY (k.conkey))"
    " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
    " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum";

/* The garbage written into a column of type (category, name, formatted),
 * derived from the row's key and the old value, so that it differs from
 * it, stays unique where the old values were and fits NOT NULL. NULL for
 * a type left alone. `h` is the SQL of the row's md5 for this column. */
static const char *garbage_expr(struct lb_buf *b, const char *cat, const char *typ,
                                const char *fmt, const char *h)
{
    size_t start = b->len;
    if (strcmp(cat, "S") == 0) {
        lb_buf_printf(b, "('lifeboat:' || %s)::%s", h, fmt);
    } else if (strcmp(cat, "N") == 0 &&
               (strcmp(typ, "int2") == 0 || strcmp(typ, "int4") == 0 ||
                strcmp(typ, "int8") == 0)) {
        lb_buf_printf(b, "((hashtext(%s)::bigint & 1023) %% 1000)::%s", h, fmt);
    } else if (strcmp(cat, "N") == 0 &&
               (strcmp(typ, "numeric") == 0 || strcmp(typ, "float4") == 0 ||
                strcmp(typ, "float8") == 0 || strcmp(typ, "money") == 0)) {
        lb_buf_printf(b, "(((hashtext(%s)::bigint & 1023) %% 1000) / 100.0)::%s", h, fmt);
    } else if (strcmp(cat, "D") == 0) {
        lb_buf_printf(b, "(timestamptz '2000-01-01 00:00:00+00' + (hashtext(%s)::bigint & "
                         "1048575) * interval '1 minute')::%s", h, fmt);
    } else if (strcmp(cat, "T") == 0) {
        lb_buf_printf(b, "((hashtext(%s)::bigint & 1023) * interval '1 second')::%s", h, fmt);
    } else if (strcmp(typ, "bytea") == 0) {
        lb_buf_printf(b, "decode(%s, 'hex')", h);
    } else if (strcmp(typ, "uuid") == 0) {
        lb_buf_printf(b, "(%s)::uuid", h);
    } else if (strcmp(typ, "json") == 0 || strcmp(typ, "jsonb") == 0) {
        lb_buf_printf(b, "to_%s('lifeboat:' || %s)", typ, h);
    } else {
        return NULL;
    }
    return b->data + start;
}

/*
 * Overwrite the non-key columns of `limit` rows of `table` (all rows when
 * limit < 0) with garbage, in one transaction: keys (primary and foreign)
 * stay, so row counts and joins hold and only content fingerprints can
 * tell. Proves every chosen row changed before committing. Pushes the
 * result table { rows, columns, skipped }.
 */
static int damage(lua_State *L, const char *kind, struct l_target *t, const char *table,
                  int64_t limit)
{
    struct lb_script *s = l_fault_checks(L, kind, table);
    struct lb_pg *c;
    struct lb_err e = {0};
    struct lb_pg_result *cols, *r;
    struct lb_buf *pk, *nonkey, *set, *sql;
    const char *quoted;
    char msg[700], limtext[32];
    int64_t before_count = -1, chosen, changed = -1, after_count = -1;
    int ncols = 0, nskipped = 0, colsidx, skippedidx;

    l_target_guard(L, t, kind[0] == 'e' ? "fault.encrypt_table" : "fault.corrupt_rows");
    c = l_target_conn(L, t);
    if (lb_pg_exec_script(c, "BEGIN", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);

    r = new_resbox(L);
    {
        const char *p[1] = {table};
        txq(L, c, "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
                  " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  " WHERE c.oid = to_regclass($1)", 1, p, r);
    }
    if (r->nrows != 1) {
        snprintf(msg, sizeof(msg), "table '%s' does not exist on the target", table);
        tx_fail(L, c, LB_EINVAL, msg);
    }
    lua_pushstring(L, lb_pg_value(r, 0, 0));
    quoted = lua_tostring(L, -1);

    cols = new_resbox(L);
    {
        const char *p[1] = {quoted};
        txq(L, c, COLUMNS_SQL, 1, p, cols);
    }
    pk = new_bufbox(L);
    nonkey = new_bufbox(L);
    set = new_bufbox(L);
    sql = new_bufbox(L);
    lua_newtable(L);
    colsidx = lua_gettop(L);
    lua_newtable(L);
    skippedidx = lua_gettop(L);
    for (int i = 0; i < cols->nrows; i++) {
        const char *name = lb_pg_value(cols, i, 0);
        if (lb_pg_value(cols, i, 6)[0] == 't')
            lb_buf_printf(pk, "%s%s", pk->len ? ", " : "", name);
    }
    if (pk->len == 0) {
        snprintf(msg, sizeof(msg), "fault.%s: table %s has no primary key: the rows it "
                 "changed could not be proven", kind, quoted);
        tx_fail(L, c, LB_EINVAL, msg);
    }
    for (int i = 0; i < cols->nrows; i++) {
        const char *name = lb_pg_value(cols, i, 0);
        struct lb_buf h = {0}, ex = {0};
        const char *expr;
        if (lb_pg_value(cols, i, 4)[0] == 't')
            continue;                       /* a key: counts and joins hold */
        if (lb_pg_value(cols, i, 5)[0] == 't') {
            lua_pushstring(L, name);        /* identity or generated */
            lua_rawseti(L, skippedidx, ++nskipped);
            continue;
        }
        /* md5(kind || ROW(t.key...) || ':' || old value): per row and column */
        lb_buf_printf(&h, "md5('%s' || ROW(", kind);
        for (int j = 0, first = 1; j < cols->nrows; j++)
            if (lb_pg_value(cols, j, 6)[0] == 't') {
                lb_buf_printf(&h, "%st.%s", first ? "" : ", ", lb_pg_value(cols, j, 0));
                first = 0;
            }
        lb_buf_printf(&h, ")::text || ':' || coalesce(t.%s::text, ''))", name);
        expr = garbage_expr(&ex, lb_pg_value(cols, i, 1), lb_pg_value(cols, i, 2),
                            lb_pg_value(cols, i, 3), h.data);
        if (expr) {
            lb_buf_printf(set, "%s%s = %s", set->len ? ", " : "", name, expr);
            lb_buf_printf(nonkey, "%st.%s", nonkey->len ? ", " : "", name);
            lua_pushstring(L, name);
            lua_rawseti(L, colsidx, ++ncols);
        } else {
            lua_pushstring(L, name);
            lua_rawseti(L, skippedidx, ++nskipped);
        }
        lb_buf_free(&h);
        lb_buf_free(&ex);
    }
    if (ncols == 0) {
        snprintf(msg, sizeof(msg), "fault.%s: table %s has no column lifeboat can overwrite "
                 "besides its keys", kind, quoted);
        tx_fail(L, c, LB_EINVAL, msg);
    }

    /* The rows chosen, with the md5 of what they hold now. */
    lb_buf_reset(sql);
    lb_buf_printf(sql, "SELECT count(*) FROM %s", quoted);
    lb_pg_result_free(r);
    txq(L, c, sql->data, 0, NULL, r);
    lb_parse_int64(lb_pg_value(r, 0, 0), &before_count);
    lb_buf_reset(sql);
    lb_buf_printf(sql, "CREATE TEMP TABLE lifeboat_fault_rows ON COMMIT DROP AS"
                       " SELECT %s, md5(ROW(%s)::text) AS lifeboat_h FROM %s AS t",
                  pk->data, nonkey->data, quoted);
    if (limit >= 0) {
        snprintf(limtext, sizeof(limtext), "%lld", (long long)limit);
        lb_buf_printf(sql, " ORDER BY random() LIMIT %s", limtext);
    }
    lb_pg_result_free(r);
    txq(L, c, sql->data, 0, NULL, r);
    chosen = r->affected;
    if (chosen <= 0)
        tx_fail(L, c, LB_EINVAL, "fault did not land: the table has no rows");
    if (s->limits.max_rows >= 0 && chosen > s->limits.max_rows) {
        snprintf(msg, sizeof(msg), "blast radius: fault.%s would change %lld rows, the "
                 "scenario's limits.max_rows is %lld", kind, (long long)chosen,
                 (long long)s->limits.max_rows);
        tx_fail(L, c, LB_EABORT, msg);
    }

    /* Overwrite them, joined on the primary key. */
    lb_buf_reset(sql);
    lb_buf_printf(sql, "UPDATE %s AS t SET %s FROM lifeboat_fault_rows AS b WHERE (", quoted,
                  set->data);
    for (int j = 0, first = 1; j < cols->nrows; j++)
        if (lb_pg_value(cols, j, 6)[0] == 't') {
            lb_buf_printf(sql, "%st.%s", first ? "" : ", ", lb_pg_value(cols, j, 0));
            first = 0;
        }
    lb_buf_adds(sql, ") = (");
    for (int j = 0, first = 1; j < cols->nrows; j++)
        if (lb_pg_value(cols, j, 6)[0] == 't') {
            lb_buf_printf(sql, "%sb.%s", first ? "" : ", ", lb_pg_value(cols, j, 0));
            first = 0;
        }
    lb_buf_adds(sql, ")");
    lb_pg_result_free(r);
    txq(L, c, sql->data, 0, NULL, r);

    /* It landed: every chosen row holds something else now, and the table
     * holds as many rows as before. */
    lb_buf_reset(sql);
    lb_buf_printf(sql, "SELECT count(*) FROM %s AS t JOIN lifeboat_fault_rows AS b USING (%s)"
                       " WHERE md5(ROW(%s)::text) IS DISTINCT FROM b.lifeboat_h",
                  quoted, pk->data, nonkey->data);
    lb_pg_result_free(r);
    txq(L, c, sql->data, 0, NULL, r);
    lb_parse_int64(lb_pg_value(r, 0, 0), &changed);
    lb_buf_reset(sql);
    lb_buf_printf(sql, "SELECT count(*) FROM %s", quoted);
    lb_pg_result_free(r);
    txq(L, c, sql->data, 0, NULL, r);
    lb_parse_int64(lb_pg_value(r, 0, 0), &after_count);
    if (changed != chosen) {
        snprintf(msg, sizeof(msg), "fault did not land: %lld of the %lld rows chosen in %s "
                 "still hold what they held", (long long)(chosen - changed), (long long)chosen,
                 quoted);
        tx_fail(L, c, LB_EINVAL, msg);
    }
    if (after_count != before_count) {
        snprintf(msg, sizeof(msg), "fault.%s changed the row count of %s (%lld → %lld)", kind,
                 quoted, (long long)before_count, (long long)after_count);
        tx_fail(L, c, LB_EINVAL, msg);
    }
    if (lb_pg_exec_script(c, "COMMIT", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);
    metric(L, "fault.rows_affected", (double)changed, "rows");
    metric(L, "fault.columns_overwritten", ncols, "columns");
    logf_run(L, "%s: overwrote %d column(s) of %lld of the %lld rows of %s; keys, row counts "
             "and joins unchanged%s", kind, ncols, (long long)changed, (long long)before_count,
             quoted, nskipped ? " (some columns left alone: see skipped)" : "");
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, changed);
    lua_setfield(L, -2, "rows");
    lua_pushvalue(L, colsidx);
    lua_setfield(L, -2, "columns");
    lua_pushvalue(L, skippedidx);
    lua_setfield(L, -2, "skipped");
    return 1;
}

/* fault.encrypt_table(db, table) -> { rows, columns, skipped } */
static int l_fault_encrypt_table(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    const char *table = luaL_checkstring(L, 2);
    return damage(L, "encrypt_table", t, table, -1);
}

/* fault.corrupt_rows(db, table, { rows = N }) -> { rows, columns, skipped } */
static int l_fault_corrupt_rows(lua_State *L)
{
    static const char *const keys[] = {"rows", NULL};
    struct l_target *t = l_check_target(L, 1);
    const char *table = luaL_checkstring(L, 2);
    lua_Integer n = 10;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        l_check_options(L, 3, "fault.corrupt_rows", keys);
        n = l_opt_int_field(L, 3, "rows", 10);
    }
    if (n < 1)
        return luaL_error(L, "fault.corrupt_rows: rows must be at least 1");
    return damage(L, "corrupt_rows", t, table, (int64_t)n);
}

/* ---- restoring a data directory: in place or into a scratch server -------- */

enum prep_kind { PREP_PITR, PREP_PGBACKREST };

/* What a restore prepares a new data directory from, and how far it
 * replays. */
struct prep {
    enum prep_kind kind;
    const char *what;              /* "restore.pitr", "restore.pgbackrest" */
    const char *layer;             /* the backup's name, or the stanza */
    /* PITR */
    const char *base_backup, *wal_archive;
    /* pgBackRest */
    const char *config, *stanza, *set;
    int repo;
    struct lb_recovery_target target;
    char target_text[96];          /* for logs: "latest", "time 2026-…", ... */
    int64_t snapshot_ms;           /* backup's snapshot time, -1 unknown */
};

/* A shell word in single quotes; 0 when the text holds a quote. */
static int sh_quote(struct lb_buf *b, const char *text)
{
    if (strchr(text, '\'') || strpbrk(text, "\n\r"))
        return 0;
    lb_buf_printf(b, "'%s'", text);
    return 1;
}

/* Prepare data_dir; final_dir is where the server will run from once
 * swapped in (NULL: data_dir itself). */
static int prep_run(const struct prep *p, const char *data_dir, const char *final_dir,
                    const char *const *settings, int64_t deadline, struct lb_tool_run *tr,
                    struct lb_err *e)
{
    if (p->kind == PREP_PITR) {
        struct lb_pitr_opts o = {0};
        const char *all[24];
        char when[48];
        size_t n = 0;
        /* The server applies each setting once, at its last occurrence, and
         * refuses a recovery target set after another one (even to ''):
         * name the real target again last, after the empty ones. */
        for (const char *const *x = settings; x && *x && n < 18; x++)
            all[n++] = *x;
        if (p->target.kind == LB_RECOVERY_TIME) {
            lb_recovery_time_format(p->target.time_ms, when, sizeof(when));
            all[n++] = "recovery_target_time";
            all[n++] = when;
        } else if (p->target.kind == LB_RECOVERY_LSN) {
            all[n++] = "recovery_target_lsn";
            all[n++] = p->target.lsn;
        } else if (p->target.kind == LB_RECOVERY_IMMEDIATE) {
            all[n++] = "recovery_target";
            all[n++] = "immediate";
        }
        all[n] = NULL;
        o.base_backup = p->base_backup;
        o.wal_archive = p->wal_archive;
        o.target = p->target;
        o.data_dir = data_dir;
        o.settings = all;
        o.deadline_ms = deadline;
        return lb_backup_pitr_prepare(&o, tr, e);
    }
    struct lb_pgbackrest_restore_opts o = {0};
    struct lb_buf cmd = {0};
    const char *all[24];
    size_t n = 0;
    int rc;
    for (const char *const *x = settings; x && *x && n < 20; x++)
        all[n++] = *x;
    /* pgBackRest's restore_command names the directory it restored into
     * (--pg1-path): once swapped in, the server runs from final_dir. */
    if (final_dir && strcmp(final_dir, data_dir) != 0) {
        lb_buf_adds(&cmd, "pgbackrest");
        if (p->config) {
            lb_buf_adds(&cmd, " --config=");
            if (!sh_quote(&cmd, p->config))
                goto bad;
        }
        lb_buf_adds(&cmd, " --stanza=");
        if (!sh_quote(&cmd, p->stanza))
            goto bad;
        if (p->repo > 0)
            lb_buf_printf(&cmd, " --repo=%d", p->repo);
        lb_buf_adds(&cmd, " --pg1-path=");
        if (!sh_quote(&cmd, final_dir))
            goto bad;
        lb_buf_adds(&cmd, " archive-get %f \"%p\"");
        all[n++] = "restore_command";
        all[n++] = cmd.data;
    }
    all[n] = NULL;
    o.base.config = p->config;
    o.base.stanza = p->stanza;
    o.base.repo = p->repo;
    o.base.deadline_ms = deadline;
    o.target = p->target;
    o.set = p->set;
    o.data_dir = data_dir;
    o.settings = all;
    rc = lb_backup_pgbackrest_restore(&o, tr, e);
    lb_buf_free(&cmd);
    return rc;
bad:
    lb_buf_free(&cmd);
    return lb_err_set(e, LB_EINVAL, "pgBackRest paths and stanza names with a quote or a "
                      "line break are not supported");
}

/* The recovery target from the options at idx: target_time ("before_incident"
 * or an ISO 8601 UTC time), target_lsn, immediate = true, or (pgBackRest)
 * type = "default" | "time" | "lsn" | "immediate". Nothing: replay all. */
static void parse_target(lua_State *L, int idx, struct prep *p, int with_type)
{
    struct lb_script *s = l_script(L);
    const char *time = l_opt_string_field(L, idx, "target_time", NULL);
    const char *lsn = l_opt_string_field(L, idx, "target_lsn", NULL);
    const char *type = with_type ? l_opt_string_field(L, idx, "type", NULL) : NULL;
    int immediate = l_opt_bool_field(L, idx, "immediate", 0);
    char iso[40];

    memset(&p->target, 0, sizeof(p->target));
    if (type) {
        if (strcmp(type, "default") == 0 && !time && !lsn)
            p->target.kind = LB_RECOVERY_LATEST;
        else if (strcmp(type, "immediate") == 0 && !time && !lsn)
            p->target.kind = LB_RECOVERY_IMMEDIATE;
        else if (strcmp(type, "time") == 0 && time)
            p->target.kind = LB_RECOVERY_TIME;
        else if (strcmp(type, "lsn") == 0 && lsn)
            p->target.kind = LB_RECOVERY_LSN;
        else
            luaL_error(L, "%s: type must be \"default\", \"immediate\", \"time\" (with "
                          "target_time) or \"lsn\" (with target_lsn)", p->what);
    } else if ((time != NULL) + (lsn != NULL) + immediate > 1) {
        luaL_error(L, "%s: give one of target_time, target_lsn and immediate", p->what);
    } else {
        p->target.kind = time ? LB_RECOVERY_TIME : lsn ? LB_RECOVERY_LSN
                         : immediate ? LB_RECOVERY_IMMEDIATE : LB_RECOVERY_LATEST;
    }
    switch (p->target.kind) {
    case LB_RECOVERY_TIME:
        if (strcmp(time, "before_incident") == 0) {
            p->target.time_ms = lb_run_mark_time(s->run, "incident");
            if (p->target.time_ms < 0)
                l_raise(L, LB_ESTATE, "%s: target_time = \"before_incident\" but there is no "
                        "incident yet (no fault step has started)", p->what);
        } else if (lb_wall_parse(time, &p->target.time_ms) < 0) {
            luaL_error(L, "%s: target_time '%s' is neither \"before_incident\" nor an ISO "
                          "8601 UTC time (2026-01-02T03:04:05.678Z)", p->what, time);
        }
        p->target.inclusive = 0;
        lb_wall_format(p->target.time_ms, iso, sizeof(iso));
        snprintf(p->target_text, sizeof(p->target_text), "just before %s%s", iso,
                 strcmp(time, "before_incident") == 0 ? " (the incident)" : "");
        break;
    case LB_RECOVERY_LSN:
        p->target.lsn = lsn;
        snprintf(p->target_text, sizeof(p->target_text), "just before LSN %s", lsn);
        break;
    case LB_RECOVERY_IMMEDIATE:
        snprintf(p->target_text, sizeof(p->target_text), "the end of the backup");
        break;
    case LB_RECOVERY_LATEST:
        snprintf(p->target_text, sizeof(p->target_text), "the end of the archived WAL");
        break;
    }
}

/* The preparation failed: a target the backup cannot reach is a gap of its
 * own (the restore would have brought back the wrong data); then raise. */
static int prep_failed(lua_State *L, const struct prep *p, struct lb_err *e)
{
    char title[600];
    if (e->code == LB_EINVAL && p->target.kind == LB_RECOVERY_TIME) {
        snprintf(title, sizeof(title), "%s: recovery target %s cannot be reached from %s",
                 p->what, p->target_text, p->layer);
        gap(L, "critical", "restore", title, e->msg);
    }
    lb_err_prefix(e, "%s from %s", p->what, p->layer);
    return lb_lua_raise(L, e);
}

/* Wall ms of the newest transaction the restore replayed (measured on the
 * restored data), or -1. */
static int64_t newest_replayed(lua_State *L, struct lb_pg *c)
{
    struct lb_err e = {0};
    char *v = NULL;
    int64_t ms = -1;
    if (lb_pg_scalar(c, "SELECT (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)"
                        "::bigint", 0, NULL, probe_deadline(L, CONNECT_MS), &v, &e) == 0 && v)
        lb_parse_int64(v, &ms);
    free(v);
    return ms;
}

/* Push the result table of a restore. */
static void push_restore_result(lua_State *L, const char *target, int64_t total_ms,
                                int64_t newest_ms, const char *method)
{
    char iso[40];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, target);
    lua_setfield(L, -2, "target");
    lua_pushnumber(L, (lua_Number)total_ms / 1000.0);
    lua_setfield(L, -2, "duration");
    if (newest_ms > 0) {
        lb_wall_format(newest_ms, iso, sizeof(iso));
        lua_pushstring(L, iso);
        lua_setfield(L, -2, "newest_data");
        lua_pushnumber(L, (lua_Number)(lb_wall_ms() - newest_ms) / 1000.0);
        lua_setfield(L, -2, "data_age");
        lua_pushstring(L, method);
        lua_setfield(L, -2, "data_age_from");
    }
}

/*
 * Restore in place of target `name` (handle t or NULL): prove its data
 * directory offline (and the server online when it runs), archive the WAL
 * up to now, prepare the new data directory beside it while the old server
 * still runs, then stop, swap, start, wait for the end of recovery and
 * prove the new server with the online guard. A failure before the swap
 * leaves the target as it was; after it, the old data directory is swapped
 * back and started again if it ran. Pushes the result table.
 */
static int restore_in_place(lua_State *L, struct l_target *t, const char *name,
                            const struct prep *p, int keep_old)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *et = env_target(L, name);
    struct pgbox *box = new_pgbox(L);
    struct lb_tool_run *tr;
    struct strbox *newdir = new_box(L, sizeof(struct strbox), "lifeboat.recover.str",
                                    strbox_gc);
    struct strbox *olddir = new_box(L, sizeof(struct strbox), "lifeboat.recover.str",
                                    strbox_gc);
    struct lb_err e = {0};
    int64_t t0 = lb_mono_ms(), ph, newest;
    int was_running, rc;
    char what[64];

    if (!et->data_dir || !et->start_argv)
        return l_raise(L, LB_EINVAL, "%s: target '%s' must declare data_dir and start (and "
                       "stop) to be restored in place", p->what, name);
    /* The data directory about to be replaced is the pinned cluster's. */
    offline_guard(L, et, p->what);
    was_running = answers(L, et, PROBE_MS, box, &e);
    if (was_running) {
        struct lb_cluster_state st;
        online_guard(L, et, box, p->what);
        memset(&st, 0, sizeof(st));
        if (lb_cluster_state_read(box->c, probe_deadline(L, CONNECT_MS), &st, &e) == 0 &&
            !st.in_recovery) {
            /* The WAL up to the incident must be in the archive. */
            char wal[64] = "";
            ph = lb_mono_ms();
            if (lb_cluster_switch_wal_and_wait_archived(box->c, l_deadline(L), wal,
                                                        sizeof(wal), &e) < 0) {
                lb_err_prefix(&e, "%s: archiving the WAL of target '%s'", p->what, name);
                return lb_lua_raise(L, &e);
            }
            phase(L, "archive-wal", ph, lb_mono_ms());
            logf_run(L, "target '%s': WAL switched and archived up to %s", name, wal);
        }
        lb_pg_close(box->c);
        box->c = NULL;
    } else {
        logf_run(L, "target '%s' does not answer: restoring in place of its stopped server "
                 "(WAL it did not archive is not replayed)", name);
    }

    /* The new data directory, beside the old one, while the old server runs. */
    newdir->p = lb_cluster_sibling_dir(et->data_dir, "restore");
    tr = l_new_tool_run(L);
    ph = lb_mono_ms();
    rc = prep_run(p, newdir->p, et->data_dir, NULL, l_deadline(L), tr, &e);
    snprintf(what, sizeof(what), "%s", p->kind == PREP_PITR ? "pitr.prepare"
                                                            : "pgbackrest.restore");
    record(L, what, tr);
    if (rc < 0)
        return prep_failed(L, p, &e);
    phase(L, p->kind == PREP_PITR ? "copy" : "pgbackrest-restore", ph, lb_mono_ms());
    logf_run(L, "%s: %s prepared in %s, recovering to %s", p->what, p->layer, newdir->p,
             p->target_text);

    if (was_running) {
        ph = lb_mono_ms();
        tr = l_new_tool_run(L);
        rc = lb_cluster_stop(et, "fast", l_deadline(L), tr, &e);
        record(L, "restore.stop", tr);
        if (rc < 0) {
            struct lb_err ignore = {0};
            lb_cluster_remove_dir(et->data_dir, newdir->p, &ignore);
            lb_err_prefix(&e, "%s: stopping target '%s'", p->what, name);
            return lb_lua_raise(L, &e);
        }
        close_handles_to(L, name);
        if (!wait_down(L, et))
            return l_raise(L, LB_ESTATE, "%s: target '%s' still runs after its stop command",
                           p->what, name);
        phase(L, "stop", ph, lb_mono_ms());
    }

    ph = lb_mono_ms();
    if (lb_cluster_swap_data_dir(et, newdir->p, &olddir->p, &e) < 0) {
        struct lb_err ignore = {0};
        lb_cluster_remove_dir(et->data_dir, newdir->p, &ignore);
        if (was_running)
            lb_cluster_start(et, l_deadline(L), NULL, &ignore);
        lb_err_prefix(&e, "%s: swapping the data directory of target '%s'", p->what, name);
        return lb_lua_raise(L, &e);
    }
    phase(L, "swap", ph, lb_mono_ms());

    ph = lb_mono_ms();
    tr = l_new_tool_run(L);
    rc = lb_cluster_start(et, l_deadline(L), tr, &e);
    record(L, "restore.start", tr);
    if (rc == 0) {
        struct lb_cluster_wait_opts w = {0};
        w.conninfo = et->conninfo;
        w.want = LB_CLUSTER_PRIMARY;
        w.data_dir = et->data_dir;
        w.deadline_ms = l_deadline(L);
        rc = lb_cluster_wait(&w, &e);
    }
    if (rc < 0) {
        /* Put the old data directory back as it was. */
        struct lb_err ignore = {0};
        char *failed = NULL;
        lb_cluster_stop(et, "immediate", lb_mono_ms() + 60000, NULL, &ignore);
        if (olddir->p && lb_cluster_swap_data_dir(et, olddir->p, &failed, &ignore) == 0) {
            free(olddir->p);
            olddir->p = NULL;
            if (failed)
                lb_cluster_remove_dir(et->data_dir, failed, &ignore);
            free(failed);
            if (was_running)
                lb_cluster_start(et, lb_mono_ms() + 120000, NULL, &ignore);
        }
        lb_err_prefix(&e, "%s: recovery of target '%s' failed (its old data directory is "
                      "back)", p->what, name);
        return lb_lua_raise(L, &e);
    }
    phase(L, "replay", ph, lb_mono_ms());

    /* The new server is proven like any new connection. */
    ph = lb_mono_ms();
    close_handles_to(L, name);
    if (t) {
        struct lb_pg *c = l_target_conn(L, t);
        newest = newest_replayed(L, c);
    } else {
        et = env_target(L, name);
        if (!answers(L, et, CONNECT_MS, box, &e))
            return lb_lua_raise(L, &e);
        online_guard(L, et, box, p->what);
        newest = newest_replayed(L, box->c);
    }
    phase(L, "verify", ph, lb_mono_ms());

    if (olddir->p && !keep_old) {
        struct lb_err ignore = {0};
        if (lb_cluster_remove_dir(env_target(L, name)->data_dir, olddir->p, &ignore) < 0)
            logf_run(L, "could not remove the old data directory %s: %s", olddir->p,
                     ignore.msg);
    } else if (olddir->p) {
        logf_run(L, "the old data directory of target '%s' is kept in %s", name, olddir->p);
    }

    /* The newest transaction actually restored is the RPO evidence, until
     * a heartbeat measures better. A rollback's restore repairs, it does
     * not measure. */
    if (!s->in_rollback) {
        char method[200];
        if (newest > 0) {
            snprintf(method, sizeof(method), "newest transaction replayed by %s "
                     "(pg_last_xact_replay_timestamp)", p->what);
            lb_run_set_rpo_evidence(s->run, method, newest);
        } else if (p->snapshot_ms > 0) {
            snprintf(method, sizeof(method), "backup snapshot time (%s)", p->layer);
            lb_run_set_rpo_evidence(s->run, method, p->snapshot_ms);
        }
    }
    metric(L, p->kind == PREP_PITR ? "pitr.duration" : "pgbackrest.duration",
           (double)(lb_mono_ms() - t0), "ms");
    logf_run(L, "%s: target '%s' restored from %s to %s in %.1fs", p->what, name, p->layer,
             p->target_text, (double)(lb_mono_ms() - t0) / 1000.0);
    push_restore_result(L, name, lb_mono_ms() - t0, newest > 0 ? newest : p->snapshot_ms,
                        newest > 0 ? "newest transaction replayed" : "backup snapshot time");
    if (olddir->p && keep_old) {
        lua_pushstring(L, olddir->p);
        lua_setfield(L, -2, "old_data_dir");
    }
    return 1;
}

/* ---- scratch restores ------------------------------------------------------ */

enum scratch_kind { SCRATCH_CLUSTER, SCRATCH_DATABASE };

/* A scratch restore to tear down: owned by its box in state.scratch. */
struct scratch {
    enum scratch_kind kind;
    int done;
    char *name;        /* its environment entry ("scratch.<layer>") */
    char *data_dir;    /* cluster: its directory */
    char *beside;      /* cluster: the data_dir it is a sibling of */
    char *source;      /* database: the target whose cluster holds it */
    char *dbname;
};

static void scratch_free_fields(struct scratch *sc)
{
    free(sc->name);
    free(sc->data_dir);
    free(sc->beside);
    free(sc->source);
    free(sc->dbname);
    memset(sc, 0, sizeof(*sc));
    sc->done = 1;
}

/* Last resort when the state closes without the end-of-run teardown: a
 * scratch server is stopped and its directory removed (a scratch database
 * needs a proven connection: only l_recover_close_all drops it). */
static int scratch_gc(lua_State *L)
{
    struct scratch *sc = lua_touserdata(L, 1);
    if (!sc->done && sc->kind == SCRATCH_CLUSTER && sc->data_dir) {
        struct lb_err ignore = {0};
        lb_cluster_stop_dir(sc->data_dir, "immediate", lb_mono_ms() + TEARDOWN_MS, NULL,
                            &ignore);
        lb_cluster_remove_dir(sc->beside, sc->data_dir, &ignore);
    }
    if (!sc->done)
        scratch_free_fields(sc);
    return 0;
}

/* A new scratch box, anchored in state.scratch[name]. */
static struct scratch *new_scratch(lua_State *L, enum scratch_kind kind, const char *name)
{
    struct scratch *sc = lua_newuserdatauv(L, sizeof(*sc), 0);
    memset(sc, 0, sizeof(*sc));
    sc->done = 1;
    if (luaL_newmetatable(L, LB_MT_SCRATCH)) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    sc->kind = kind;
    sc->name = lb_xstrdup(name);
    sc->done = 0;
    push_state(L, "scratch");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 2);
    return sc;
}

static int drop_database(lua_State *L, const struct scratch *sc, struct lb_err *e)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *et = lb_env_target(s->env, sc->source);
    int64_t deadline = lb_mono_ms() + TEARDOWN_MS;
    struct lb_pg *c = NULL;
    char *q = NULL, *sql = NULL;
    int rc;

    if (!et)
        return lb_err_set(e, LB_EINVAL, "target '%s' is gone from the environment",
                          sc->source);
    if (!lb_str_starts(sc->dbname, SCRATCH_DB_PREFIX))
        return lb_err_set(e, LB_ESAFETY, "refusing to drop database %s: not a scratch "
                          "database of lifeboat", sc->dbname);
    rc = lb_pg_connect(et->conninfo, deadline, &c, e);
    if (rc == 0)
        rc = lb_guard_check(c, s->env, et, deadline, NULL, e);
    if (rc == 0 && !(q = lb_pg_quote_ident(c, sc->dbname, 0)))
        rc = lb_err_set(e, LB_EDB, "cannot quote %s", sc->dbname);
    if (rc == 0) {
        sql = lb_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", q);
        rc = lb_pg_query(c, sql, 0, NULL, deadline, NULL, e);
    }
    lb_pg_close(c);
    free(q);
    free(sql);
    return rc;
}

/* Tear a scratch restore down: its handles' connections, its server and
 * directory (or database), its environment entry. A failure is a gap
 * (something was left behind), not an error. */
static void scratch_teardown(lua_State *L, struct scratch *sc)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    int rc = 0;

    if (sc->done)
        return;
    close_handles_to(L, sc->name);
    if (sc->kind == SCRATCH_CLUSTER) {
        struct lb_err ignore = {0};
        lb_cluster_stop_dir(sc->data_dir, "immediate", lb_mono_ms() + TEARDOWN_MS, NULL,
                            &ignore);
        if (lb_file_exists(sc->data_dir))
            rc = lb_cluster_remove_dir(sc->beside, sc->data_dir, &e);
    } else {
        rc = drop_database(L, sc, &e);
    }
    if (!s->run) {
        /* not executing: nothing to record */
    } else if (rc < 0) {
        char title[600];
        snprintf(title, sizeof(title), "scratch restore '%s' was left behind (%s): remove it "
                 "by hand", sc->name, sc->kind == SCRATCH_CLUSTER ? sc->data_dir : sc->dbname);
        gap(L, "major", "cleanup", title, e.msg);
    } else {
        logf_run(L, "scratch restore '%s' torn down (%s)", sc->name,
                 sc->kind == SCRATCH_CLUSTER ? sc->data_dir : sc->dbname);
    }
    lb_env_remove_target(s->env, sc->name);
    scratch_free_fields(sc);
}

void l_recover_close_all(lua_State *L)
{
    struct lb_script *s = l_script(L);
    int top = lua_gettop(L);
    if (!s || !s->env)
        return;
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TTABLE &&
        lua_getfield(L, -1, "scratch") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct scratch *sc = luaL_testudata(L, -1, LB_MT_SCRATCH);
            if (sc)
                scratch_teardown(L, sc);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}

/* A name for the environment entry of a scratch restore of `layer`. */
static void scratch_name(lua_State *L, const char *layer, char *out, size_t outsz)
{
    struct lb_script *s = l_script(L);
    snprintf(out, outsz, SCRATCH_PREFIX "%s", layer);
    for (int i = 2; lb_env_target(s->env, out); i++)
        snprintf(out, outsz, SCRATCH_PREFIX "%s.%d", layer, i);
}

/* A handle on environment target `name`, as target(name) makes it. */
static void push_handle(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "lifeboat.recover.target_fn");
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
}

/*
 * Restore into a scratch server beside `source`'s data directory, on a
 * free port of 127.0.0.1, archiving off (its timeline must never reach the
 * archive or the repository), then prove it with the online guard through
 * a handle on a new environment entry. Pushes the result table with
 * `target` = that handle. Torn down by restore.drop_scratch or at the end
 * of the run.
 */
static int restore_scratch_cluster(lua_State *L, const char *source, const struct prep *p)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *src = env_target(L, source);
    struct lb_tool_run *tr;
    struct scratch *sc;
    struct lb_err e = {0};
    char name[160], port[16], cname[200], *conninfo, *ci2;
    const char *settings[12];
    int64_t t0 = lb_mono_ms(), ph, newest;
    int rc, n = 0, pn = lb_cluster_free_port();

    if (!src->data_dir)
        return l_raise(L, LB_EINVAL, "%s into scratch: target '%s' declares no data_dir to "
                       "put the scratch server beside", p->what, source);
    if (pn < 0)
        return l_raise(L, LB_EIO, "%s into scratch: no free port on 127.0.0.1", p->what);
    scratch_name(L, p->layer, name, sizeof(name));
    snprintf(port, sizeof(port), "%d", pn);
    snprintf(cname, sizeof(cname), "%s-%s", src->cluster_name ? src->cluster_name : src->name,
             name);
    settings[n++] = "port";
    settings[n++] = port;
    settings[n++] = "listen_addresses";
    settings[n++] = "127.0.0.1";
    settings[n++] = "unix_socket_directories";
    settings[n++] = "";
    settings[n++] = "archive_mode";
    settings[n++] = "off";
    settings[n++] = "cluster_name";
    settings[n++] = cname;
    settings[n] = NULL;

    sc = new_scratch(L, SCRATCH_CLUSTER, name);
    sc->beside = lb_xstrdup(src->data_dir);
    sc->data_dir = lb_cluster_sibling_dir(src->data_dir, "scratch");
    tr = l_new_tool_run(L);
    ph = lb_mono_ms();
    rc = prep_run(p, sc->data_dir, NULL, settings, l_deadline(L), tr, &e);
    record(L, p->kind == PREP_PITR ? "pitr.prepare" : "pgbackrest.restore", tr);
    if (rc < 0)
        return prep_failed(L, p, &e);
    phase(L, p->kind == PREP_PITR ? "copy" : "pgbackrest-restore", ph, lb_mono_ms());

    ph = lb_mono_ms();
    tr = l_new_tool_run(L);
    {
        char *log = lb_path_join(sc->data_dir, "lifeboat-scratch.log");
        box_str(L, log);
        rc = lb_cluster_start_dir(sc->data_dir, log, l_deadline(L), tr, &e);
        record(L, "scratch.start", tr);
        conninfo = lb_pg_conninfo_with(src->conninfo, "host", "127.0.0.1");
        ci2 = conninfo ? lb_pg_conninfo_with(conninfo, "port", port) : NULL;
        free(conninfo);
        conninfo = ci2 ? lb_pg_conninfo_with(ci2, "hostaddr", NULL) : NULL;
        free(ci2);
        box_str(L, conninfo);
        if (!conninfo)
            return l_raise(L, LB_EINVAL, "target '%s': its conninfo does not parse", source);
        if (rc == 0) {
            struct lb_cluster_wait_opts w = {0};
            w.conninfo = conninfo;
            w.want = LB_CLUSTER_PRIMARY;
            w.data_dir = sc->data_dir;
            w.log_path = log;
            w.deadline_ms = l_deadline(L);
            rc = lb_cluster_wait(&w, &e);
        }
        if (rc < 0) {
            lb_err_prefix(&e, "%s into scratch: recovery of %s failed", p->what, p->layer);
            return lb_lua_raise(L, &e);
        }
    }
    phase(L, "replay", ph, lb_mono_ms());

    /* Its own environment entry, pinned like its source: same
     * system_identifier and guard marker (a physical copy), its own
     * cluster_name. Pointers into the environment are stale after this. */
    ph = lb_mono_ms();
    lb_env_add_target(s->env, src, name, conninfo, cname, sc->data_dir);
    push_handle(L, name);
    int h = lua_gettop(L);
    newest = newest_replayed(L, l_target_conn(L, l_check_target(L, h)));
    phase(L, "verify", ph, lb_mono_ms());
    const char *method = newest > 0 ? "newest transaction replayed" : "backup snapshot time";
    if (newest <= 0)
        newest = p->snapshot_ms;
    metric(L, p->kind == PREP_PITR ? "pitr.duration" : "pgbackrest.duration",
           (double)(lb_mono_ms() - t0), "ms");
    logf_run(L, "%s: %s restored into scratch server '%s' (127.0.0.1:%s) to %s in %.1fs",
             p->what, p->layer, name, port, p->target_text,
             (double)(lb_mono_ms() - t0) / 1000.0);
    push_restore_result(L, name, lb_mono_ms() - t0, newest, method);
    lua_pushvalue(L, h);
    lua_setfield(L, -2, "target");
    lua_pushinteger(L, pn);
    lua_setfield(L, -2, "port");
    return 1;
}

/* A pg_dump layer into a scratch database on `source`'s cluster (as
 * `lifeboat audit --restore` does), handed back as a handle. */
static int restore_scratch_database(lua_State *L, const char *source,
                                    const struct lb_env_backup *eb, int jobs)
{
    struct lb_script *s = l_script(L);
    const struct lb_env_target *src = env_target(L, source);
    struct pgbox *admin = new_pgbox(L), *db = new_pgbox(L);
    struct lb_pg_result *r = new_resbox(L);
    struct lb_provenance *prov = NULL;
    struct lb_restore_opts ro = {0};
    struct lb_tool_run *tr;
    struct scratch *sc;
    struct lb_err e = {0};
    char name[160], dbname[64], hex[9], *q, *ci;
    uint8_t raw[4];
    int64_t t0 = lb_mono_ms(), ph, snapshot = -1;
    int rc;

    if (!eb->path || !lb_file_exists(eb->path))
        return l_raise(L, LB_EINVAL, "backup '%s': %s does not exist", eb->name,
                       eb->path ? eb->path : "(no path)");
    if (!answers(L, src, CONNECT_MS, admin, &e))
        return lb_lua_raise(L, &e);
    online_guard(L, src, admin, "restore.scratch");
    if (lb_random_bytes(raw, sizeof(raw), &e) < 0)
        return lb_lua_raise(L, &e);
    lb_hex_encode(raw, sizeof(raw), hex);
    snprintf(dbname, sizeof(dbname), SCRATCH_DB_PREFIX "%s", hex);
    scratch_name(L, eb->name, name, sizeof(name));
    q = box_str(L, lb_pg_quote_ident(admin->c, dbname, 0));
    if (!q)
        return l_raise(L, LB_EDB, "cannot quote %s", dbname);
    ph = lb_mono_ms();
    sc = new_scratch(L, SCRATCH_DATABASE, name);
    sc->source = lb_xstrdup(source);
    sc->dbname = lb_xstrdup(dbname);
    lua_pushfstring(L, "CREATE DATABASE %s TEMPLATE template0", q);
    if (lb_pg_query(admin->c, lua_tostring(L, -1), 0, NULL, l_deadline(L), NULL, &e) < 0)
        return lb_lua_raise(L, &e);
    ci = box_str(L, lb_pg_conninfo_with(src->conninfo, "dbname", dbname));
    if (!ci)
        return l_raise(L, LB_EINVAL, "target '%s': its conninfo does not parse", source);
    /* The connection must reach that database of the proven cluster. */
    if (lb_pg_connect(ci, probe_deadline(L, CONNECT_MS), &db->c, &e) < 0)
        return lb_lua_raise(L, &e);
    {
        rc = lb_pg_query(db->c, "SELECT (SELECT system_identifier::text FROM "
                                "pg_catalog.pg_control_system()), current_database()",
                         0, NULL, l_deadline(L), r, &e);
        if (rc < 0)
            return lb_lua_raise(L, &e);
        if (r->nrows != 1 || !lb_pg_value(r, 0, 0) || !lb_pg_value(r, 0, 1) ||
            strcmp(lb_pg_value(r, 0, 0), src->system_identifier) != 0 ||
            strcmp(lb_pg_value(r, 0, 1), dbname) != 0)
            return l_raise(L, LB_ESAFETY, "restore.scratch: the connection to scratch "
                           "database %s did not reach it on target '%s'", dbname, source);
    }
    phase(L, "create", ph, lb_mono_ms());

    ph = lb_mono_ms();
    ro.conninfo = ci;
    ro.archive = eb->path;
    ro.jobs = jobs;
    ro.conn = db->c;
    ro.deadline_ms = l_deadline(L);
    tr = l_new_tool_run(L);
    rc = lb_backup_pg_restore(&ro, tr, &e);
    record(L, "pg_restore", tr);
    if (rc < 0)
        return lb_lua_raise(L, &e);
    phase(L, "pg_restore", ph, lb_mono_ms());
    /* lifeboat's own throw-away database on a proven cluster: it gets the
     * guard marker if the archive did not bring it. */
    lb_pg_result_free(r);
    if (lb_pg_query(db->c, "SELECT to_regclass('public.lifeboat_guard') IS NULL", 0, NULL,
                    l_deadline(L), r, &e) < 0)
        return lb_lua_raise(L, &e);
    if (r->nrows == 1 && lb_pg_value(r, 0, 0)[0] == 't' &&
        lb_guard_install_marker(db->c, s->env->name, src->guard_token, &e) < 0)
        return lb_lua_raise(L, &e);
    lb_pg_close(db->c);
    db->c = NULL;

    if (lb_provenance_read(eb->path, &prov, &e) == 0) {
        snapshot = prov->taken_at;
        lb_provenance_free(prov);
    }
    lb_env_add_target(s->env, src, name, ci, src->cluster_name, NULL);
    push_handle(L, name);
    int h = lua_gettop(L);
    (void)l_target_conn(L, l_check_target(L, h));
    logf_run(L, "restore.scratch: %s restored into scratch database %s ('%s') in %.1fs",
             eb->name, dbname, name, (double)(lb_mono_ms() - t0) / 1000.0);
    push_restore_result(L, name, lb_mono_ms() - t0, snapshot, "backup snapshot time "
                        "(provenance)");
    lua_pushvalue(L, h);
    lua_setfield(L, -2, "target");
    lua_pushstring(L, dbname);
    lua_setfield(L, -2, "database");
    return 1;
}

/* ---- restore.pitr, restore.pgbackrest, restore.scratch --------------------- */

/* The backup handle at opts.from (required). */
static const struct lb_env_backup *from_backup(lua_State *L, int opts, const char *what)
{
    const struct lb_env_backup *eb;
    if (lua_getfield(L, opts, "from") == LUA_TNIL)
        luaL_error(L, "%s: 'from' (a backup) is required", what);
    eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    return eb;
}

/* Fill p for a base backup + WAL archive layer. */
static void prep_pitr(lua_State *L, int opts, const struct lb_env_backup *eb, struct prep *p)
{
    struct lb_provenance *prov = NULL;
    struct lb_err e = {0};
    p->kind = PREP_PITR;
    p->layer = eb->name;
    if (strcmp(eb->kind, "basebackup") != 0 || !eb->path)
        luaL_error(L, "%s: backup '%s' is a %s, not a base backup", p->what, eb->name,
                   eb->kind);
    p->base_backup = eb->path;
    p->wal_archive = l_opt_string_field(L, opts, "wal_archive", eb->wal_archive);
    if (!p->wal_archive)
        luaL_error(L, "%s: backup '%s' declares no wal_archive (or give wal_archive = ...)",
                   p->what, eb->name);
    parse_target(L, opts, p, 1);
    p->snapshot_ms = -1;
    if (lb_provenance_read(eb->path, &prov, &e) == 0) {
        p->snapshot_ms = prov->finished_at > 0 ? prov->finished_at : prov->taken_at;
        lb_provenance_free(prov);
    }
}

/* Fill p for a pgBackRest layer (opts.from) or stanza/repo/config given
 * in the options. */
static void prep_pgbackrest(lua_State *L, int opts, const struct lb_env_backup *eb,
                            struct prep *p)
{
    struct lb_provenance *prov = NULL;
    struct lb_err e = {0};
    p->kind = PREP_PGBACKREST;
    if (eb && strcmp(eb->kind, "pgbackrest") != 0)
        luaL_error(L, "%s: backup '%s' is a %s, not a pgBackRest stanza", p->what, eb->name,
                   eb->kind);
    p->stanza = l_opt_string_field(L, opts, "stanza", eb ? eb->stanza : NULL);
    p->repo = (int)l_opt_int_field(L, opts, "repo", eb ? eb->repo : 0);
    p->config = l_opt_string_field(L, opts, "config", eb ? eb->path : NULL);
    p->set = l_opt_string_field(L, opts, "set", NULL);
    if (!p->stanza)
        luaL_error(L, "%s: no stanza (from = backup \"...\" or stanza = \"...\")", p->what);
    p->layer = eb ? eb->name : p->stanza;
    parse_target(L, opts, p, 1);
    p->snapshot_ms = -1;
    if (p->config) {
        char *pp = lb_pgbackrest_provenance_path(p->config, p->repo > 0 ? p->repo : 1);
        if (pp && lb_file_exists(pp)) {
            /* lb_provenance_read wants the artifact: strip the suffix. */
            size_t n = strlen(pp), suf = strlen(".provenance.json");
            if (n > suf && strcmp(pp + n - suf, ".provenance.json") == 0) {
                pp[n - suf] = '\0';
                if (lb_provenance_read(pp, &prov, &e) == 0) {
                    p->snapshot_ms = prov->finished_at > 0 ? prov->finished_at
                                                           : prov->taken_at;
                    lb_provenance_free(prov);
                }
            }
        }
        free(pp);
    }
}

/* Where a scratch restore goes beside: opts.target (a handle or name),
 * else the layer's declared source. */
static void scratch_source(lua_State *L, int opts, const struct lb_env_backup *eb, char *name,
                           size_t namesz, const char *what)
{
    struct l_target *h;
    lua_getfield(L, opts, "target");
    int given = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (given) {
        target_arg(L, opts, "target", name, namesz, &h);
        return;
    }
    if (!eb || !eb->source)
        luaL_error(L, "%s into scratch: give target = (the server to restore beside)", what);
    snprintf(name, namesz, "%s", env_target(L, eb->source)->name);
}

static int restore_prepared(lua_State *L, int opts, struct prep *p,
                            const struct lb_env_backup *eb)
{
    const char *into = l_opt_string_field(L, opts, "into", NULL);
    int keep_old = l_opt_bool_field(L, opts, "keep_old", 0);
    char name[160];
    struct l_target *t;

    if (into && strcmp(into, "scratch") != 0)
        return luaL_error(L, "%s: into must be \"scratch\" (or absent: in place of target)",
                          p->what);
    if (into) {
        scratch_source(L, opts, eb, name, sizeof(name), p->what);
        return restore_scratch_cluster(L, name, p);
    }
    lua_getfield(L, opts, "target");
    if (lua_isnil(L, -1))
        return luaL_error(L, "%s: 'target' is required (or into = \"scratch\")", p->what);
    lua_pop(L, 1);
    target_arg(L, opts, "target", name, sizeof(name), &t);
    return restore_in_place(L, t, name, p, keep_old);
}

/* restore.pitr{ target, from, target_time | target_lsn | immediate, into, keep_old } -> result */
static int l_restore_pitr(lua_State *L)
{
    static const char *const keys[] = {"target", "from", "wal_archive", "target_time",
                                       "target_lsn", "immediate", "into", "keep_old", NULL};
    struct prep p;
    const struct lb_env_backup *eb;

    l_restore_begin(L, "restore.pitr");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.pitr", keys);
    memset(&p, 0, sizeof(p));
    p.what = "restore.pitr";
    eb = from_backup(L, 1, p.what);
    prep_pitr(L, 1, eb, &p);
    return restore_prepared(L, 1, &p, eb);
}

/* restore.pgbackrest{ target, from | stanza, repo, type, target_time, set, into } -> result */
static int l_restore_pgbackrest(lua_State *L)
{
    static const char *const keys[] = {"target", "from", "stanza", "repo", "config", "type",
                                       "target_time", "target_lsn", "set", "into",
                                       "keep_old", NULL};
    struct prep p;
    const struct lb_env_backup *eb = NULL;

    l_restore_begin(L, "restore.pgbackrest");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.pgbackrest", keys);
    memset(&p, 0, sizeof(p));
    p.what = "restore.pgbackrest";
    lua_getfield(L, 1, "from");
    if (!lua_isnil(L, -1))
        eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    prep_pgbackrest(L, 1, eb, &p);
    return restore_prepared(L, 1, &p, eb);
}

/* restore.scratch{ from, target, type, target_time | target_lsn, jobs } -> { target, ... } */
static int l_restore_scratch(lua_State *L)
{
    static const char *const keys[] = {"from", "target", "target_time", "target_lsn",
                                       "immediate", "type", "jobs", "wal_archive", NULL};
    struct prep p;
    const struct lb_env_backup *eb;
    char name[160];

    l_restore_begin(L, "restore.scratch");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.scratch", keys);
    memset(&p, 0, sizeof(p));
    p.what = "restore.scratch";
    eb = from_backup(L, 1, p.what);
    scratch_source(L, 1, eb, name, sizeof(name), p.what);
    if (strcmp(eb->kind, "pg_dump") == 0) {
        int jobs = (int)l_opt_int_field(L, 1, "jobs", 2);
        if (jobs < 1 || jobs > 64)
            return luaL_error(L, "restore.scratch: jobs must be 1..64");
        return restore_scratch_database(L, name, eb, jobs);
    }
    if (strcmp(eb->kind, "basebackup") == 0)
        prep_pitr(L, 1, eb, &p);
    else if (strcmp(eb->kind, "pgbackrest") == 0)
        prep_pgbackrest(L, 1, eb, &p);
    else
        return luaL_error(L, "restore.scratch: backup '%s' is a %s: lifeboat restores "
                             "pg_dump, basebackup and pgbackrest layers", eb->name, eb->kind);
    return restore_scratch_cluster(L, name, &p);
}

/* restore.drop_scratch(handle | name) */
static int l_restore_drop_scratch(lua_State *L)
{
    struct scratch *sc;
    char name[160];
    l_need_exec(L, "restore.drop_scratch");
    if (lua_type(L, 1) == LUA_TSTRING) {
        snprintf(name, sizeof(name), "%s", lua_tostring(L, 1));
    } else {
        struct l_target *t = l_check_target(L, 1);
        snprintf(name, sizeof(name), "%s", t->name);
    }
    push_state(L, "scratch");
    lua_getfield(L, -1, name);
    sc = luaL_testudata(L, -1, LB_MT_SCRATCH);
    if (!sc || sc->done)
        return luaL_error(L, "restore.drop_scratch: '%s' is not a scratch restore of this run",
                          name);
    scratch_teardown(L, sc);
    return 0;
}

/* ---- restore.promote --------------------------------------------------------- */

static const char EVENTS_SQL[] =
    "CREATE TABLE IF NOT EXISTS " EVENTS_TABLE " ("
    " at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " run_id text, event text, target text)";

static const char EVENT_INSERT_SQL[] =
    "INSERT INTO " EVENTS_TABLE " (run_id, event, target) VALUES ($1, $2, $3)";

/* The replica cannot take over: a critical gap, the step fails, nothing is
 * promoted. */
static int unhealthy(lua_State *L, const char *replica, const char *why)
{
    char title[700];
    /* Names are short; a long reason is cut, never the start of the title. */
    snprintf(title, sizeof(title), "no healthy replica: '%.100s' %.500s", replica, why);
    gap(L, "critical", "recovery", title, "restore.promote checks the replica before "
        "promoting it: reachable and proven by the guard, in recovery, and streaming WAL or "
        "replaying recently; nothing was promoted");
    return l_raise(L, LB_ESTATE, "%s", title);
}

/* Commit one write on the new primary, retrying until it accepts writes or
 * the deadline: the instant a client's write would commit again. Returns
 * the wall ms of the acknowledgement. */
static int64_t first_write(lua_State *L, const struct lb_env_target *et, struct pgbox *box,
                           const char *event)
{
    struct lb_script *s = l_script(L);
    const char *params[3] = {lb_run_id(s->run), event, et->name};
    struct lb_err e = {0};
    int64_t until = l_deadline(L);

    for (;;) {
        if (!box->c || !lb_pg_ok(box->c)) {
            lb_pg_close(box->c);
            box->c = NULL;
            if (answers(L, et, PROBE_MS, box, &e))
                online_guard(L, et, box, "restore.promote");
        }
        if (box->c && lb_pg_query(box->c, EVENTS_SQL, 0, NULL, until, NULL, &e) == 0 &&
            lb_pg_query(box->c, EVENT_INSERT_SQL, 3, params, until, NULL, &e) == 0)
            return lb_wall_ms();
        if (e.code == LB_EINTR || lb_mono_ms() >= until)
            break;
        lb_sleep_ms(100);
    }
    lb_err_prefix(&e, "target '%s' accepts no write after its promotion", et->name);
    return lb_lua_raise(L, &e);
}

/* restore.promote{ replica, switchover, max_lag, routes, recovered } -> { promoted, from, ... } */
static int l_restore_promote(lua_State *L)
{
    static const char *const keys[] = {"replica", "switchover", "max_lag", "routes",
                                       "recovered", NULL};
    struct lb_script *s = l_restore_begin(L, "restore.promote");
    struct l_target *rh;
    const struct lb_env_target *et, *old = NULL;
    struct pgbox *box, *obox;
    struct lb_cluster_state st;
    struct lb_err e = {0};
    char rname[128], oname[128] = "", why[1200], iso[40];
    const char **extra;
    int64_t t0 = lb_mono_ms(), ph, max_lag, incident, lag_ms = -1, acked;
    int switchover, mark, nroutes = 0, routes;

    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.promote", keys);
    if (lua_getfield(L, 1, "replica") == LUA_TNIL)
        return luaL_error(L, "restore.promote: 'replica' (a target handle or name) is required");
    lua_pop(L, 1);
    et = target_arg(L, 1, "replica", rname, sizeof(rname), &rh);
    switchover = l_opt_bool_field(L, 1, "switchover", 0);
    mark = l_opt_bool_field(L, 1, "recovered", 1) && !s->in_rollback;
    max_lag = l_opt_duration_field(L, 1, "max_lag");
    if (max_lag < 0)
        max_lag = DEFAULT_MAX_LAG_MS;
    extra = l_opt_string_array(L, 1, "routes");
    upstream_of(L, et, oname, sizeof(oname));
    if (oname[0])
        old = env_target(L, oname);
    box = new_pgbox(L);
    obox = new_pgbox(L);

    /* Health first: nothing is promoted unless the replica can take over. */
    ph = lb_mono_ms();
    if (!answers(L, et, CONNECT_MS, box, &e)) {
        snprintf(why, sizeof(why), "does not answer (%s)", e.msg);
        return unhealthy(L, rname, why);
    }
    online_guard(L, et, box, "restore.promote");
    memset(&st, 0, sizeof(st));
    if (lb_cluster_state_read(box->c, probe_deadline(L, CONNECT_MS), &st, &e) < 0) {
        snprintf(why, sizeof(why), "cannot be read (%s)", e.msg);
        return unhealthy(L, rname, why);
    }
    if (!st.in_recovery)
        return unhealthy(L, rname, "is not in recovery: it is already a primary");
    incident = lb_run_mark_time(s->run, "incident");
    if (st.replay_age_ms >= 0) {
        /* How far behind it was when the incident began (or now). */
        int64_t last_replay = lb_wall_ms() - st.replay_age_ms;
        lag_ms = incident >= 0 ? incident - last_replay : st.replay_age_ms;
        if (lag_ms < 0)
            lag_ms = 0;
    }
    if (!st.streaming && oname[0]) {
        /* lifeboat stopped the primary itself: the replica lost nothing if
         * it received WAL up to where the primary was (an idle primary
         * commits nothing for the replay time to show). */
        char last[64], *behind = NULL;
        state_get(L, "last_lsn", oname, last, sizeof(last));
        const char *params[2] = {last, st.receive_lsn[0] ? st.receive_lsn : st.replay_lsn};
        if (last[0] && params[1][0] &&
            lb_pg_scalar(box->c, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint",
                         2, params, probe_deadline(L, CONNECT_MS), &behind, &e) == 0 &&
            behind) {
            int64_t bytes = -1;
            lb_parse_int64(behind, &bytes);
            metric(L, "promote.bytes_behind", (double)(bytes > 0 ? bytes : 0), "bytes");
            if (bytes <= 0)
                lag_ms = 0;          /* it had everything the primary wrote */
            logf_run(L, "replica '%s' received WAL up to %s; '%s' was at %s when stopped",
                     rname, params[1], oname, last);
        }
        free(behind);
    }
    if (!st.streaming && (lag_ms < 0 || lag_ms > max_lag)) {
        char d[32], m[32];
        lb_duration_format(lag_ms, d, sizeof(d));
        lb_duration_format(max_lag, m, sizeof(m));
        if (lag_ms < 0)
            snprintf(why, sizeof(why), "streams no WAL and has replayed no transaction "
                     "since it started");
        else
            snprintf(why, sizeof(why), "streams no WAL and had replayed nothing for %s %s "
                     "(max_lag %s)", d, incident >= 0 ? "before the incident" : "", m);
        return unhealthy(L, rname, why);
    }
    phase(L, "health", ph, lb_mono_ms());
    if (lag_ms >= 0)
        metric(L, "promote.replica_lag", (double)lag_ms / 1000.0, "s");
    if (st.replay_lag_bytes >= 0)
        metric(L, "promote.replay_lag_bytes", (double)st.replay_lag_bytes, "bytes");
    logf_run(L, "replica '%s' is healthy: in recovery on timeline %d, %s, replayed %s%s",
             rname, st.timeline, st.streaming ? "streaming" : "not streaming",
             st.replay_lsn[0] ? st.replay_lsn : "?",
             oname[0] ? "" : " (it follows no declared primary)");

    /* Two primaries must never run: the one it follows is down, or this is
     * a switchover that stops it cleanly first. */
    if (old && answers(L, old, PROBE_MS, obox, &e)) {
        struct lb_cluster_state ost;
        memset(&ost, 0, sizeof(ost));
        online_guard(L, old, obox, "restore.promote");
        if (lb_cluster_state_read(obox->c, probe_deadline(L, CONNECT_MS), &ost, &e) < 0)
            return lb_lua_raise(L, &e);
        if (!ost.in_recovery && !switchover)
            return l_raise(L, LB_ESAFETY, "refusing restore.promote: primary '%s' still "
                           "accepts writes, promoting '%s' would make two primaries: fence it "
                           "first (fault.region_loss, fault.stop_server) or ask for a "
                           "switchover (switchover = true)", oname, rname);
        if (!ost.in_recovery) {
            struct lb_tool_run *tr;
            int rc;
            ph = lb_mono_ms();
            if (ost.current_lsn[0] &&
                lb_cluster_wait_replayed(box->c, ost.current_lsn, l_deadline(L), &e) < 0)
                return lb_lua_raise(L, &e);
            lb_pg_close(obox->c);
            obox->c = NULL;
            tr = l_new_tool_run(L);
            rc = lb_cluster_stop(old, "fast", l_deadline(L), tr, &e);
            record(L, "switchover.stop", tr);
            lua_pop(L, 1);
            if (rc < 0)
                return lb_lua_raise(L, &e);
            close_handles_to(L, oname);
            if (!wait_down(L, old))
                return l_raise(L, LB_ESTATE, "switchover: '%s' still answers after its stop",
                               oname);
            phase(L, "switchover", ph, lb_mono_ms());
            logf_run(L, "switchover: '%s' stopped once '%s' had replayed %s", oname, rname,
                     ost.current_lsn);
        }
        lb_pg_close(obox->c);
        obox->c = NULL;
    }

    ph = lb_mono_ms();
    if (lb_cluster_promote(box->c, l_deadline(L), &e) < 0) {
        lb_err_prefix(&e, "promoting '%s'", rname);
        return lb_lua_raise(L, &e);
    }
    phase(L, "promote", ph, lb_mono_ms());

    ph = lb_mono_ms();
    acked = first_write(L, et, box, "promoted");
    phase(L, "first-write", ph, lb_mono_ms());
    if (mark) {
        if (lb_run_mark(s->run, "recovered", &e) < 0)
            return lb_lua_raise(L, &e);
    }

    /* Re-point every route that named the old primary, or that the scenario
     * listed, so later steps and the writers follow the new one. */
    ph = lb_mono_ms();
    lua_newtable(L);
    routes = lua_gettop(L);
    for (size_t i = 0; i < s->env->nroutes; i++) {
        struct lb_env_route *r = &s->env->routes[i];
        int listed = 0;
        for (const char **x = extra; x && *x; x++)
            listed |= strcmp(*x, r->name) == 0;
        if (!listed && !(oname[0] && strcmp(r->target, oname) == 0))
            continue;
        if (strcmp(r->target, rname) == 0)
            continue;
        logf_run(L, "route '%s': %s → %s", r->name, r->target, rname);
        lua_pushstring(L, r->name);
        lb_env_set_route(s->env, lua_tostring(L, -1), rname);
        lua_pushstring(L, rname);
        lua_settable(L, routes);
        close_handles_named(L, s->env->routes[i].name);
        nroutes++;
    }
    state_set(L, "follows", rname, NULL);
    if (oname[0])
        state_set(L, "promoted", oname, rname);
    l_writers_follow_routes(L);
    phase(L, "repoint", ph, lb_mono_ms());

    metric(L, "promote.duration", (double)(lb_mono_ms() - t0), "ms");
    if (incident >= 0 && !s->in_rollback)
        metric(L, "promote.first_write_after_incident", (double)(acked - incident) / 1000.0,
               "s");
    lb_wall_format(acked, iso, sizeof(iso));
    logf_run(L, "'%s' promoted: first write committed at %s; %d route(s) re-pointed", rname,
             iso, nroutes);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, rname);
    lua_setfield(L, -2, "promoted");
    if (oname[0]) {
        lua_pushstring(L, oname);
        lua_setfield(L, -2, "from");
    }
    lua_pushnumber(L, (lua_Number)(lb_mono_ms() - t0) / 1000.0);
    lua_setfield(L, -2, "seconds");
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "first_write");
    lua_pushvalue(L, routes);
    lua_setfield(L, -2, "routes");
    if (lag_ms >= 0) {
        lua_pushnumber(L, (lua_Number)lag_ms / 1000.0);
        lua_setfield(L, -2, "lag");
    }
    return 1;
}

/* ---- restore.command ------------------------------------------------------------ */

/* restore.command{ "prog", "arg", ... | argv, timeout, env } -> { status, output, duration } */
static int l_restore_command(lua_State *L)
{
    l_restore_begin(L, "restore.command");
    return l_exec_run(L, "restore.command", 1);
}

/* ---- restore.rebuild_replica, restore.unfence -------------------------------------- */

/* The value of setting `name` in a data directory's configuration as the
 * server reads it (postgresql.conf, then postgresql.auto.conf; the last
 * assignment wins), unquoted. Caller frees; NULL when unset or unreadable. */
static char *conf_setting(const char *data_dir, const char *name)
{
    static const char *const files[] = {"postgresql.conf", "postgresql.auto.conf"};
    char *found = NULL;
    for (size_t f = 0; f < 2; f++) {
        char *path = lb_path_join(data_dir, files[f]), *text = NULL;
        size_t len = 0;
        struct lb_err e = {0};
        if (lb_file_read(path, &text, &len, &e) == 0) {
            for (char *line = text; line && *line;) {
                char *next = strchr(line, '\n'), *p = line;
                size_t n = strlen(name);
                if (next)
                    *next++ = '\0';
                while (*p == ' ' || *p == '\t')
                    p++;
                if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\t' || p[n] == '=')) {
                    p += n;
                    while (*p == ' ' || *p == '\t')
                        p++;
                    if (*p == '=') {
                        struct lb_buf v = {0};
                        p++;
                        while (*p == ' ' || *p == '\t')
                            p++;
                        if (*p == '\'') {
                            for (p++; *p; p++) {
                                if (*p == '\'' && p[1] == '\'')
                                    lb_buf_addc(&v, *p++);
                                else if (*p == '\'')
                                    break;
                                else
                                    lb_buf_addc(&v, *p);
                            }
                        } else {
                            while (*p && *p != ' ' && *p != '\t' && *p != '#')
                                lb_buf_addc(&v, *p++);
                        }
                        free(found);
                        found = lb_buf_steal(&v);
                    }
                }
                line = next;
            }
        }
        free(text);
        free(path);
    }
    return found;
}

/* A fenced target is unfenced (its declared command) before anything else
 * touches it, then proven offline; when the proof fails it is fenced again
 * and the refusal raised. Returns 1 when it was fenced. */
static int unfence_and_prove(lua_State *L, const char *name, const char *action)
{
    const struct lb_env_target *et = env_target(L, name);
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    int rc;

    if (lb_cluster_is_fenced(et) != 1) {
        offline_guard(L, et, action);
        return 0;
    }
    tr = l_new_tool_run(L);
    rc = lb_cluster_unfence(et, l_deadline(L), tr, &e);
    record(L, "unfence", tr);
    lua_pop(L, 1);
    if (rc < 0) {
        lb_err_prefix(&e, "%s: unfencing target '%s'", action, name);
        return lb_lua_raise(L, &e);
    }
    logf_run(L, "target '%s' unfenced", name);
    /* Proven, or fenced again: a refusal leaves it as it was. */
    {
        char why[1400];
        if (offline_check(l_script(L)->env, et, probe_deadline(L, 60000), why,
                          sizeof(why)) < 0) {
            struct lb_err ignore = {0};
            lb_cluster_fence(et, lb_mono_ms() + 60000, NULL, &ignore);
            return l_raise(L, LB_ESAFETY, "refusing %s: target '%s': %s (fenced again)",
                           action, name, why);
        }
    }
    return 1;
}

/* restore.rebuild_replica{ target, from, slot, keep_old = false } -> { target, from, seconds } */
static int l_restore_rebuild_replica(lua_State *L)
{
    static const char *const keys[] = {"target", "from", "slot", "keep_old", NULL};
    struct lb_script *s = l_restore_begin(L, "restore.rebuild_replica");
    struct l_target *th, *fh;
    const struct lb_env_target *et, *src;
    struct pgbox *box = new_pgbox(L), *sbox = new_pgbox(L);
    struct strbox *newdir = new_box(L, sizeof(struct strbox), "lifeboat.recover.str",
                                    strbox_gc);
    struct strbox *olddir = new_box(L, sizeof(struct strbox), "lifeboat.recover.str",
                                    strbox_gc);
    struct lb_clone_opts co = {0};
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    char tname[128], fname[128], *port;
    int64_t t0 = lb_mono_ms(), ph;
    int keep_old, rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.rebuild_replica", keys);
    if (lua_getfield(L, 1, "target") == LUA_TNIL || lua_getfield(L, 1, "from") == LUA_TNIL)
        return luaL_error(L, "restore.rebuild_replica: 'target' and 'from' are required");
    lua_pop(L, 2);
    et = target_arg(L, 1, "target", tname, sizeof(tname), &th);
    src = target_arg(L, 1, "from", fname, sizeof(fname), &fh);
    keep_old = l_opt_bool_field(L, 1, "keep_old", 0);
    co.slot = l_opt_string_field(L, 1, "slot", NULL);
    if (strcmp(tname, fname) == 0)
        return luaL_error(L, "restore.rebuild_replica: target and from are the same target");
    if (!et->data_dir || !et->start_argv)
        return l_raise(L, LB_EINVAL, "restore.rebuild_replica: target '%s' must declare "
                       "data_dir and start (and stop)", tname);
    /* The service's primary is never rebuilt over. */
    for (size_t i = 0; i < s->env->nroutes; i++)
        if (strcmp(s->env->routes[i].target, tname) == 0)
            return l_raise(L, LB_ESAFETY, "refusing restore.rebuild_replica: route '%s' "
                           "points at target '%s'", s->env->routes[i].name, tname);

    /* The source is proven on its connection. */
    if (!answers(L, src, CONNECT_MS, sbox, &e))
        return lb_lua_raise(L, &e);
    online_guard(L, src, sbox, "restore.rebuild_replica");
    lb_pg_close(sbox->c);
    sbox->c = NULL;

    /* The target: proven online and stopped when it runs; else (fenced or
     * not) proven offline. */
    if (answers(L, et, PROBE_MS, box, &e)) {
        online_guard(L, et, box, "restore.rebuild_replica");
        lb_pg_close(box->c);
        box->c = NULL;
        offline_guard(L, et, "restore.rebuild_replica");
        tr = l_new_tool_run(L);
        rc = lb_cluster_stop(et, "fast", l_deadline(L), tr, &e);
        record(L, "rebuild.stop", tr);
        lua_pop(L, 1);
        if (rc < 0)
            return lb_lua_raise(L, &e);
        close_handles_to(L, tname);
        if (!wait_down(L, et))
            return l_raise(L, LB_ESTATE, "target '%s' still runs after its stop command",
                           tname);
    } else {
        unfence_and_prove(L, tname, "restore.rebuild_replica");
        et = env_target(L, tname);
    }

    ph = lb_mono_ms();
    port = box_str(L, lb_pg_conninfo_get(et->conninfo, "port"));
    co.standby = 1;
    co.port = port ? (int)strtol(port, NULL, 10) : 0;
    co.cluster_name = et->cluster_name;
    /* The copy brings the source's own settings: keep the target's socket
     * directory, and no slot of the source's upstream. */
    {
        const char **settings = lua_newuserdatauv(L, 5 * sizeof(char *), 0);
        char *sockdir = box_str(L, conf_setting(et->data_dir, "unix_socket_directories"));
        int k = 0;
        if (sockdir) {
            settings[k++] = "unix_socket_directories";
            settings[k++] = sockdir;
        }
        if (!co.slot) {
            settings[k++] = "primary_slot_name";
            settings[k++] = "";
        }
        settings[k] = NULL;
        co.settings = settings;
    }
    newdir->p = lb_cluster_sibling_dir(et->data_dir, "clone");
    tr = l_new_tool_run(L);
    rc = lb_cluster_clone(src->conninfo, newdir->p, &co, l_deadline(L), tr, &e);
    record(L, "pg_basebackup", tr);
    if (rc < 0) {
        lb_err_prefix(&e, "restore.rebuild_replica: cloning '%s' for '%s'", fname, tname);
        return lb_lua_raise(L, &e);
    }
    phase(L, "clone", ph, lb_mono_ms());

    ph = lb_mono_ms();
    if (lb_cluster_swap_data_dir(et, newdir->p, &olddir->p, &e) < 0) {
        struct lb_err ignore = {0};
        lb_cluster_remove_dir(et->data_dir, newdir->p, &ignore);
        return lb_lua_raise(L, &e);
    }
    tr = l_new_tool_run(L);
    rc = lb_cluster_start(et, l_deadline(L), tr, &e);
    record(L, "rebuild.start", tr);
    if (rc == 0) {
        struct lb_cluster_wait_opts w = {0};
        w.conninfo = et->conninfo;
        w.want = LB_CLUSTER_STREAMING;
        w.data_dir = et->data_dir;
        w.deadline_ms = l_deadline(L);
        rc = lb_cluster_wait(&w, &e);
    }
    if (rc < 0) {
        lb_err_prefix(&e, "restore.rebuild_replica: '%s' does not stream from '%s' (its old "
                      "data directory is in %s)", tname, fname,
                      olddir->p ? olddir->p : "(none)");
        return lb_lua_raise(L, &e);
    }
    phase(L, "catch-up", ph, lb_mono_ms());

    /* The new standby is proven like any new connection. */
    close_handles_to(L, tname);
    if (!answers(L, et, CONNECT_MS, box, &e))
        return lb_lua_raise(L, &e);
    online_guard(L, et, box, "restore.rebuild_replica");
    if (olddir->p && !keep_old) {
        struct lb_err ignore = {0};
        if (lb_cluster_remove_dir(et->data_dir, olddir->p, &ignore) < 0)
            logf_run(L, "could not remove the old data directory %s: %s", olddir->p,
                     ignore.msg);
    }
    state_set(L, "follows", tname, fname);
    state_set(L, "promoted", tname, NULL);
    metric(L, "rebuild.duration", (double)(lb_mono_ms() - t0), "ms");
    logf_run(L, "target '%s' rebuilt as a streaming replica of '%s' in %.1fs", tname, fname,
             (double)(lb_mono_ms() - t0) / 1000.0);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "target");
    lua_pushstring(L, fname);
    lua_setfield(L, -2, "from");
    lua_pushnumber(L, (lua_Number)(lb_mono_ms() - t0) / 1000.0);
    lua_setfield(L, -2, "seconds");
    return 1;
}

/* restore.unfence{ target, start = true } -> { target, unfenced, started } */
static int l_restore_unfence(lua_State *L)
{
    static const char *const keys[] = {"target", "start", NULL};
    struct l_target *th;
    const struct lb_env_target *et;
    struct pgbox *box = new_pgbox(L);
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    char tname[128], other[128];
    int start, unfenced = 0, started = 0, rc;

    l_restore_begin(L, "restore.unfence");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "restore.unfence", keys);
    if (lua_getfield(L, 1, "target") == LUA_TNIL)
        return luaL_error(L, "restore.unfence: 'target' is required");
    lua_pop(L, 1);
    et = target_arg(L, 1, "target", tname, sizeof(tname), &th);
    start = l_opt_bool_field(L, 1, "start", 1);

    if (answers(L, et, PROBE_MS, box, &e)) {
        online_guard(L, et, box, "restore.unfence");
        logf_run(L, "target '%s' already runs", tname);
    } else {
        /* Starting an old primary that another target took over from would
         * make two primaries: refused before anything is touched. */
        state_get(L, "promoted", tname, other, sizeof(other));
        if (start && other[0])
            return l_raise(L, LB_ESAFETY, "refusing restore.unfence: starting target '%s' "
                           "would make two primaries ('%s' took over from it in this run); "
                           "rebuild it as a replica (restore.rebuild_replica)", tname, other);
        unfenced = unfence_and_prove(L, tname, "restore.unfence");
        et = env_target(L, tname);
        if (start) {
            tr = l_new_tool_run(L);
            rc = lb_cluster_start(et, l_deadline(L), tr, &e);
            record(L, "unfence.start", tr);
            lua_pop(L, 1);
            if (rc < 0)
                return lb_lua_raise(L, &e);
            if (!answers(L, et, CONNECT_MS, box, &e))
                return lb_lua_raise(L, &e);
            online_guard(L, et, box, "restore.unfence");
            close_handles_to(L, tname);
            started = 1;
            logf_run(L, "target '%s' started", tname);
        }
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "target");
    lua_pushboolean(L, unfenced);
    lua_setfield(L, -2, "unfenced");
    lua_pushboolean(L, started);
    lua_setfield(L, -2, "started");
    return 1;
}

/* ---- backupctl.basebackup, backupctl.pgbackrest ------------------------------------ */

/* backupctl.basebackup{ target, to = backup, tar = false } -> provenance */
static int l_backupctl_basebackup(lua_State *L)
{
    static const char *const keys[] = {"target", "to", "tar", NULL};
    struct l_target *t;
    const struct lb_env_backup *eb;
    struct lb_basebackup_opts o = {0};
    struct lb_provenance **prov;
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    char name[128];
    int rc;

    l_need_exec(L, "backupctl.basebackup");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "backupctl.basebackup", keys);
    if (lua_getfield(L, 1, "target") == LUA_TNIL)
        return luaL_error(L, "backupctl.basebackup: 'target' is required");
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "to") == LUA_TNIL)
        return luaL_error(L, "backupctl.basebackup: 'to' (a backup) is required");
    eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    if (strcmp(eb->kind, "basebackup") != 0 || !eb->path)
        return luaL_error(L, "backupctl.basebackup: backup '%s' is a %s, not a base backup",
                          eb->name, eb->kind);
    target_arg(L, 1, "target", name, sizeof(name), &t);
    if (t)
        (void)l_target_conn(L, t);        /* connect and guard before anything runs */
    else
        return luaL_error(L, "backupctl.basebackup: target must be a handle");
    o.conninfo = env_target(L, name)->conninfo;
    o.path = eb->path;
    o.tar = l_opt_bool_field(L, 1, "tar", 0);
    o.deadline_ms = l_deadline(L);
    prov = l_new_provenance_box(L);
    tr = l_new_tool_run(L);
    rc = lb_backup_basebackup(&o, tr, prov, &e);
    record(L, "pg_basebackup", tr);
    if (rc < 0)
        return lb_lua_raise(L, &e);
    logf_run(L, "base backup of target '%s' written to %s", name, eb->path);
    if (*prov)
        l_push_provenance(L, *prov);
    else
        lua_pushnil(L);
    return 1;
}

/* backupctl.pgbackrest{ target, to = backup, type = "full" } -> provenance */
static int l_backupctl_pgbackrest(lua_State *L)
{
    static const char *const keys[] = {"target", "to", "type", NULL};
    struct l_target *t;
    const struct lb_env_backup *eb;
    struct lb_pgbackrest_opts o = {0};
    struct lb_provenance **prov;
    struct lb_tool_run *tr;
    struct lb_err e = {0};
    const char *type;
    char name[128];
    int rc;

    l_need_exec(L, "backupctl.pgbackrest");
    luaL_checktype(L, 1, LUA_TTABLE);
    l_check_options(L, 1, "backupctl.pgbackrest", keys);
    if (lua_getfield(L, 1, "target") == LUA_TNIL)
        return luaL_error(L, "backupctl.pgbackrest: 'target' is required");
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "to") == LUA_TNIL)
        return luaL_error(L, "backupctl.pgbackrest: 'to' (a backup) is required");
    eb = l_check_backup(L, -1);
    lua_pop(L, 1);
    if (strcmp(eb->kind, "pgbackrest") != 0 || !eb->stanza)
        return luaL_error(L, "backupctl.pgbackrest: backup '%s' is a %s, not a pgBackRest "
                             "stanza", eb->name, eb->kind);
    type = l_opt_string_field(L, 1, "type", "full");
    if (strcmp(type, "full") != 0 && strcmp(type, "diff") != 0 && strcmp(type, "incr") != 0)
        return luaL_error(L, "backupctl.pgbackrest: type must be \"full\", \"diff\" or "
                             "\"incr\"");
    target_arg(L, 1, "target", name, sizeof(name), &t);
    if (!t)
        return luaL_error(L, "backupctl.pgbackrest: target must be a handle");
    (void)l_target_conn(L, t);
    o.config = eb->path;
    o.stanza = eb->stanza;
    o.repo = eb->repo;
    o.deadline_ms = l_deadline(L);
    prov = l_new_provenance_box(L);
    tr = l_new_tool_run(L);
    rc = lb_backup_pgbackrest_backup(&o, type, env_target(L, name)->conninfo, tr, prov, &e);
    record(L, "pgbackrest.backup", tr);
    if (rc < 0)
        return lb_lua_raise(L, &e);
    logf_run(L, "pgBackRest %s backup of target '%s' into stanza %s repo %d", type, name,
             eb->stanza, eb->repo);
    if (*prov)
        l_push_provenance(L, *prov);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- backup:info() for base backups and pgBackRest ----------------------------------- */

static int infobox_gc(lua_State *L)
{
    struct lb_pgbackrest_info **i = lua_touserdata(L, 1);
    lb_pgbackrest_info_free(*i);
    *i = NULL;
    return 0;
}

static void push_pgbackrest_backup(lua_State *L, const struct lb_pgbackrest_backup *b)
{
    char iso[40];
    lua_createtable(L, 0, 8);
    lua_pushstring(L, b->label ? b->label : "");
    lua_setfield(L, -2, "label");
    lua_pushstring(L, b->type ? b->type : "");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, b->repo);
    lua_setfield(L, -2, "repo");
    lb_wall_format(b->start_ms, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "started_at");
    lb_wall_format(b->stop_ms, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, "stopped_at");
    lua_pushnumber(L, (lua_Number)(lb_wall_ms() - b->stop_ms) / 1000.0);
    lua_setfield(L, -2, "age");
    if (b->size >= 0) {
        lua_pushinteger(L, b->size);
        lua_setfield(L, -2, "size");
    }
    lua_pushboolean(L, b->error);
    lua_setfield(L, -2, "error");
}

/* backup:info() for a pgBackRest layer: what `pgbackrest info` says of the
 * stanza in the layer's repository, and the provenance of its newest
 * backup. nil and a reason when pgBackRest cannot tell. */
static int pgbackrest_info(lua_State *L, const struct lb_env_backup *eb)
{
    struct lb_script *s = l_script(L);
    struct lb_pgbackrest_opts o = {0};
    struct lb_pgbackrest_info **info;
    const struct lb_pgbackrest_backup *latest;
    struct lb_err e = {0};
    int64_t deadline = lb_mono_ms() + 60000;

    if (s->executing && s->deadline_ms < deadline)
        deadline = s->deadline_ms;
    o.config = eb->path;
    o.stanza = eb->stanza;
    o.repo = eb->repo;
    o.deadline_ms = deadline;
    info = new_box(L, sizeof(*info), "lifeboat.recover.info", infobox_gc);
    if (lb_backup_pgbackrest_info(&o, info, NULL, &e) < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "pgbackrest info of stanza %s: %s", eb->stanza ? eb->stanza : "?",
                        e.msg);
        return 2;
    }
    lua_createtable(L, 0, 8);
    lua_pushstring(L, (*info)->stanza ? (*info)->stanza : "");
    lua_setfield(L, -2, "stanza");
    lua_pushinteger(L, eb->repo);
    lua_setfield(L, -2, "repo");
    lua_pushinteger(L, (*info)->status_code);
    lua_setfield(L, -2, "status_code");
    if ((*info)->status_message) {
        lua_pushstring(L, (*info)->status_message);
        lua_setfield(L, -2, "status");
    }
    if ((*info)->system_identifier) {
        lua_pushstring(L, (*info)->system_identifier);
        lua_setfield(L, -2, "system_identifier");
    }
    lua_createtable(L, (int)(*info)->nbackups, 0);
    int n = 0;
    for (size_t i = 0; i < (*info)->nbackups; i++) {
        if (eb->repo > 0 && (*info)->backups[i].repo != eb->repo)
            continue;
        push_pgbackrest_backup(L, &(*info)->backups[i]);
        lua_rawseti(L, -2, ++n);
    }
    lua_setfield(L, -2, "backups");
    lua_pushboolean(L, n > 0);
    lua_setfield(L, -2, "exists");
    latest = lb_pgbackrest_latest(*info, eb->repo);
    if (latest) {
        push_pgbackrest_backup(L, latest);
        lua_setfield(L, -2, "latest");
        lua_pushinteger(L, latest->stop_ms);
        lua_setfield(L, -2, "taken_at_ms");
        lua_pushnumber(L, (lua_Number)(lb_wall_ms() - latest->stop_ms) / 1000.0);
        lua_setfield(L, -2, "age");
    }
    return 1;
}

/* backup:info() -> info (base backup: + label; pgBackRest: what pgbackrest info says) */
static int l_backup_info_layers(lua_State *L)
{
    const struct lb_env_backup *eb = l_check_backup(L, 1);
    if (strcmp(eb->kind, "pgbackrest") == 0)
        return pgbackrest_info(L, eb);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 2);
    if (strcmp(eb->kind, "basebackup") == 0 && lua_istable(L, -2) && eb->path) {
        struct lb_backup_label bl;
        struct lb_err e = {0};
        if (lb_backup_label_read(eb->path, lb_mono_ms() + 30000, &bl, &e) == 0) {
            char iso[40];
            lua_createtable(L, 0, 4);
            lua_pushstring(L, bl.start_lsn);
            lua_setfield(L, -2, "start_lsn");
            lua_pushstring(L, bl.start_wal);
            lua_setfield(L, -2, "start_wal");
            lua_pushinteger(L, bl.timeline);
            lua_setfield(L, -2, "timeline");
            if (bl.start_ms > 0) {
                lb_wall_format(bl.start_ms, iso, sizeof(iso));
                lua_pushstring(L, iso);
                lua_setfield(L, -2, "start_time");
            }
            lua_setfield(L, -3, "label");
        }
    }
    return 2;
}

/* ---- target:replication() ----------------------------------------------------------- */

/* target:replication() -> { in_recovery, timeline, streaming, upstream, slot, ..., standbys } */
static int l_target_replication(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_cluster_state st;
    struct lb_cluster_standby **sb;
    size_t n = 0;
    struct lb_err e = {0};

    memset(&st, 0, sizeof(st));
    if (lb_cluster_state_read(c, l_deadline(L), &st, &e) < 0)
        return lb_lua_raise(L, &e);
    sb = new_box(L, sizeof(*sb), "lifeboat.recover.standbys", strbox_gc);
    if (!st.in_recovery && lb_cluster_standbys(c, l_deadline(L), sb, &n, &e) < 0)
        return lb_lua_raise(L, &e);
    lua_createtable(L, 0, 10);
    lua_pushboolean(L, st.in_recovery);
    lua_setfield(L, -2, "in_recovery");
    lua_pushinteger(L, st.timeline);
    lua_setfield(L, -2, "timeline");
    if (st.current_lsn[0]) {
        lua_pushstring(L, st.current_lsn);
        lua_setfield(L, -2, "current_lsn");
    }
    if (st.in_recovery) {
        lua_pushboolean(L, st.streaming);
        lua_setfield(L, -2, "streaming");
        if (st.upstream_host[0]) {
            lua_pushfstring(L, "%s:%d", st.upstream_host, st.upstream_port);
            lua_setfield(L, -2, "upstream");
        }
        if (st.slot_name[0]) {
            lua_pushstring(L, st.slot_name);
            lua_setfield(L, -2, "slot");
        }
        lua_pushstring(L, st.receive_lsn);
        lua_setfield(L, -2, "receive_lsn");
        lua_pushstring(L, st.replay_lsn);
        lua_setfield(L, -2, "replay_lsn");
        if (st.replay_lag_bytes >= 0) {
            lua_pushinteger(L, st.replay_lag_bytes);
            lua_setfield(L, -2, "replay_lag_bytes");
        }
        if (st.replay_age_ms >= 0) {
            lua_pushnumber(L, (lua_Number)st.replay_age_ms / 1000.0);
            lua_setfield(L, -2, "replay_age");
        }
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct lb_cluster_standby *x = &(*sb)[i];
        lua_createtable(L, 0, 5);
        lua_pushstring(L, x->application_name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, x->state);
        lua_setfield(L, -2, "state");
        lua_pushstring(L, x->replay_lsn);
        lua_setfield(L, -2, "replay_lsn");
        if (x->lag_bytes >= 0) {
            lua_pushinteger(L, x->lag_bytes);
            lua_setfield(L, -2, "lag_bytes");
        }
        if (x->replay_lag_ms >= 0) {
            lua_pushnumber(L, (lua_Number)x->replay_lag_ms / 1000.0);
            lua_setfield(L, -2, "replay_lag");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "standbys");
    return 1;
}

/* ---- registration ------------------------------------------------------------------- */

/* Add fns to the global module table `name` (created by the lead's luaopen). */
static void add_to_global(lua_State *L, const char *name, const luaL_Reg *fns)
{
    if (lua_getglobal(L, name) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setglobal(L, name);
    }
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

int luaopen_lifeboat_recover(lua_State *L)
{
    static const luaL_Reg fault_fns[] = {
        {"stop_server", l_fault_stop_server},
        {"region_loss", l_fault_region_loss},
        {"encrypt_table", l_fault_encrypt_table},
        {"corrupt_rows", l_fault_corrupt_rows},
        {NULL, NULL},
    };
    static const luaL_Reg restore_fns[] = {
        {"pitr", l_restore_pitr},
        {"pgbackrest", l_restore_pgbackrest},
        {"promote", l_restore_promote},
        {"command", l_restore_command},
        {"rebuild_replica", l_restore_rebuild_replica},
        {"unfence", l_restore_unfence},
        {"scratch", l_restore_scratch},
        {"drop_scratch", l_restore_drop_scratch},
        {NULL, NULL},
    };
    static const luaL_Reg backupctl_fns[] = {
        {"basebackup", l_backupctl_basebackup},
        {"pgbackrest", l_backupctl_pgbackrest},
        {NULL, NULL},
    };

    add_to_global(L, "fault", fault_fns);
    add_to_global(L, "restore", restore_fns);
    add_to_global(L, "backupctl", backupctl_fns);

    /* target(name), kept before a scenario can shadow the global: scratch
     * restores hand back handles made exactly as it makes them. */
    lua_getglobal(L, "target");
    lua_setfield(L, LUA_REGISTRYINDEX, "lifeboat.recover.target_fn");

    /* Methods on existing metatables: target:replication(), and
     * backup:info() wrapped for base backups and pgBackRest. */
    luaL_getmetatable(L, LB_MT_TARGET);
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
        lua_pushcfunction(L, l_target_replication);
        lua_setfield(L, -2, "replication");
    }
    lua_pop(L, 2);
    luaL_getmetatable(L, LB_MT_BACKUP);
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
        lua_getfield(L, -1, "info");
        lua_pushcclosure(L, l_backup_info_layers, 1);
        lua_setfield(L, -2, "info");
    }
    lua_pop(L, 2);
    return 0;
}
