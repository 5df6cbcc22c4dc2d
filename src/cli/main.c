/*
 * lifeboat: disaster-recovery drills for PostgreSQL.
 * argv → command table → exit code. This is the one place that exits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lifeboat/engine.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"

struct command {
    const char *name;
    int (*fn)(struct lb_cli *cli, int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a drill (or --dry-run it)"},
    {"check", cmd_check, "check scenarios for API misuse; connects nowhere"},
    {"list", cmd_list, "list shipped scenarios with their objectives"},
    {"runs", cmd_runs, "run history from the results store"},
    {"show", cmd_show, "one run's timeline, checks and gaps"},
    {"report", cmd_report, "write a run's report (md, html, json, junit)"},
    {"trend", cmd_trend, "RTO/RPO of a scenario's runs against objectives, recurring gaps"},
    {"audit", cmd_audit, "check every backup layer: exists, fresh, right source, restorable"},
    {"sandbox", cmd_sandbox, "local staging: up, down, status"},
    {"demo", cmd_demo, "sandbox up if needed, run the dropped-table drill"},
    {"guard", cmd_guard, "install the opt-in marker on a staging target"},
    {"halt", cmd_halt, "stop running drills and block new ones (--release)"},
    {"schedule", cmd_schedule, "plan unannounced drills, sealed by a commitment"},
    {"due", cmd_due, "run the scheduled drill that is due (cron, systemd timer)"},
    {"ack", cmd_ack, "acknowledge the manual step a drill waits for"},
    {NULL, NULL, NULL},
};

static int usage(int ok)
{
    FILE *f = ok ? stdout : stderr;
    fprintf(f, "usage: lifeboat [--store PATH] [--json] [--quiet] [--verbose] "
               "<command> [args]\n\n"
               "Disaster-recovery drills for PostgreSQL: inject a failure into a pinned\n"
               "staging system, drive the real restore, prove the data is back.\n\n"
               "commands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(f, "  %-9s %s\n", c->name, c->summary);
    fprintf(f, "\n'lifeboat <command> --help' tells more. Exit codes: 0 passed, 1 gaps,\n"
               "2 usage or scenario error, 3 refused by a safety guard, 4 aborted,\n"
               "5 a rollback failed (page a human), 130 interrupted.\n");
    return ok ? 0 : LB_EXIT_USAGE;
}

void cli_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lifeboat: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage(const char *text, int ok)
{
    fputs(text, ok ? stdout : stderr);
    return ok ? 0 : LB_EXIT_USAGE;
}

int cli_common_option(struct lb_cli *cli, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_STORE:
        cli->store_path = arg;
        return 1;
    case CLI_OPT_JSON:
        cli->json = 1;
        return 1;
    case CLI_OPT_QUIET:
        cli->quiet = 1;
        return 1;
    case CLI_OPT_VERBOSE:
        cli->verbose = 1;
        return 1;
    case CLI_OPT_HELP:
        return -1;
    default:
        return 0;
    }
}

int cli_open_store(struct lb_cli *cli, struct lb_store **out)
{
    struct lb_err err = {0};
    if (lb_store_open(cli->store_path, out, &err) < 0) {
        cli_error("store", "%s: %s", cli->store_path, err.msg);
        return LB_EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_OPTIONS, {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    struct lb_cli cli;
    const char *env_store = getenv("LIFEBOAT_STORE");
    const char *no_color = getenv("NO_COLOR");
    int opt;

    memset(&cli, 0, sizeof(cli));
    cli.argv0 = argv[0];
    cli.store_path = env_store && *env_store ? env_store : "lifeboat.db";
    cli.color = isatty(STDERR_FILENO) && !(no_color && *no_color);
    cli.tty_in = isatty(STDIN_FILENO);

    /* Global options come before the command ("+": stop at the first word). */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
        if (opt == 'h')
            return usage(1);
        if (opt == 'V') {
            printf("lifeboat %s\n", LIFEBOAT_VERSION);
            return 0;
        }
        int r = cli_common_option(&cli, opt, optarg);
        if (r < 0)
            return usage(1);
        if (r == 0) {
            cli_error("usage", "unknown option '%s'", argv[optind - 1]);
            return usage(0);
        }
    }
    if (optind >= argc)
        return usage(0);
    const char *name = argv[optind];
    for (const struct command *c = commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0;    /* glibc: full re-initialisation for the command */
            int rc = c->fn(&cli, sub_argc, sub_argv);
            fflush(stdout);
            return rc;
        }
    }
    cli_error("usage", "unknown command '%s' (see lifeboat --help)", name);
    return LB_EXIT_USAGE;
}
