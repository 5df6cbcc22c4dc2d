/*
 * runner: runs one scenario end to end. Loads it (declaration), validates
 * the plan, creates the run in the store, proves every target is the pinned
 * staging system, asks the operator when interactive, executes the steps in
 * order with their deadlines, runs the rollbacks LIFO whatever happened, and
 * finishes the run (RTO, RPO, gaps, verdict, exit code).
 *
 * Used by the CLI (run, check, demo). Drives engine.h and script.h.
 */
#ifndef LIFEBOAT_RUNNER_H
#define LIFEBOAT_RUNNER_H

#include <stdint.h>

#include "lifeboat/engine.h"
#include "lifeboat/util.h"

struct lb_store;
struct lb_env;

/* Asked once before the first fault of an interactive run. `plan` is the
 * printable plan with the resolved targets. Return 1 to go on. */
typedef int (*lb_confirm_fn)(const char *plan, void *ud);

struct lb_runner_opts {
    const char *scenario_path;
    struct lb_env *env;          /* borrowed */
    struct lb_store *store;      /* borrowed */
    int dry_run;
    lb_confirm_fn confirm;       /* NULL: do not ask */
    void *confirm_ud;
    lb_event_fn on_event;        /* progress */
    void *event_ud;
    int64_t step_default_timeout_ms;  /* 0: 30 min */
    int parallel;                /* validation connections (--parallel); 0: cores */
    /* Where the CLI will write the main report (named <dir>/<run id>.<ext>),
     * for the end notification; NULL: none. */
    const char *report_dir;
    const char *report_ext;
};

struct lb_runner_result {
    char run_id[64];             /* "" if no run was stored (load/plan error) */
    struct lb_run_summary summary;
    int64_t rto_objective_ms, rpo_objective_ms;
    char *plan_text;             /* printable plan; caller frees */
    char *errors;                /* declaration errors (file:line each); caller frees */
    char *error;                 /* what stopped the run early, or NULL; caller frees */
};

/*
 * Run (or dry-run) a scenario. Returns the exit code DESIGN defines
 * (0, 1, 2, 3, 4, 5, 130). For exit code 2 with a load or plan error,
 * nothing is stored and err says why.
 */
int lb_runner_run(const struct lb_runner_opts *o, struct lb_runner_result *res,
                  struct lb_err *err);
void lb_runner_result_free(struct lb_runner_result *res);

/* Load and validate a scenario without connecting anywhere (`check`).
 * Returns 0 or LB_EINVAL; *errors gets every problem (caller frees). */
int lb_runner_check(const char *scenario_path, struct lb_env *env,
                    char **errors, char **plan_text, struct lb_err *err);

#endif
