/*
 * Heartbeat methods of target handles: heartbeat_start, heartbeat_stop,
 * heartbeat_rpo (measured RPO). Registered into the target metatable by
 * l_target.c through l_target_heartbeat_methods.
 *
 * Each handle's writer lives in a box (userdata owning a struct
 * lb_heartbeat) kept in a registry table with weak keys, keyed by the
 * handle: when the handle is collected, so is the box, and its __gc stops
 * the writer thread. The rule that decides whether the heartbeat is the
 * RPO evidence is lb_heartbeat_judge (heartbeat.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/heartbeat.h"
#include "lifeboat/pg.h"

#define LB_MT_HEARTBEAT "lifeboat.heartbeat"
#define HEARTBEATS_KEY "lifeboat.heartbeats"
#define MIN_INTERVAL_MS 10
#define MAX_INTERVAL_MS 3600000

/* The method the report names when the heartbeat measured the RPO. */
#define METHOD_HEARTBEAT "heartbeat (newest surviving beat in lifeboat_heartbeat)"

struct l_hb_box {
    struct lb_heartbeat *hb;
    int metrics_recorded;       /* heartbeat_stop recorded its counters */
};

static int hb_box_gc(lua_State *L)
{
    struct l_hb_box *box = luaL_checkudata(L, 1, LB_MT_HEARTBEAT);
    lb_heartbeat_free(box->hb);
    box->hb = NULL;
    return 0;
}

/* Push registry[HEARTBEATS_KEY], a table with weak keys: handle → box.
 * Without `create`, pushes nothing and returns 0 when there is none yet. */
static int push_heartbeats(lua_State *L, int create)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, HEARTBEATS_KEY) == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    if (!create)
        return 0;
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, HEARTBEATS_KEY);
    return 1;
}

/* The box of the handle at idx, or NULL. The registry table keeps it alive
 * as long as the handle is. */
static struct l_hb_box *find_box(lua_State *L, int idx)
{
    struct l_hb_box *box;
    idx = lua_absindex(L, idx);
    if (!push_heartbeats(L, 0))
        return NULL;
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    box = luaL_testudata(L, -1, LB_MT_HEARTBEAT);
    lua_pop(L, 2);
    return box;
}

/* A new empty box for the handle at idx, anchored in the registry table. */
static struct l_hb_box *new_box(lua_State *L, int idx)
{
    struct l_hb_box *box;
    idx = lua_absindex(L, idx);
    push_heartbeats(L, 1);
    box = lua_newuserdatauv(L, sizeof(*box), 0);
    memset(box, 0, sizeof(*box));
    if (luaL_newmetatable(L, LB_MT_HEARTBEAT)) {
        lua_pushcfunction(L, hb_box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 2);
    return box;
}

void l_heartbeat_close(lua_State *L, int idx)
{
    struct l_hb_box *box = find_box(L, idx);
    if (box)
        lb_heartbeat_stop(box->hb);
}

void l_heartbeat_close_all(lua_State *L)
{
    if (!push_heartbeats(L, 0))
        return;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        struct l_hb_box *box = luaL_testudata(L, -1, LB_MT_HEARTBEAT);
        if (box)
            lb_heartbeat_stop(box->hb);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void check_keys(lua_State *L, int t, const char *what, const char *const *keys)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = 0;
        lua_pop(L, 1);
        for (const char *const *k = keys; *k; k++)
            if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), *k) == 0)
                ok = 1;
        if (!ok)
            luaL_error(L, "%s: unknown option '%s'", what, luaL_tolstring(L, -1, NULL));
    }
}

static void set_int(lua_State *L, const char *k, int64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* t[k] = ISO text of a wall time in ms (nothing if unknown). */
static void set_time(lua_State *L, const char *k, int64_t ms)
{
    char iso[40];
    if (ms < 0)
        return;
    lb_wall_format(ms, iso, sizeof(iso));
    lua_pushstring(L, iso);
    lua_setfield(L, -2, k);
}

/* target:heartbeat_start([{ interval = "1s" }]) */
static int l_target_heartbeat_start(lua_State *L)
{
    static const char *const keys[] = {"interval", NULL};
    struct lb_script *s = l_need_exec(L, "target:heartbeat_start");
    struct l_target *t = l_check_target(L, 1);
    struct lb_heartbeat_opts o = {0};
    struct l_hb_box *box;
    struct lb_err e = {0};
    char line[256], every[32];
    int64_t interval = -1;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_keys(L, 2, "target:heartbeat_start", keys);
        interval = l_opt_duration_field(L, 2, "interval");
    }
    if (interval < 0)
        interval = LB_HEARTBEAT_DEFAULT_INTERVAL_MS;
    if (interval < MIN_INTERVAL_MS || interval > MAX_INTERVAL_MS)
        return luaL_error(L, "target:heartbeat_start: interval must be between 10ms and 1h");
    box = find_box(L, 1);
    if (box && box->hb) {
        struct lb_heartbeat_stats st;
        lb_heartbeat_stats(box->hb, &st);
        if (st.running)
            return luaL_error(L, "target:heartbeat_start: a heartbeat is already running on "
                                 "target '%s'", t->name);
    }
    /* It creates a table: a write, so the target is proven first. */
    l_target_guard(L, t, "target:heartbeat_start");
    o.conn = l_target_conn(L, t);
    o.env = s->env;
    o.target = l_target_env(L, t);
    o.run_id = lb_run_id(s->run);
    o.interval_ms = interval;
    o.deadline_ms = l_deadline(L);
    if (!box)
        box = new_box(L, 1);
    lb_heartbeat_free(box->hb);        /* a stopped one from earlier in the run */
    box->hb = NULL;
    box->metrics_recorded = 0;
    if (lb_heartbeat_start(&o, &box->hb, &e) < 0) {
        lb_err_prefix(&e, "target '%s'", t->name);
        return lb_lua_raise(L, &e);
    }
    lb_duration_format(interval, every, sizeof(every));
    snprintf(line, sizeof(line), "heartbeat on target '%s': one beat every %s into "
             LB_HEARTBEAT_TABLE, t->name, every);
    lb_run_log(s->run, line);
    return 0;
}

static void push_stats(lua_State *L, const struct lb_heartbeat_stats *st)
{
    lua_createtable(L, 0, 9);
    set_int(L, "beats", st->beats);
    set_int(L, "failures", st->failures);
    set_int(L, "connects", st->connects);
    set_int(L, "refusals", st->refusals);
    lua_pushnumber(L, (lua_Number)st->interval_ms / 1000.0);
    lua_setfield(L, -2, "interval");
    lua_pushboolean(L, st->running);
    lua_setfield(L, -2, "running");
    set_time(L, "first_beat", st->first_beat_us >= 0 ? st->first_beat_us / 1000 : -1);
    set_time(L, "last_beat", st->last_beat_us >= 0 ? st->last_beat_us / 1000 : -1);
    if (st->last_error[0]) {
        lua_pushstring(L, st->last_error);
        lua_setfield(L, -2, "last_error");
    }
}

/* target:heartbeat_stop() -> { beats, failures, connects, refusals, interval, ... } */
static int l_target_heartbeat_stop(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "target:heartbeat_stop");
    struct l_target *t = l_check_target(L, 1);
    struct l_hb_box *box = find_box(L, 1);
    struct lb_heartbeat_stats st;
    struct lb_err e = {0};

    if (!box || !box->hb)
        return luaL_error(L, "target:heartbeat_stop: no heartbeat was started on target '%s'",
                          t->name);
    lb_heartbeat_stop(box->hb);
    lb_heartbeat_stats(box->hb, &st);
    if (!box->metrics_recorded) {
        box->metrics_recorded = 1;
        lb_run_metric(s->run, "heartbeat.beats", (double)st.beats, NULL, &e);
        lb_run_metric(s->run, "heartbeat.failures", (double)st.failures, NULL, &e);
    }
    push_stats(L, &st);
    return 1;
}

static void push_details(lua_State *L, const struct lb_heartbeat_rpo *r,
                         const struct lb_heartbeat_stats *st, const char *method)
{
    lua_createtable(L, 0, 10);
    if (method) {
        lua_pushstring(L, method);
        lua_setfield(L, -2, "method");
    }
    lua_pushstring(L, lb_heartbeat_verdict_name(r->verdict));
    lua_setfield(L, -2, "verdict");
    lua_pushstring(L, r->reason);
    lua_setfield(L, -2, "reason");
    set_time(L, "incident", r->incident_ms);
    set_int(L, "incident_ms", r->incident_ms);
    if (r->newest_ms >= 0) {
        set_time(L, "newest", r->newest_ms);
        set_int(L, "newest_ms", r->newest_ms);
    }
    set_int(L, "beats_lost", r->beats_lost);
    set_int(L, "beats", st->beats);
    set_int(L, "failures", st->failures);
    set_int(L, "clock_offset_ms", st->clock_offset_ms);
}

/* The heartbeat says nothing here: fall back on the restored backup's
 * provenance when the scenario named it. Pushes seconds or nil. */
static void provenance_fallback(lua_State *L, struct lb_script *s, int from_idx,
                                int64_t incident_ms, const char **method)
{
    const struct lb_env_backup *eb;
    struct lb_provenance *p = NULL;
    struct lb_err e = {0};
    char m[256], line[1200];

    if (from_idx == 0) {
        lua_pushnil(L);
        return;
    }
    eb = l_check_backup(L, from_idx);
    if (!eb->path || lb_provenance_read(eb->path, &p, &e) < 0 || p->taken_at <= 0) {
        snprintf(line, sizeof(line), "heartbeat_rpo: backup '%s' has no provenance to fall "
                 "back on: %s", eb->name, e.msg[0] ? e.msg : "no snapshot time");
        lb_run_log(s->run, line);
        lb_provenance_free(p);
        lua_pushnil(L);
        return;
    }
    snprintf(m, sizeof(m), "backup snapshot time (%s provenance of '%s'; the heartbeat "
             "table was not part of the restore)", p->kind ? p->kind : eb->kind, eb->name);
    lb_run_set_rpo_evidence(s->run, m, p->taken_at);
    *method = "backup provenance";
    lua_pushnumber(L, (lua_Number)(incident_ms - p->taken_at) / 1000.0);
    lb_provenance_free(p);
}

/* target:heartbeat_rpo([{ from = backup }]) -> seconds or nil, details */
static int l_target_heartbeat_rpo(lua_State *L)
{
    static const char *const keys[] = {"from", NULL};
    struct lb_script *s = l_need_exec(L, "target:heartbeat_rpo");
    struct l_target *t = l_check_target(L, 1);
    struct l_hb_box *box = find_box(L, 1);
    struct lb_heartbeat_rpo r;
    struct lb_heartbeat_stats st;
    struct lb_err e = {0};
    const char *method = NULL;
    int64_t incident;
    int from_idx = 0, rc;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        check_keys(L, 2, "target:heartbeat_rpo", keys);
        if (lua_getfield(L, 2, "from") != LUA_TNIL) {
            l_check_backup(L, -1);
            from_idx = lua_gettop(L);
        }
    }
    if (!box || !box->hb)
        return l_raise(L, LB_ESTATE, "target:heartbeat_rpo: no heartbeat was started on "
                       "target '%s' in this run (call heartbeat_start before the fault)",
                       t->name);
    incident = lb_run_mark_time(s->run, "incident");
    if (incident < 0)
        return l_raise(L, LB_ESTATE, "target:heartbeat_rpo: no incident yet (no fault step "
                       "has started and nothing called mark(\"incident\"))");

    rc = lb_heartbeat_measure(box->hb, l_target_conn(L, t), incident, l_deadline(L), &r, &e);
    if (rc < 0 && lb_pg_classify(e.sqlstate) == LB_PG_ERR_CONNECTION) {
        /* The server came back since this handle last spoke to it. */
        lb_err_clear(&e);
        rc = lb_heartbeat_measure(box->hb, l_target_conn(L, t), incident, l_deadline(L), &r,
                                  &e);
    }
    if (rc < 0) {
        lb_err_prefix(&e, "target '%s': heartbeat_rpo", t->name);
        return lb_lua_raise(L, &e);
    }
    lb_heartbeat_stats(box->hb, &st);
    lb_run_log(s->run, r.reason);
    switch (r.verdict) {
    case LB_HB_MEASURED:
        lb_run_set_rpo_evidence(s->run, METHOD_HEARTBEAT, r.newest_ms);
        lb_run_metric(s->run, "heartbeat.rpo", (double)r.rpo_ms / 1000.0, "s", &e);
        lb_run_metric(s->run, "heartbeat.beats_lost", (double)r.beats_lost, NULL, &e);
        method = "heartbeat";
        lua_pushnumber(L, (lua_Number)r.rpo_ms / 1000.0);
        break;
    case LB_HB_UNTOUCHED:
        provenance_fallback(L, s, from_idx, incident, &method);
        break;
    case LB_HB_NONE_SURVIVED:
        lb_run_gap(s->run, "major", "rpo", "no heartbeat survived the restore", r.reason, &e);
        lua_pushnil(L);
        break;
    case LB_HB_NO_BEAT_BEFORE:
        lb_run_gap(s->run, "major", "rpo", "the heartbeat committed nothing before the incident",
                   r.reason, &e);
        lua_pushnil(L);
        break;
    }
    push_details(L, &r, &st, method);
    return 2;
}

const luaL_Reg l_target_heartbeat_methods[] = {
    {"heartbeat_start", l_target_heartbeat_start},
    {"heartbeat_stop", l_target_heartbeat_stop},
    {"heartbeat_rpo", l_target_heartbeat_rpo},
    {NULL, NULL},
};
