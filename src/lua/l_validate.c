/*
 * Validation methods of target handles: baseline, compare and
 * foreign_key_violations. Registered into the target metatable by
 * l_target.c through l_target_validate_methods.
 *
 * Everything the C side allocates lives in a userdata box with a __gc
 * before anything that may raise runs, so an error (or a step deadline)
 * in the middle frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"
#include "lifeboat/validate.h"

#define LB_MT_VBOX "lifeboat.validate.box"

/* Default sample keys per foreign key for foreign_key_violations(). */
#define FK_SAMPLES 5

struct l_baseline { struct lb_baseline *b; };

/* What a comparison or a foreign-key check holds until it is pushed. */
struct vbox {
    struct lb_comparison cmp;
    struct lb_findings findings;
    struct lb_fk_report fks;
};

static int baseline_gc(lua_State *L)
{
    struct l_baseline *lb = luaL_checkudata(L, 1, LB_MT_BASELINE);
    lb_baseline_free(lb->b);
    lb->b = NULL;
    return 0;
}

static int vbox_gc(lua_State *L)
{
    struct vbox *x = luaL_checkudata(L, 1, LB_MT_VBOX);
    lb_comparison_free(&x->cmp);
    lb_findings_free(&x->findings);
    lb_fk_report_free(&x->fks);
    return 0;
}

static struct vbox *new_vbox(lua_State *L)
{
    struct vbox *x = lua_newuserdatauv(L, sizeof(*x), 0);
    memset(x, 0, sizeof(*x));
    luaL_setmetatable(L, LB_MT_VBOX);
    return x;
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
    if (strcmp(k, "connections") == 0) {
        lua_pushinteger(L, lb->b->connections);
        return 1;
    }
    if (strcmp(k, "tables") == 0) {
        lua_createtable(L, 0, (int)lb->b->ntables);
        for (size_t i = 0; i < lb->b->ntables; i++) {
            const struct lb_table_fp *f = &lb->b->tables[i];
            const char *detail = lb_table_detail_kind(f);
            lua_createtable(L, 0, 5);
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
            if (detail) {
                lua_pushstring(L, detail);
                lua_setfield(L, -2, "detail");
            }
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

/* Worker connections go through the target's own conninfo. */
static const char *target_conninfo(lua_State *L, struct l_target *t)
{
    return l_target_env(L, t)->conninfo;
}

/* detail = true | false | "rows" | "sketch" | "none" (default true: rows). */
static int opt_detail(lua_State *L, int opts)
{
    int d = LB_DETAIL_ROWS;

    lua_getfield(L, opts, "detail");
    if (lua_isboolean(L, -1)) {
        d = lua_toboolean(L, -1) ? LB_DETAIL_ROWS : LB_DETAIL_NONE;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *v = lua_tostring(L, -1);
        if (strcmp(v, "rows") == 0)
            d = LB_DETAIL_ROWS;
        else if (strcmp(v, "sketch") == 0)
            d = LB_DETAIL_SKETCH;
        else if (strcmp(v, "none") == 0)
            d = LB_DETAIL_NONE;
        else
            luaL_error(L, "baseline: detail must be true, false, \"rows\", \"sketch\" or "
                          "\"none\", not \"%s\"", v);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "baseline: detail must be a boolean or a string");
    }
    lua_pop(L, 1);
    return d;
}

static void take_baseline(lua_State *L, struct l_target *t, int opts,
                          struct l_baseline *box)
{
    struct lb_pg *c = l_target_conn(L, t);
    struct lb_baseline_opts bo = {0};
    struct lb_err e = {0};
    bo.fingerprint = 1;
    bo.detail = LB_DETAIL_ROWS;
    bo.deadline_ms = l_deadline(L);
    bo.conninfo = target_conninfo(L, t);
    bo.parallel = l_script(L)->parallel;
    if (opts && lua_istable(L, opts)) {
        bo.tables = l_opt_string_array(L, opts, "tables");
        bo.fingerprint = l_opt_bool_field(L, opts, "fingerprint", 1);
        bo.detail = opt_detail(L, opts);
        bo.detail_rows = l_opt_int_field(L, opts, "detail_rows", 0);
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

/* Record every finding as a check, and a gap where it has one. */
static void record_findings(lua_State *L, const struct lb_findings *f)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};

    for (size_t i = 0; i < f->n; i++) {
        const struct lb_finding *x = &f->items[i];
        int rc = lb_run_check(s->run, x->check_name, x->ok, x->expected, x->observed, x->table,
                              &e);
        if (rc == 0 && x->severity != LB_SEV_NONE) {
            char detail[512];
            if (x->gap_detail == NULL)
                snprintf(detail, sizeof(detail), "expected %s, observed %s",
                         x->expected ? x->expected : "?", x->observed ? x->observed : "?");
            rc = lb_run_gap(s->run, lb_severity_name(x->severity),
                            x->gap_category ? x->gap_category : "validation",
                            x->gap_title ? x->gap_title : x->check_name,
                            x->gap_detail ? x->gap_detail : detail, &e);
        }
        if (rc < 0)
            lb_lua_raise(L, &e);
    }
}

/* { check, ok, expected, observed } per finding. */
static void push_findings(lua_State *L, const struct lb_findings *f)
{
    lua_createtable(L, (int)f->n, 0);
    for (size_t i = 0; i < f->n; i++) {
        const struct lb_finding *x = &f->items[i];
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
        if (x->gap_title) {
            lua_pushstring(L, x->gap_title);
            lua_setfield(L, -2, "gap");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Array of { constraint, table, references, columns, count, samples, missing }. */
static void push_fks(lua_State *L, const struct lb_fk_report *r)
{
    lua_createtable(L, (int)r->n, 0);
    for (size_t i = 0; i < r->n; i++) {
        const struct lb_fk_violation *v = &r->items[i];
        lua_createtable(L, 0, 8);
        lua_pushstring(L, v->constraint);
        lua_setfield(L, -2, "constraint");
        lua_pushstring(L, v->table);
        lua_setfield(L, -2, "table");
        lua_pushstring(L, v->references);
        lua_setfield(L, -2, "references");
        lua_pushstring(L, v->columns);
        lua_setfield(L, -2, "columns");
        lua_pushinteger(L, v->count);
        lua_setfield(L, -2, "count");
        lua_createtable(L, (int)v->nsamples, 0);
        for (size_t j = 0; j < v->nsamples; j++) {
            lua_pushstring(L, v->samples[j]);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, "samples");
        lua_createtable(L, (int)v->nmissing_refs, 0);
        for (size_t j = 0; j < v->nmissing_refs; j++) {
            lua_pushstring(L, v->missing_refs[j]);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, "missing");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The per-table result of compare: counts, content, where it differs. */
static void push_tables(lua_State *L, const struct lb_baseline *before,
                        const struct lb_baseline *after)
{
    lua_createtable(L, 0, (int)after->ntables);
    for (size_t i = 0; i < after->ntables; i++) {
        const struct lb_table_fp *a = &after->tables[i];
        const struct lb_table_fp *b = lb_baseline_find(before, a->name);
        const struct lb_table_diff *d = a->diff;
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, b ? b->rows : -1);
        lua_setfield(L, -2, "rows_before");
        lua_pushinteger(L, a->rows);
        lua_setfield(L, -2, "rows_after");
        lua_pushboolean(L, b && a->fingerprint && b->fingerprint &&
                               strcmp(a->fingerprint, b->fingerprint) == 0);
        lua_setfield(L, -2, "content_equal");
        if (d) {
            lua_pushinteger(L, d->missing);
            lua_setfield(L, -2, "missing");
            lua_pushinteger(L, d->extra);
            lua_setfield(L, -2, "extra");
            lua_pushinteger(L, d->changed);
            lua_setfield(L, -2, "changed");
            lua_pushboolean(L, d->complete);
            lua_setfield(L, -2, "complete");
            lua_pushstring(L, d->method);
            lua_setfield(L, -2, "localised_by");
            if (d->why) {
                lua_pushstring(L, d->why);
                lua_setfield(L, -2, "why");
            }
            if (d->missing_group) {
                lua_pushstring(L, d->missing_group);
                lua_setfield(L, -2, "missing_group");
            }
            lua_createtable(L, (int)d->nsamples, 0);
            for (size_t j = 0; j < d->nsamples; j++) {
                char kind[2] = {d->samples[j].kind, '\0'};
                lua_createtable(L, 0, 3);
                lua_pushstring(L, kind[0] == 'm' ? "missing" : kind[0] == 'e' ? "extra"
                                                                               : "changed");
                lua_setfield(L, -2, "kind");
                lua_pushstring(L, d->samples[j].key);
                lua_setfield(L, -2, "key");
                if (d->samples[j].group) {
                    lua_pushstring(L, d->samples[j].group);
                    lua_setfield(L, -2, "group");
                }
                lua_rawseti(L, -2, (lua_Integer)j + 1);
            }
            lua_setfield(L, -2, "samples");
        }
        lua_setfield(L, -2, a->name);
    }
}

/* target:baseline([{ tables, fingerprint = true, detail = true|"sketch", detail_rows }])
 * -> baseline */
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

/* target:compare(baseline, [{ tolerance = 0, fingerprint = true, foreign_keys = true,
 *                             samples = 10 }]) -> result */
static int l_target_compare(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    struct l_baseline *before = luaL_checkudata(L, 2, LB_MT_BASELINE);
    struct lb_compare_opts co = {0};
    struct vbox *x;
    struct lb_pg *c;
    struct lb_err e = {0};

    if (!before->b)
        return luaL_argerror(L, 2, "empty baseline");
    co.fingerprint = 1;
    co.foreign_keys = 1;
    if (lua_istable(L, 3)) {
        co.tolerance = l_opt_number_field(L, 3, "tolerance", 0);
        co.fingerprint = l_opt_bool_field(L, 3, "fingerprint", 1);
        co.foreign_keys = l_opt_bool_field(L, 3, "foreign_keys", 1);
        co.samples = (int)l_opt_int_field(L, 3, "samples", LB_VALIDATE_SAMPLES);
        if (co.tolerance < 0 || co.tolerance > 1)
            return luaL_error(L, "compare: tolerance must be between 0 and 1");
        if (co.samples < 1 || co.samples > 1000)
            return luaL_error(L, "compare: samples must be between 1 and 1000");
    }
    c = l_target_conn(L, t);
    co.conninfo = target_conninfo(L, t);
    co.parallel = l_script(L)->parallel;
    co.deadline_ms = l_deadline(L);
    x = new_vbox(L);
    if (lb_validate_compare(c, before->b, &co, &x->cmp, &e) < 0) {
        lb_err_prefix(&e, "target '%s': compare", t->name);
        return lb_lua_raise(L, &e);
    }
    record_stats(L, x->cmp.after, "restored");
    lb_validate_findings(before->b, x->cmp.after, &co, &x->findings);
    if (x->cmp.fks_checked)
        lb_validate_fk_findings(&x->cmp.fks, &x->findings);
    record_findings(L, &x->findings);

    lua_createtable(L, 0, 4);
    push_findings(L, &x->findings);
    lua_setfield(L, -2, "findings");
    lua_pushboolean(L, x->findings.ok);
    lua_setfield(L, -2, "ok");
    push_tables(L, before->b, x->cmp.after);
    lua_setfield(L, -2, "tables");
    if (x->cmp.fks_checked) {
        push_fks(L, &x->cmp.fks);
        lua_setfield(L, -2, "foreign_keys");
    }
    return 1;
}

/* target:foreign_key_violations([{ tables, samples = 5 }]) -> array */
static int l_target_fk_violations(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    struct lb_fk_opts fo = {0};
    struct vbox *x;
    struct lb_pg *c;
    struct lb_err e = {0};

    fo.samples = FK_SAMPLES;
    if (lua_istable(L, 2)) {
        fo.tables = l_opt_string_array(L, 2, "tables");
        fo.samples = (int)l_opt_int_field(L, 2, "samples", FK_SAMPLES);
        if (fo.samples < 0 || fo.samples > 1000)
            return luaL_error(L, "foreign_key_violations: samples must be between 0 and 1000");
    }
    c = l_target_conn(L, t);
    fo.conninfo = target_conninfo(L, t);
    fo.parallel = l_script(L)->parallel;
    fo.deadline_ms = l_deadline(L);
    x = new_vbox(L);
    if (lb_validate_fk_violations(c, &fo, &x->fks, &e) < 0) {
        lb_err_prefix(&e, "target '%s': foreign_key_violations", t->name);
        return lb_lua_raise(L, &e);
    }
    lb_validate_fk_findings(&x->fks, &x->findings);
    record_findings(L, &x->findings);
    push_fks(L, &x->fks);
    return 1;
}

const luaL_Reg l_target_validate_methods[] = {
    {"baseline", l_target_baseline},
    {"compare", l_target_compare},
    {"foreign_key_violations", l_target_fk_violations},
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
    luaL_newmetatable(L, LB_MT_VBOX);
    lua_pushcfunction(L, vbox_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    return 0;
}
