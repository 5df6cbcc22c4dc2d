/*
 * Heartbeat methods of target handles: heartbeat_start, heartbeat_stop,
 * heartbeat_rpo (measured RPO), and the background write load of failover
 * drills: load_start, load_stop. Registered into the target metatable by
 * l_target.c through l_target_heartbeat_methods.
 *
 * Both writers follow the handle's name: when a failover re-points the
 * route a handle was opened on, l_writers_follow_routes hands the new
 * target to every writer that followed it.
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
#include "l_recover.h"
#include "lifeboat/backup.h"
#include "lifeboat/engine.h"
#include "lifeboat/heartbeat.h"
#include "lifeboat/pg.h"

#define LB_MT_HEARTBEAT "lifeboat.heartbeat"
#define HEARTBEATS_KEY "lifeboat.heartbeats"
#define LB_MT_LOAD "lifeboat.load"
#define LOADS_KEY "lifeboat.loads"
#define MIN_INTERVAL_MS 10
#define MAX_INTERVAL_MS 3600000

/* The method the report names when the heartbeat measured the RPO. */
#define METHOD_HEARTBEAT "heartbeat (newest surviving beat in lifeboat_heartbeat)"

struct l_hb_box {
    struct lb_heartbeat *hb;
    int metrics_recorded;       /* heartbeat_stop recorded its counters */
};

struct l_load_box {
    struct lb_load *load;
    int metrics_recorded;
};

static int hb_box_gc(lua_State *L)
{
    struct l_hb_box *box = luaL_checkudata(L, 1, LB_MT_HEARTBEAT);
    lb_heartbeat_free(box->hb);
    box->hb = NULL;
    return 0;
}

static int load_box_gc(lua_State *L)
{
    struct l_load_box *box = luaL_checkudata(L, 1, LB_MT_LOAD);
    lb_load_free(box->load);
    box->load = NULL;
    return 0;
}

/* Push registry[key], a table with weak keys: handle → box. Without
 * `create`, pushes nothing and returns 0 when there is none yet. */
static int push_boxes(lua_State *L, const char *key, int create)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
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
    lua_setfield(L, LUA_REGISTRYINDEX, key);
    return 1;
}

/* The box (metatable mt, in registry[key]) of the handle at idx, or NULL.
 * The registry table keeps it alive as long as the handle is. */
static void *find_in(lua_State *L, int idx, const char *key, const char *mt)
{
    void *box;
    idx = lua_absindex(L, idx);
    if (!push_boxes(L, key, 0))
        return NULL;
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    box = luaL_testudata(L, -1, mt);
    lua_pop(L, 2);
    return box;
}

static struct l_hb_box *find_box(lua_State *L, int idx)
{
    return find_in(L, idx, HEARTBEATS_KEY, LB_MT_HEARTBEAT);
}

/* A new zeroed box of `size` for the handle at idx, anchored in registry[key]. */
static void *new_in(lua_State *L, int idx, const char *key, const char *mt, size_t size,
                    lua_CFunction gc)
{
    void *box;
    idx = lua_absindex(L, idx);
    push_boxes(L, key, 1);
    box = lua_newuserdatauv(L, size, 0);
    memset(box, 0, size);
    if (luaL_newmetatable(L, mt)) {
        lua_pushcfunction(L, gc);
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

static struct l_hb_box *new_box(lua_State *L, int idx)
{
    return new_in(L, idx, HEARTBEATS_KEY, LB_MT_HEARTBEAT, sizeof(struct l_hb_box),
                  hb_box_gc);
}

void l_heartbeat_close(lua_State *L, int idx)
{
    struct l_hb_box *box = find_box(L, idx);
    struct l_load_box *lb = find_in(L, idx, LOADS_KEY, LB_MT_LOAD);
    if (box)
        lb_heartbeat_stop(box->hb);
    if (lb)
        lb_load_stop(lb->load);
}

void l_heartbeat_close_all(lua_State *L)
{
    if (push_boxes(L, HEARTBEATS_KEY, 0)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct l_hb_box *box = luaL_testudata(L, -1, LB_MT_HEARTBEAT);
            if (box)
                lb_heartbeat_stop(box->hb);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (push_boxes(L, LOADS_KEY, 0)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct l_load_box *box = luaL_testudata(L, -1, LB_MT_LOAD);
            if (box)
                lb_load_stop(box->load);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    /* The end of the run: scratch restores go too (l_recover.c). */
    l_recover_close_all(L);
}

void l_writers_follow_routes(lua_State *L)
{
    struct lb_script *s = l_script(L);
    static const char *const keys[] = {HEARTBEATS_KEY, LOADS_KEY};
    char now[128], line[400];

    for (size_t k = 0; k < 2; k++) {
        if (!push_boxes(L, keys[k], 0))
            continue;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct l_target *t = luaL_testudata(L, -2, LB_MT_TARGET);
            struct l_hb_box *hb = luaL_testudata(L, -1, LB_MT_HEARTBEAT);
            struct l_load_box *ld = luaL_testudata(L, -1, LB_MT_LOAD);
            const struct lb_env_target *et;
            lua_pop(L, 1);
            if (!t || t->closed || !t->name || !(et = lb_env_target(s->env, t->name)))
                continue;
            if (hb && hb->hb)
                lb_heartbeat_target_name(hb->hb, now, sizeof(now));
            else if (ld && ld->load)
                lb_load_target_name(ld->load, now, sizeof(now));
            else
                continue;
            if (strcmp(now, et->name) == 0)
                continue;
            if (hb)
                lb_heartbeat_retarget(hb->hb, et, NULL);
            else
                lb_load_retarget(ld->load, et, NULL);
            snprintf(line, sizeof(line), "%s of '%s' follows the route: now on target '%s' "
                     "(was '%s')", hb ? "heartbeat" : "write load", t->name, et->name, now);
            lb_run_log(s->run, line);
        }
        lua_pop(L, 1);
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
        l_check_options(L, 2, "target:heartbeat_start", keys);
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
        l_check_options(L, 2, "target:heartbeat_rpo", keys);
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

/* ---- write load ---------------------------------------------------------- */

/* target:load_start([{ tps = 20 }]) */
static int l_target_load_start(lua_State *L)
{
    static const char *const keys[] = {"tps", NULL};
    struct lb_script *s = l_need_exec(L, "target:load_start");
    struct l_target *t = l_check_target(L, 1);
    struct lb_load_opts o = {0};
    struct l_load_box *box;
    struct lb_err e = {0};
    char line[256];
    double tps = 20;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        l_check_options(L, 2, "target:load_start", keys);
        tps = (double)l_opt_number_field(L, 2, "tps", 20);
    }
    if (!(tps > 0 && tps <= LB_LOAD_MAX_TPS))
        return luaL_error(L, "target:load_start: tps must be above 0 and at most %d",
                          (int)LB_LOAD_MAX_TPS);
    box = find_in(L, 1, LOADS_KEY, LB_MT_LOAD);
    if (box && box->load) {
        struct lb_load_stats st;
        lb_load_stats(box->load, &st);
        if (st.running)
            return luaL_error(L, "target:load_start: a write load is already running on "
                                 "target '%s'", t->name);
    }
    /* It creates a table and writes: the target is proven first. */
    l_target_guard(L, t, "target:load_start");
    o.conn = l_target_conn(L, t);
    o.env = s->env;
    o.target = l_target_env(L, t);
    o.run_id = lb_run_id(s->run);
    o.tps = tps;
    o.deadline_ms = l_deadline(L);
    if (!box)
        box = new_in(L, 1, LOADS_KEY, LB_MT_LOAD, sizeof(struct l_load_box), load_box_gc);
    lb_load_free(box->load);
    box->load = NULL;
    box->metrics_recorded = 0;
    if (lb_load_start(&o, &box->load, &e) < 0) {
        lb_err_prefix(&e, "target '%s'", t->name);
        return lb_lua_raise(L, &e);
    }
    snprintf(line, sizeof(line), "write load on target '%s': %.1f transactions per second "
             "into " LB_LOAD_TABLE, t->name, tps);
    lb_run_log(s->run, line);
    return 0;
}

/* Transactions acknowledged before the incident that the target no longer
 * holds: pushes the count, or nil when it cannot be told. */
static void push_lost(lua_State *L, struct lb_script *s, const struct l_target *t,
                      struct lb_load *load, int64_t *committed_before)
{
    int64_t incident = lb_run_mark_time(s->run, "incident");
    int64_t max_id = -1, surviving = -1;
    char idtext[32];
    const char *params[2] = {lb_run_id(s->run), idtext};
    char *v = NULL;
    struct lb_err e = {0};

    *committed_before = -1;
    if (incident < 0) {
        lua_pushnil(L);
        return;
    }
    *committed_before = lb_load_committed_before(load, incident, &max_id);
    if (*committed_before == 0) {
        lua_pushinteger(L, 0);
        return;
    }
    snprintf(idtext, sizeof(idtext), "%lld", (long long)max_id);
    /* Counted on a connection of its own, proven like any other: a target
     * that cannot be reached leaves the count unknown, it does not fail
     * the stop. */
    {
        const struct lb_env_target *et = lb_env_target(s->env, t->name);
        struct lb_pg *c = NULL;
        int64_t deadline = lb_mono_ms() + 10000;
        if (deadline > l_deadline(L))
            deadline = l_deadline(L);
        int rc = et ? lb_pg_connect(et->conninfo, deadline, &c, &e)
                    : lb_err_set(&e, LB_EINVAL, "target '%s' is not declared", t->name);
        if (rc == 0)
            rc = lb_guard_check(c, s->env, et, deadline, NULL, &e);
        if (rc == 0)
            rc = lb_pg_scalar(c, "SELECT count(*) FROM " LB_LOAD_TABLE
                                 " WHERE run_id = $1 AND id <= $2::bigint",
                              2, params, deadline, &v, &e);
        lb_pg_close(c);
        if (rc < 0 || !v || lb_parse_int64(v, &surviving) < 0) {
            char line[1200];
            snprintf(line, sizeof(line), "load_stop: cannot count the surviving "
                     "transactions: %s", e.msg[0] ? e.msg : "no answer");
            lb_run_log(s->run, line);
            free(v);
            lua_pushnil(L);
            return;
        }
    }
    free(v);
    /* A transaction whose commit was never acknowledged may have survived. */
    lua_pushinteger(L, surviving >= *committed_before ? 0 : *committed_before - surviving);
}

/* target:load_stop() -> { committed, failed, connects, refusals, tps, lost, ... } */
static int l_target_load_stop(lua_State *L)
{
    struct lb_script *s = l_need_exec(L, "target:load_stop");
    struct l_target *t = l_check_target(L, 1);
    struct l_load_box *box = find_in(L, 1, LOADS_KEY, LB_MT_LOAD);
    struct lb_load_stats st;
    struct lb_err e = {0};
    int64_t before;

    if (!box || !box->load)
        return luaL_error(L, "target:load_stop: no write load was started on target '%s'",
                          t->name);
    lb_load_stop(box->load);
    lb_load_stats(box->load, &st);
    lua_createtable(L, 0, 10);
    set_int(L, "committed", st.committed);
    set_int(L, "failed", st.failed);
    set_int(L, "connects", st.connects);
    set_int(L, "refusals", st.refusals);
    lua_pushnumber(L, st.tps);
    lua_setfield(L, -2, "tps");
    if (st.stopped_ms > st.started_ms) {
        lua_pushnumber(L, (lua_Number)st.committed * 1000.0 /
                              (lua_Number)(st.stopped_ms - st.started_ms));
        lua_setfield(L, -2, "achieved_tps");
    }
    if (st.last_error[0]) {
        lua_pushstring(L, st.last_error);
        lua_setfield(L, -2, "last_error");
    }
    push_lost(L, s, t, box->load, &before);
    if (!lua_isnil(L, -1) && !box->metrics_recorded)
        lb_run_metric(s->run, "load.lost_transactions", (double)lua_tointeger(L, -1), NULL,
                      &e);
    lua_setfield(L, -2, "lost");
    if (before >= 0)
        set_int(L, "committed_before_incident", before);
    if (!box->metrics_recorded) {
        box->metrics_recorded = 1;
        lb_run_metric(s->run, "load.committed", (double)st.committed, NULL, &e);
        lb_run_metric(s->run, "load.failed", (double)st.failed, NULL, &e);
    }
    return 1;
}

const luaL_Reg l_target_heartbeat_methods[] = {
    {"heartbeat_start", l_target_heartbeat_start},
    {"heartbeat_stop", l_target_heartbeat_stop},
    {"heartbeat_rpo", l_target_heartbeat_rpo},
    {"load_start", l_target_load_start},
    {"load_stop", l_target_load_stop},
    {NULL, NULL},
};
