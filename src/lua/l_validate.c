/*
 * Validation methods of target handles: baseline, compare (and, with the
 * validation work, foreign-key checks). Registered into the target
 * metatable by l_target.c through l_target_validate_methods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/validate.h"

struct l_baseline { struct lb_baseline *b; };

static int baseline_gc(lua_State *L)
{
    struct l_baseline *lb = luaL_checkudata(L, 1, LB_MT_BASELINE);
    lb_baseline_free(lb->b);
    lb->b = NULL;
    return 0;
}

/* baseline.tables / baseline.rows / baseline.taken_at as fields */
static int baseline_index(lua_State *L)
{
    struct l_baseline *lb = luaL_checkudata(L, 1, LB_MT_BASELINE);
    const char *k = luaL_checkstring(L, 2);
    if (!lb->b)
        return 0;
    if (strcmp(k, "taken_at") == 0) {
        lua_pushinteger(L, lb->b->taken_at);
        return 1;
    }
    if (strcmp(k, "tables") == 0) {
        lua_createtable(L, 0, (int)lb->b->ntables);
        for (size_t i = 0; i < lb->b->ntables; i++) {
            const struct lb_table_fp *f = &lb->b->tables[i];
            lua_createtable(L, 0, 4);
            lua_pushinteger(L, f->rows);
            lua_setfield(L, -2, "rows");
            if (f->fingerprint) {
                lua_pushstring(L, f->fingerprint);
                lua_setfield(L, -2, "fingerprint");
            }
            if (f->schema_fp) {
                lua_pushstring(L, f->schema_fp);
                lua_setfield(L, -2, "schema");
            }
            lua_pushboolean(L, f->has_pk);
            lua_setfield(L, -2, "has_pk");
            lua_setfield(L, -2, f->name);
        }
        return 1;
    }
    if (strcmp(k, "rows") == 0) {
        int64_t total = 0;
        for (size_t i = 0; i < lb->b->ntables; i++)
            if (lb->b->tables[i].rows > 0)
                total += lb->b->tables[i].rows;
        lua_pushinteger(L, total);
        return 1;
    }
    return 0;
}

static struct l_baseline *new_baseline_box(lua_State *L)
{
    struct l_baseline *lb = lua_newuserdatauv(L, sizeof(*lb), 0);
    lb->b = NULL;
    luaL_setmetatable(L, LB_MT_BASELINE);
    return lb;
}

static void take_baseline(lua_State *L, struct l_target *t, int opts,
                          struct l_baseline *box)
{
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_baseline_opts bo = {0};
    struct lb_err e = {0};
    bo.fingerprint = 1;
    bo.deadline_ms = l_deadline(L);
    if (opts && lua_istable(L, opts)) {
        bo.tables = l_opt_string_array(L, opts, "tables");
        bo.fingerprint = l_opt_bool_field(L, opts, "fingerprint", 1);
    }
    if (lb_validate_baseline(c, &bo, &box->b, &e) < 0) {
        lb_err_prefix(&e, "target '%s': baseline", t->name);
        lb_lua_raise(L, &e);
    }
}

static void record_stats(lua_State *L, const struct lb_baseline *b, const char *phase)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    for (size_t i = 0; i < b->ntables; i++) {
        const struct lb_table_fp *f = &b->tables[i];
        if (lb_run_table_stat(s->run, phase, f->name, f->rows, f->fingerprint, f->schema_fp,
                              &e) < 0)
            lb_lua_raise(L, &e);
    }
}

/* target:baseline([{ tables, fingerprint = true }]) -> baseline */
static int l_target_baseline(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    int opts = lua_istable(L, 2) ? 2 : 0;
    struct l_baseline *box = new_baseline_box(L);
    int bidx = lua_gettop(L);
    take_baseline(L, t, opts, box);
    record_stats(L, box->b, "baseline");
    lua_pushvalue(L, bidx);
    return 1;
}

/* target:compare(baseline, [{ tolerance = 0, fingerprint = true }]) -> result */
static int l_target_compare(lua_State *L)
{
    struct lb_script *s = l_script(L);
    struct l_target *t = l_check_target(L, 1);
    struct l_baseline *before = luaL_checkudata(L, 2, LB_MT_BASELINE);
    struct lb_compare_opts co = {0};
    struct lb_findings *f;
    struct lb_err e = {0};
    int rc = 0;

    if (!before->b)
        return luaL_argerror(L, 2, "empty baseline");
    co.fingerprint = 1;
    if (lua_istable(L, 3)) {
        co.tolerance = l_opt_number_field(L, 3, "tolerance", 0);
        co.fingerprint = l_opt_bool_field(L, 3, "fingerprint", 1);
        if (co.tolerance < 0 || co.tolerance > 1)
            return luaL_error(L, "compare: tolerance must be between 0 and 1");
    }
    /* Same tables as the baseline, fresh. */
    const char **names = lua_newuserdatauv(L, (before->b->ntables + 1) * sizeof(char *), 0);
    for (size_t i = 0; i < before->b->ntables; i++)
        names[i] = before->b->tables[i].name;
    names[before->b->ntables] = NULL;
    struct l_baseline *after = new_baseline_box(L);
    {
        struct lb_pg *c = l_target_conn(L, t);
        struct lb_baseline_opts bo = {0};
        bo.tables = names;
        bo.fingerprint = co.fingerprint;
        bo.deadline_ms = l_deadline(L);
        if (lb_validate_baseline(c, &bo, &after->b, &e) < 0) {
            lb_err_prefix(&e, "target '%s': compare", t->name);
            return lb_lua_raise(L, &e);
        }
    }
    record_stats(L, after->b, "restored");

    f = lua_newuserdatauv(L, sizeof(*f), 0);
    memset(f, 0, sizeof(*f));
    lb_validate_findings(before->b, after->b, &co, f);
    lua_createtable(L, 0, 3);
    lua_createtable(L, (int)f->n, 0);
    for (size_t i = 0; i < f->n && rc == 0; i++) {
        const struct lb_finding *x = &f->items[i];
        rc = lb_run_check(s->run, x->check_name, x->ok, x->expected, x->observed, x->table, &e);
        if (rc == 0 && x->severity != LB_SEV_NONE) {
            char detail[512];
            snprintf(detail, sizeof(detail), "expected %s, observed %s",
                     x->expected ? x->expected : "?", x->observed ? x->observed : "?");
            rc = lb_run_gap(s->run, lb_severity_name(x->severity),
                            x->gap_category ? x->gap_category : "validation",
                            x->gap_title ? x->gap_title : x->check_name, detail, &e);
        }
        lua_createtable(L, 0, 4);
        lua_pushstring(L, x->check_name);
        lua_setfield(L, -2, "check");
        lua_pushboolean(L, x->ok);
        lua_setfield(L, -2, "ok");
        if (x->expected) {
            lua_pushstring(L, x->expected);
            lua_setfield(L, -2, "expected");
        }
        if (x->observed) {
            lua_pushstring(L, x->observed);
            lua_setfield(L, -2, "observed");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "findings");
    lua_pushboolean(L, f->ok);
    lua_setfield(L, -2, "ok");
    lua_createtable(L, 0, (int)after->b->ntables);
    for (size_t i = 0; i < after->b->ntables; i++) {
        const struct lb_table_fp *a = &after->b->tables[i];
        const struct lb_table_fp *b = lb_baseline_find(before->b, a->name);
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, b ? b->rows : -1);
        lua_setfield(L, -2, "rows_before");
        lua_pushinteger(L, a->rows);
        lua_setfield(L, -2, "rows_after");
        lua_pushboolean(L, b && a->fingerprint && b->fingerprint &&
                               strcmp(a->fingerprint, b->fingerprint) == 0);
        lua_setfield(L, -2, "content_equal");
        lua_setfield(L, -2, a->name);
    }
    lua_setfield(L, -2, "tables");
    lb_findings_free(f);
    if (rc < 0)
        return lb_lua_raise(L, &e);
    return 1;
}

const luaL_Reg l_target_validate_methods[] = {
    {"baseline", l_target_baseline},
    {"compare", l_target_compare},
    {NULL, NULL},
};

int luaopen_lifeboat_validate(lua_State *L)
{
    luaL_newmetatable(L, LB_MT_BASELINE);
    lua_pushcfunction(L, baseline_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, baseline_index);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    return 0;
}
