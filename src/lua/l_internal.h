/*
 * Private to the Lua bindings: helpers every l_*.c file shares, and the
 * luaopen_* entry points the state loader calls.
 */
#ifndef LIFEBOAT_L_INTERNAL_H
#define LIFEBOAT_L_INTERNAL_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "lifeboat/engine.h"
#include "lifeboat/script.h"

struct lb_pg;

/* Metatable names. */
#define LB_MT_TARGET "lifeboat.target"
#define LB_MT_BACKUP "lifeboat.backup"
#define LB_MT_BASELINE "lifeboat.baseline"
#define LB_MT_ERROR "lifeboat.error"

/* "file:line" of the Lua code at `level` (1 = caller of the C function). */
void l_where(lua_State *L, int level, char *out, size_t outsz);

/* Raise unless the script is executing a step (or a rollback). */
struct lb_script *l_need_exec(lua_State *L, const char *what);
/* Runs the argv of the table at index 1 (its array part, or its `argv`
 * field) with its `env` and `timeout`, records the tool run as `what` and
 * pushes { status, output, duration, signal } with the output redacted.
 * raise_on_failure: a non-zero exit or a kill raises an error naming the
 * output's last line instead. Shared by exec and restore.command. */
int l_exec_run(lua_State *L, const char *what, int raise_on_failure);
/* Restores run in a step of kind "restore" (or "action"), or in a
 * rollback: raises otherwise. Returns the script (l_need_exec). */
struct lb_script *l_restore_begin(lua_State *L, const char *what);

/* Raise an operational error with a code and a printf message. */
int l_raise(lua_State *L, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Deadline for a host call made now: the step's deadline (monotonic ms). */
int64_t l_deadline(lua_State *L);

/* Optional table fields. Missing → default; wrong type → luaL_error naming it. */
const char *l_opt_string_field(lua_State *L, int t, const char *k, const char *def);
lua_Integer l_opt_int_field(lua_State *L, int t, const char *k, lua_Integer def);
lua_Number l_opt_number_field(lua_State *L, int t, const char *k, lua_Number def);
int l_opt_bool_field(lua_State *L, int t, const char *k, int def);
/* A duration: string ("10m") or number of seconds. -1 if absent. */
int64_t l_opt_duration_field(lua_State *L, int t, const char *k);
int64_t l_check_duration(lua_State *L, int idx);
/* An array of strings at t[k] (or nil), returned NULL-ended; lives in a
 * userdata box pushed on the stack (freed by the GC). */
const char **l_opt_string_array(lua_State *L, int t, const char *k);
/* Raise "<what>: unknown option '<key>'" for a key of the options table at
 * t that is not in the NULL-ended `known` (a typo must not pass silently). */
void l_check_options(lua_State *L, int t, const char *what, const char *const *known);

struct lb_pg_result;
/* Push a query result as an array of row tables with typed values. */
void l_push_rows(lua_State *L, const struct lb_pg_result *r);
/* Push one typed value of a result (nil for NULL). */
void l_push_value(lua_State *L, const struct lb_pg_result *r, int row, int col);

/* Target handles. */
struct l_target {
    char *name;                 /* as the scenario named it (route or target) */
    struct lb_pg *conn;         /* NULL until first use; closed on close */
    int guarded;                /* guard passed on this connection */
    int closed;
};
struct l_target *l_check_target(lua_State *L, int idx);
/* Resolve the environment target of a handle (routes followed now). */
const struct lb_env_target *l_target_env(lua_State *L, struct l_target *t);
/* Connect (if needed) and run the guard; raise on refusal. */
struct lb_pg *l_target_conn(lua_State *L, struct l_target *t);
/* Re-run the guard before a destructive action; raise on refusal. */
void l_target_guard(lua_State *L, struct l_target *t, const char *action);

const struct lb_env_backup *l_check_backup(lua_State *L, int idx);

/* Record a tool run (command, status, output) on the current step. */
struct lb_tool_run;
void l_record_tool(lua_State *L, const char *what, const struct lb_tool_run *tr);
/* A zeroed tool run in a userdata pushed on the stack, freed by the GC even
 * if recording raises. */
struct lb_tool_run *l_new_tool_run(lua_State *L);

/* Provenance as scenarios see it (backup:info(), backupctl.*): { kind,
 * system_identifier, cluster_name, database, version, taken_at,
 * taken_at_ms, age, tables, rows, ... }. */
struct lb_provenance;
void l_push_provenance(lua_State *L, const struct lb_provenance *p);
/* A box for a provenance pushed on the stack: *box is freed by the GC. */
struct lb_provenance **l_new_provenance_box(lua_State *L);

/* Target methods defined beside their concern (l_validate.c, l_heartbeat.c). */
extern const luaL_Reg l_target_validate_methods[];
extern const luaL_Reg l_target_heartbeat_methods[];
/* Stop the heartbeat writer of the target handle at idx / of every handle
 * (l_heartbeat.c): no writer thread outlives its handle or the run. */
void l_heartbeat_close(lua_State *L, int idx);
void l_heartbeat_close_all(lua_State *L);
/* Metatables of the validation objects (baselines). */
int luaopen_lifeboat_validate(lua_State *L);

/* luaopen functions: each registers globals or a module table. */
int luaopen_lifeboat_scenario(lua_State *L);
int luaopen_lifeboat_target(lua_State *L);
int luaopen_lifeboat_fault(lua_State *L);
/* backup(), backupctl and restore */
int luaopen_lifeboat_backup(lua_State *L);
/* recovery faults and restores, added into fault, restore and backupctl */
int luaopen_lifeboat_recover(lua_State *L);
int luaopen_lifeboat_exec(lua_State *L);
int luaopen_lifeboat_http(lua_State *L);
int luaopen_lifeboat_env(lua_State *L);

/* What every fault checks before it touches anything: inside a fault step,
 * not in a rollback, kind and table allowed by the scenario's limits
 * (raises; LB_EABORT for a blast-radius breach). */
struct lb_script *l_fault_checks(lua_State *L, const char *kind, const char *table);

/* Plan bookkeeping used by scenario/target/backup declarations. */
void l_plan_error(lua_State *L, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void l_note_target_use(lua_State *L, const char *name);
void l_note_backup_use(lua_State *L, const char *name);

/* The script (C struct) behind L. */
#define l_script(L) lb_script_from_state(L)

#endif
