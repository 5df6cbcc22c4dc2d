/*
 * script: the C<->Lua border. A sandboxed Lua 5.4 state per run (allow-listed
 * libraries, text chunks only, a memory cap, a count hook that enforces the
 * step deadline), the scenario API (scenario, step, rollback, mark, expect,
 * check, gap, metric, log, sleep, target, backup, fault, restore, backupctl,
 * exec, env) and the environment-file loader.
 *
 * Loading a scenario only declares: the declarations land in struct
 * lb_script (plan), and nothing touches a target until the runner executes
 * the steps. Used by the runner (runner.h) and the CLI (environment loading).
 * The only header besides the runner that speaks Lua types.
 */
#ifndef LIFEBOAT_SCRIPT_H
#define LIFEBOAT_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "lifeboat/util.h"

struct lb_env;
struct lb_run;
struct lb_pg;

/*
 * Load an environment file: a Lua chunk returning one table, run with no
 * globals but os.getenv. Unknown keys and bad types are errors naming
 * file:line. Secrets (conninfo passwords, guard tokens) are registered in
 * env->secrets. Caller frees with lb_env_free.
 */
int lb_env_load(const char *path, struct lb_env **out, struct lb_err *err);

/* A declared step of the plan. */
struct lb_script_step {
    char *name;
    char *kind;            /* fault, restore, check, manual, action */
    int critical;
    int64_t timeout_ms;    /* -1: the default */
    int retry_attempts;    /* 1 = no retry */
    int64_t retry_delay_ms;
    char *declared_at;     /* "file:line" */
    int fnref;             /* registry ref of the step function */
};

struct lb_script_rollback {
    char *name;
    char *declared_at;
    int fnref;
    int id;                /* store id once registered, 0 before */
};

/* Blast radius declared by scenario{ limits = { ... } }. */
struct lb_limits {
    int64_t max_rows;      /* -1: unlimited */
    char **tables;         /* NULL-ended allow-list or NULL for any */
    char **faults;         /* NULL-ended allow-list of fault kinds or NULL */
};

/* A loaded scenario and its Lua state. */
struct lb_script {
    lua_State *L;
    char *path;            /* scenario file */
    char *sha256;          /* of the file's bytes */
    /* scenario{} */
    char *id, *title, *declared_at;
    int64_t rto_ms, rpo_ms;          /* -1 if not set (environment default applies) */
    char **tags;
    struct lb_limits limits;
    /* plan */
    struct lb_script_step *steps; size_t nsteps;
    struct lb_script_rollback *rollbacks; size_t nrollbacks;
    char **targets_used; size_t ntargets_used;   /* names passed to target() */
    char **backups_used; size_t nbackups_used;
    /* declaration errors, "file:line: message", newline-separated */
    struct lb_buf errors;
    int nerrors;
    /* execution context (set by the runner) */
    struct lb_env *env;                /* borrowed; may be NULL in check mode */
    struct lb_run *run;                /* borrowed; NULL until executing */
    int executing;
    int in_rollback;
    int64_t deadline_ms;               /* hook deadline, monotonic */
    int64_t step_default_timeout_ms;
    int parallel;                      /* connections for validation work; 0: cores */
    size_t mem_used, mem_limit;
    int nhandles;                      /* open target handles (for closing) */
};

struct lb_script_opts {
    const char *path;
    struct lb_env *env;        /* for name validation; may be NULL */
    size_t mem_limit;          /* 0: 512 MiB */
    const char *lib_path;      /* extra directory for require (may be NULL) */
};

/*
 * Create the sandboxed state, run the scenario file (declaration phase) and
 * validate the plan: unknown targets/backups, bad durations, duplicate step
 * names, a missing scenario{}. On LB_EINVAL, err->msg holds the first
 * error and script->errors all of them (file:line each); *out is still set
 * so the caller can print them, and must be freed. Caller frees with
 * lb_script_free.
 */
int lb_script_load(const struct lb_script_opts *o, struct lb_script **out,
                   struct lb_err *err);
void lb_script_free(struct lb_script *s);

/* The script that owns a Lua state (from the registry). */
struct lb_script *lb_script_from_state(lua_State *L);

/*
 * Call the function at registry ref `fnref` with no arguments in protected
 * mode with a traceback handler. Returns 0, or the rc carried by the error
 * (LB_ETIMEOUT, LB_ESAFETY, LB_EINTR, LB_EABORT, LB_EDB, ... or LB_EINVAL
 * for a plain Lua error) with err->msg = "file:line: message".
 * *traceback gets a malloc'ed traceback or NULL.
 */
int lb_script_call(struct lb_script *s, int fnref, char **traceback,
                   struct lb_err *err);

/* Close every open target connection (end of run). */
void lb_script_close_handles(struct lb_script *s);

/* Connect the declared targets and run the safety guard on each (used by
 * the runner before the first step and in dry runs). Fills `report` with one
 * line per target (no secrets). */
int lb_script_guard_all(struct lb_script *s, struct lb_buf *report,
                        struct lb_err *err);

/* Raise an operational error table {code, message, sqlstate, step} with
 * __tostring, from a C binding. Does not return. */
int lb_lua_raise(lua_State *L, const struct lb_err *err);

#endif
