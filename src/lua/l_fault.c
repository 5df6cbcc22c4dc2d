/*
 * fault: the failures a drill injects. Each one checks the blast-radius
 * limits and the safety guard before it touches anything, records what it
 * changed as metrics, and proves it landed: a fault that changed nothing
 * fails its step, since a drill whose fault silently did nothing proves
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/pg.h"

/* "inventory" and "public.inventory" name the same table for the limits. */
static int table_allowed(const struct lb_limits *lim, const char *table)
{
    const char *bare = strrchr(table, '.');
    bare = bare ? bare + 1 : table;
    if (!lim->tables)
        return 1;
    for (char **p = lim->tables; *p; p++) {
        const char *pb = strrchr(*p, '.');
        if (strcmp(*p, table) == 0 || strcmp(pb ? pb + 1 : *p, bare) == 0)
            return 1;
    }
    return 0;
}

static int kind_allowed(const struct lb_limits *lim, const char *kind)
{
    if (!lim->faults)
        return 1;
    for (char **p = lim->faults; *p; p++)
        if (strcmp(*p, kind) == 0)
            return 1;
    return 0;
}

struct lb_script *l_fault_checks(lua_State *L, const char *kind, const char *table)
{
    struct lb_script *s = l_need_exec(L, "fault");
    const char *stepkind = lb_run_current_kind(s->run);

    if (s->in_rollback)
        luaL_error(L, "fault.%s cannot run in a rollback", kind);
    if (!stepkind || strcmp(stepkind, "fault") != 0)
        luaL_error(L, "fault.%s must run inside a step of kind \"fault\" (the first fault "
                      "step starts the incident clock)", kind);
    if (!kind_allowed(&s->limits, kind))
        l_raise(L, LB_EABORT, "blast radius: fault kind '%s' is not in the scenario's "
                              "limits.faults", kind);
    if (table && !table_allowed(&s->limits, table))
        l_raise(L, LB_EABORT, "blast radius: table '%s' is not in the scenario's "
                              "limits.tables", table);
    return s;
}

/* Everything a fault checks before it may touch the target. */
static struct lb_pg *fault_begin(lua_State *L, const char *kind, struct l_target *t,
                                 const char *table)
{
    char action[160];

    l_fault_checks(L, kind, table);
    snprintf(action, sizeof(action), "fault.%s", kind);
    l_target_guard(L, t, action);
    return l_target_conn(L, t);
}

static void check_max_rows(lua_State *L, int64_t rows, const char *what)
{
    struct lb_script *s = l_script(L);
    if (s->limits.max_rows >= 0 && rows > s->limits.max_rows)
        l_raise(L, LB_EABORT, "blast radius: %s would affect %lld rows, the scenario's "
                              "limits.max_rows is %lld", what, (long long)rows,
                (long long)s->limits.max_rows);
}

static void metric(lua_State *L, const char *name, double v, const char *unit)
{
    struct lb_script *s = l_script(L);
    struct lb_err e = {0};
    if (lb_run_metric(s->run, name, v, unit, &e) < 0)
        lb_lua_raise(L, &e);
}

/* Run SQL; on failure roll back the open transaction (if asked) and raise. */
static void q(lua_State *L, struct lb_pg *c, const char *sql, int n, const char *const *p,
              struct lb_pg_result *out, int in_tx)
{
    struct lb_err e = {0};
    if (lb_pg_query(c, sql, n, p, l_deadline(L), out, &e) < 0) {
        if (in_tx) {
            struct lb_err ignore = {0};
            lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 10000, &ignore);
        }
        lb_lua_raise(L, &e);
    }
}

static void rollback_and_raise(lua_State *L, struct lb_pg *c, int code, const char *msg)
{
    struct lb_err ignore = {0};
    lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 10000, &ignore);
    l_raise(L, code, "%s", msg);
}

/* Quoted, schema-qualified name of an existing table, or raise. Pushes the
 * quoted name as a Lua string (kept alive on the stack) and returns it. */
static const char *resolve_table(lua_State *L, struct lb_pg *c, const char *table)
{
    struct lb_pg_result r = {0};
    const char *p[1] = {table};
    char msg[300];
    q(L, c, "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass($1)", 1, p, &r, lb_pg_in_transaction(c));
    if (r.nrows != 1) {
        lb_pg_result_free(&r);
        snprintf(msg, sizeof(msg), "table '%s' does not exist on the target", table);
        if (lb_pg_in_transaction(c))
            rollback_and_raise(L, c, LB_EINVAL, msg);
        l_raise(L, LB_EINVAL, "%s", msg);
    }
    lua_pushstring(L, lb_pg_value(&r, 0, 0));
    lb_pg_result_free(&r);
    return lua_tostring(L, -1);
}

static int64_t count_rows(lua_State *L, struct lb_pg *c, const char *quoted, int in_tx)
{
    struct lb_pg_result r = {0};
    char sql[600];
    int64_t n = -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", quoted);
    q(L, c, sql, 0, NULL, &r, in_tx);
    if (r.nrows == 1)
        lb_parse_int64(lb_pg_value(&r, 0, 0), &n);
    lb_pg_result_free(&r);
    return n;
}

/* Tables reachable from `regclass_text` through foreign keys whose action
 * (on delete / truncate cascade) would follow: pushed as a Lua array of
 * quoted names. */
static const char DEPENDENTS_SQL[] =
    "WITH RECURSIVE dep(oid) AS ("
    "  SELECT to_regclass($1)::oid"
    "  UNION SELECT con.conrelid FROM pg_constraint con JOIN dep ON con.confrelid = dep.oid"
    "  WHERE con.contype = 'f' AND ($2 = 'all' OR con.confdeltype = 'c'))"
    " SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM dep"
    " JOIN pg_class c ON c.oid = dep.oid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE dep.oid <> to_regclass($1)::oid ORDER BY 1";

static int push_dependents(lua_State *L, struct lb_pg *c, const char *table, const char *mode,
                           int in_tx)
{
    struct lb_pg_result r = {0};
    const char *p[2] = {table, mode};
    q(L, c, DEPENDENTS_SQL, 2, p, &r, in_tx);
    lua_createtable(L, r.nrows, 0);
    for (int i = 0; i < r.nrows; i++) {
        lua_pushstring(L, lb_pg_value(&r, i, 0));
        lua_rawseti(L, -2, i + 1);
    }
    int n = r.nrows;
    lb_pg_result_free(&r);
    return n;
}

static void log_notices(lua_State *L, struct lb_pg *c)
{
    struct lb_script *s = l_script(L);
    char *notices = lb_pg_take_notices(c);
    if (notices) {
        lb_run_step_output(s->run, notices);
        free(notices);
    }
}

/* fault.drop_table(db, table, { cascade = false }) -> { rows, objects } */
static int l_fault_drop_table(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    const char *table = luaL_checkstring(L, 2);
    int cascade = lua_istable(L, 3) ? l_opt_bool_field(L, 3, "cascade", 0) : 0;
    struct lb_pg *c = fault_begin(L, "drop_table", t, table);
    char sql[700], msg[512];
    struct lb_pg_result r = {0};
    int64_t rows;
    int objects = 1;

    free(lb_pg_take_notices(c));
    const char *quoted = resolve_table(L, c, table);
    rows = count_rows(L, c, quoted, 0);
    check_max_rows(L, rows, "fault.drop_table");
    snprintf(sql, sizeof(sql), "DROP TABLE %s%s", quoted, cascade ? " CASCADE" : "");
    q(L, c, sql, 0, NULL, &r, 0);
    lb_pg_result_free(&r);

    char *notices = lb_pg_take_notices(c);
    if (notices) {
        /* "drop cascades to constraint x on table y": one object per line */
        static const char tag[] = "drop cascades to ";
        for (const char *p = notices; (p = strstr(p, tag)); p++)
            if (p[sizeof(tag) - 1] < '0' || p[sizeof(tag) - 1] > '9')
                objects++;   /* not the "N other objects" summary line */
        lb_run_step_output(l_script(L)->run, notices);
        free(notices);
    }
    {
        const char *p[1] = {quoted};
        char *still = NULL;
        struct lb_err e = {0};
        if (lb_pg_scalar(c, "SELECT to_regclass($1) IS NOT NULL", 1, p, l_deadline(L), &still,
                         &e) < 0)
            return lb_lua_raise(L, &e);
        int landed = still && still[0] == 'f';
        free(still);
        if (!landed)
            return l_raise(L, LB_EINVAL, "fault did not land: table %s still exists", quoted);
    }
    metric(L, "fault.rows_affected", (double)rows, "rows");
    metric(L, "fault.objects_dropped", objects, "objects");
    snprintf(msg, sizeof(msg), "dropped %s (%lld rows, %d objects)", quoted, (long long)rows,
             objects);
    lb_run_log(l_script(L)->run, msg);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, rows);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, objects);
    lua_setfield(L, -2, "objects");
    return 1;
}

/* fault.truncate(db, table, { cascade = false }) -> { rows, tables } */
static int l_fault_truncate(lua_State *L)
{
    struct l_target *t = l_check_target(L, 1);
    const char *table = luaL_checkstring(L, 2);
    int cascade = lua_istable(L, 3) ? l_opt_bool_field(L, 3, "cascade", 0) : 0;
    struct lb_pg *c = fault_begin(L, "truncate", t, table);
    struct lb_err e = {0};
    struct lb_pg_result r = {0};
    char sql[700], msg[512];
    int64_t total = 0;

    if (lb_pg_exec_script(c, "BEGIN", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);
    const char *quoted = resolve_table(L, c, table);
    int qidx = lua_gettop(L);
    int ndep = cascade ? push_dependents(L, c, table, "all", 1) : (lua_newtable(L), 0);
    int deps = lua_gettop(L);
    /* every table the truncate will empty: the named one and, with cascade,
     * every table referencing it */
    lua_pushvalue(L, qidx);
    lua_rawseti(L, deps, ndep + 1);
    for (int i = 1; i <= ndep + 1; i++) {
        lua_rawgeti(L, deps, i);
        total += count_rows(L, c, lua_tostring(L, -1), 1);
        lua_pop(L, 1);
    }
    {
        struct lb_script *s = l_script(L);
        if (s->limits.max_rows >= 0 && total > s->limits.max_rows) {
            snprintf(msg, sizeof(msg), "blast radius: fault.truncate would affect %lld rows, "
                     "the scenario's limits.max_rows is %lld", (long long)total,
                     (long long)s->limits.max_rows);
            rollback_and_raise(L, c, LB_EABORT, msg);
        }
    }
    snprintf(sql, sizeof(sql), "TRUNCATE %s%s", quoted, cascade ? " CASCADE" : "");
    q(L, c, sql, 0, NULL, &r, 1);
    lb_pg_result_free(&r);
    for (int i = 1; i <= ndep + 1; i++) {
        lua_rawgeti(L, deps, i);
        if (count_rows(L, c, lua_tostring(L, -1), 1) != 0) {
            snprintf(msg, sizeof(msg), "fault did not land: %s still has rows after TRUNCATE",
                     lua_tostring(L, -1));
            rollback_and_raise(L, c, LB_EINVAL, msg);
        }
        lua_pop(L, 1);
    }
    if (total == 0)
        rollback_and_raise(L, c, LB_EINVAL,
                           "fault did not land: the tables were already empty");
    if (lb_pg_exec_script(c, "COMMIT", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);
    log_notices(L, c);
    metric(L, "fault.rows_affected", (double)total, "rows");
    metric(L, "fault.tables_truncated", ndep + 1, "tables");
    snprintf(msg, sizeof(msg), "truncated %s and %d dependent table(s): %lld rows", quoted,
             ndep, (long long)total);
    lb_run_log(l_script(L)->run, msg);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, total);
    lua_setfield(L, -2, "rows");
    lua_pushvalue(L, deps);
    lua_setfield(L, -2, "tables");
    return 1;
}

/* fault.delete_where(db, table, where_sql, ...params) -> { rows, cascaded } */
static int l_fault_delete_where(lua_State *L)
{
    int last = lua_gettop(L);
    struct l_target *t = l_check_target(L, 1);
    const char *table = luaL_checkstring(L, 2);
    const char *where = luaL_checkstring(L, 3);
    struct lb_pg *c = fault_begin(L, "delete_where", t, table);
    struct lb_err e = {0};
    struct lb_pg_result *r;
    struct lb_buf sql = {0};
    char msg[600];
    int nparams = last > 3 ? last - 3 : 0;
    int64_t direct, cascaded = 0;

    const char **params = lua_newuserdatauv(L, (size_t)(nparams ? nparams : 1) * sizeof(char *),
                                            0);
    for (int i = 0; i < nparams; i++) {
        int idx = 4 + i;
        if (lua_isnil(L, idx)) {
            params[i] = NULL;
        } else if (lua_isboolean(L, idx)) {
            params[i] = lua_toboolean(L, idx) ? "true" : "false";
        } else {
            lua_pushvalue(L, idx);
            if (!lua_tostring(L, -1))
                return luaL_argerror(L, idx, "parameter must be a string, number or boolean");
            lua_replace(L, idx);
            params[i] = lua_tostring(L, idx);
        }
    }
    if (lb_pg_exec_script(c, "BEGIN", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);
    const char *quoted = resolve_table(L, c, table);
    int ndep = push_dependents(L, c, table, "cascade", 1);
    int deps = lua_gettop(L);
    /* exact counts of every table the delete can cascade into, before */
    int64_t *before = lua_newuserdatauv(L, (size_t)(ndep ? ndep : 1) * sizeof(int64_t), 0);
    for (int i = 1; i <= ndep; i++) {
        lua_rawgeti(L, deps, i);
        before[i - 1] = count_rows(L, c, lua_tostring(L, -1), 1);
        lua_pop(L, 1);
    }
    lb_buf_printf(&sql, "DELETE FROM %s WHERE %s", quoted, where);
    r = lua_newuserdatauv(L, sizeof(*r), 0);
    memset(r, 0, sizeof(*r));
    int qrc = lb_pg_query(c, sql.data, nparams, params, l_deadline(L), r, &e);
    lb_buf_free(&sql);
    if (qrc < 0) {
        struct lb_err ignore = {0};
        lb_pg_exec_script(c, "ROLLBACK", lb_mono_ms() + 10000, &ignore);
        return lb_lua_raise(L, &e);
    }
    direct = r->affected;
    lb_pg_result_free(r);
    for (int i = 1; i <= ndep; i++) {
        lua_rawgeti(L, deps, i);
        cascaded += before[i - 1] - count_rows(L, c, lua_tostring(L, -1), 1);
        lua_pop(L, 1);
    }
    {
        struct lb_script *s = l_script(L);
        if (s->limits.max_rows >= 0 && direct + cascaded > s->limits.max_rows) {
            snprintf(msg, sizeof(msg), "blast radius: fault.delete_where deleted %lld rows "
                     "(%lld through cascades), over the scenario's limits.max_rows of %lld; "
                     "rolled back", (long long)(direct + cascaded), (long long)cascaded,
                     (long long)s->limits.max_rows);
            rollback_and_raise(L, c, LB_EABORT, msg);
        }
    }
    if (direct <= 0)
        rollback_and_raise(L, c, LB_EINVAL, "fault did not land: the WHERE clause matched "
                                            "no row");
    if (lb_pg_exec_script(c, "COMMIT", l_deadline(L), &e) < 0)
        return lb_lua_raise(L, &e);
    metric(L, "fault.rows_affected", (double)direct, "rows");
    metric(L, "fault.rows_cascaded", (double)cascaded, "rows");
    snprintf(msg, sizeof(msg), "deleted %lld rows from %s, %lld more through ON DELETE "
             "CASCADE in %d table(s)", (long long)direct, quoted, (long long)cascaded, ndep);
    lb_run_log(l_script(L)->run, msg);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, direct);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, cascaded);
    lua_setfield(L, -2, "cascaded");
    return 1;
}

int luaopen_lifeboat_fault(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"drop_table", l_fault_drop_table},
        {"truncate", l_fault_truncate},
        {"delete_where", l_fault_delete_where},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_setglobal(L, "fault");
    return 0;
}
