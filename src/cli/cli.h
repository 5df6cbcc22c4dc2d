/*
 * cli: argv → command table → exit code. The only code that prints for the
 * user and the only place that exits. Shared helpers for the commands.
 */
#ifndef LIFEBOAT_CLI_H
#define LIFEBOAT_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "lifeboat/engine.h"
#include "lifeboat/util.h"

struct lb_store;

struct lb_cli {
    const char *argv0;
    const char *store_path;   /* --store, $LIFEBOAT_STORE, ./lifeboat.db */
    int json;                 /* --json */
    int quiet, verbose;
    int color;                /* stderr is a TTY and NO_COLOR is unset */
    int tty_in;               /* stdin is a TTY */
};

/* Long options every command accepts (values above 1000 are theirs). */
enum {
    CLI_OPT_STORE = 1000,
    CLI_OPT_JSON,
    CLI_OPT_QUIET,
    CLI_OPT_VERBOSE,
    CLI_OPT_HELP,
};
#define CLI_COMMON_OPTIONS                                            \
    {"store", required_argument, NULL, CLI_OPT_STORE},                \
    {"json", no_argument, NULL, CLI_OPT_JSON},                        \
    {"quiet", no_argument, NULL, CLI_OPT_QUIET},                      \
    {"verbose", no_argument, NULL, CLI_OPT_VERBOSE},                  \
    {"help", no_argument, NULL, CLI_OPT_HELP}

/* Handle a common option; returns 1 if it was one, 0 if not, -1 for --help
 * (the caller prints its usage and returns 0). */
int cli_common_option(struct lb_cli *cli, int opt, const char *arg);

/* "lifeboat: <what>: <why>" on stderr. */
void cli_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a usage text to stdout (help) and return 0, or to stderr and return 2. */
int cli_usage(const char *text, int ok);

/* Open the store (the path the options chose). Prints the error. */
int cli_open_store(struct lb_cli *cli, struct lb_store **out);
/* Resolve and load the environment: --env, $LIFEBOAT_ENV, the sandbox's.
 * `required`: print an error if none can be found. Returns 0 or an exit code. */
int cli_load_env(struct lb_cli *cli, const char *flag, int required, struct lb_env **out);
/* Default environment path (borrowed). */
const char *cli_default_env_path(void);

/* Progress printer for run events (stderr). */
void cli_on_event(const struct lb_event *ev, void *ud);

/* Find a shipped scenario by file name ("dropped_table.lua"). Caller frees. */
char *cli_find_scenario(const char *argv0, const char *file);
/* Directory of shipped scenarios (may not exist). Caller frees. */
char *cli_scenarios_dir(const char *argv0);

/* Commands. */
int cmd_run(struct lb_cli *cli, int argc, char **argv);
int cmd_check(struct lb_cli *cli, int argc, char **argv);
int cmd_list(struct lb_cli *cli, int argc, char **argv);
int cmd_runs(struct lb_cli *cli, int argc, char **argv);
int cmd_show(struct lb_cli *cli, int argc, char **argv);
int cmd_report(struct lb_cli *cli, int argc, char **argv);
int cmd_trend(struct lb_cli *cli, int argc, char **argv);
int cmd_audit(struct lb_cli *cli, int argc, char **argv);
int cmd_sandbox(struct lb_cli *cli, int argc, char **argv);
int cmd_demo(struct lb_cli *cli, int argc, char **argv);
int cmd_guard(struct lb_cli *cli, int argc, char **argv);
int cmd_halt(struct lb_cli *cli, int argc, char **argv);
int cmd_schedule(struct lb_cli *cli, int argc, char **argv);
int cmd_due(struct lb_cli *cli, int argc, char **argv);
int cmd_ack(struct lb_cli *cli, int argc, char **argv);

#endif
