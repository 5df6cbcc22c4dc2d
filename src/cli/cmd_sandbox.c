/* lifeboat sandbox up|down|status, lifeboat guard install. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lifeboat/pg.h"
#include "lifeboat/sandbox.h"

static const char SANDBOX_USAGE[] =
    "usage: lifeboat sandbox up [--dir D] [--scale N] [--with-deprecated]\n"
    "       lifeboat sandbox down [--dir D]\n"
    "       lifeboat sandbox status [--dir D] [--json]\n\n"
    "A local staging system built with the PostgreSQL server tools: a primary\n"
    "(\"us-east-1\") on 127.0.0.1 with a seeded inventory database, the guard\n"
    "marker, a nightly pg_dump, and D/environment.lua describing it (default D:\n"
    LB_SANDBOX_DEFAULT_DIR "). As root, the servers run as the postgres user with\n"
    "their data under /var/tmp/lifeboat-sandbox (or $LIFEBOAT_SERVER_ROOT).\n\n"
    "  --with-deprecated  the incident's setup: also a deprecated cluster (own\n"
    "                     system_identifier, empty tables) that the nightly dump is\n"
    "                     taken from, while the environment still says it backs up\n"
    "                     staging; a good dump of staging is kept as staging_dump\n";

static void progress(const char *line, void *ud)
{
    const struct lb_cli *cli = ud;
    if (!cli->quiet)
        fprintf(stderr, "sandbox: %s\n", line);
}

int cmd_sandbox(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_DIR = 1, OPT_SCALE, OPT_DEPRECATED };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"dir", required_argument, NULL, OPT_DIR},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"with-deprecated", no_argument, NULL, OPT_DEPRECATED},
        {NULL, 0, NULL, 0},
    };
    struct lb_sandbox_opts so = {0};
    struct lb_err err = {0};
    const char *action;
    int opt, rc;

    so.dir = LB_SANDBOX_DEFAULT_DIR;
    so.scale = 1;
    so.progress = progress;
    so.progress_ud = cli;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(SANDBOX_USAGE, 1);
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_DIR:
            so.dir = optarg;
            break;
        case OPT_SCALE: {
            int64_t v;
            if (lb_parse_int64(optarg, &v) < 0 || v < 1 || v > 10000) {
                cli_error("sandbox", "--scale must be an integer from 1 to 10000");
                return LB_EXIT_USAGE;
            }
            so.scale = (int)v;
            break;
        }
        case OPT_DEPRECATED:
            so.with_deprecated = 1;
            break;
        default:
            return cli_usage(SANDBOX_USAGE, 0);
        }
    }
    if (optind != argc - 1)
        return cli_usage(SANDBOX_USAGE, 0);
    action = argv[optind];
    if (strcmp(action, "up") == 0) {
        rc = lb_sandbox_up(&so, &err);
        if (rc == 0) {
            char *env = lb_path_join(so.dir, "environment.lua");
            printf("sandbox up: %s\n", env);
            free(env);
        }
    } else if (strcmp(action, "down") == 0) {
        rc = lb_sandbox_down(&so, &err);
        if (rc == 0 && !cli->quiet)
            printf("sandbox down\n");
    } else if (strcmp(action, "status") == 0) {
        struct lb_sandbox_status st;
        rc = lb_sandbox_status(&so, &st, &err);
        if (rc == 0) {
            char *text = lb_sandbox_status_format(&st, cli->json);

            fputs(text, stdout);
            free(text);
        }
    } else {
        cli_error("sandbox", "unknown action '%s' (up, down, status)", action);
        return LB_EXIT_USAGE;
    }
    if (rc < 0) {
        cli_error("sandbox", "%s", err.msg);
        return LB_EXIT_USAGE;
    }
    return 0;
}

static const char GUARD_USAGE[] =
    "usage: lifeboat guard install --env FILE --target NAME\n\n"
    "Create the opt-in marker lifeboat_guard(environment, token) on a staging\n"
    "target, with the environment's name and the target's guard_token. Run by a\n"
    "DBA, on staging only: lifeboat refuses to touch a server without it. The\n"
    "target must have role staging and its pinned system_identifier.\n";

int cmd_guard(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_ENV = 1, OPT_TARGET };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"env", required_argument, NULL, OPT_ENV},
        {"target", required_argument, NULL, OPT_TARGET},
        {NULL, 0, NULL, 0},
    };
    const char *env_path = NULL, *target = NULL;
    struct lb_env *env = NULL;
    struct lb_pg *c = NULL;
    struct lb_err err = {0};
    int opt, code;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(GUARD_USAGE, 1);
        if (r > 0)
            continue;
        if (opt == OPT_ENV)
            env_path = optarg;
        else if (opt == OPT_TARGET)
            target = optarg;
        else
            return cli_usage(GUARD_USAGE, 0);
    }
    if (optind != argc - 1 || strcmp(argv[optind], "install") != 0 || !target)
        return cli_usage(GUARD_USAGE, 0);
    if ((code = cli_load_env(cli, env_path, 1, &env)))
        return code;
    const struct lb_env_target *t = lb_env_target(env, target);
    if (!t) {
        cli_error("guard", "target '%s' is not declared in %s", target, env->path);
        code = LB_EXIT_USAGE;
        goto out;
    }
    if (lb_pg_connect(t->conninfo, lb_mono_ms() + 30000, &c, &err) < 0 ||
        lb_guard_install(c, env, t, &err) < 0) {
        char *clean = lb_redact_text(env->secrets, err.msg);
        cli_error("guard", "%s", clean);
        free(clean);
        code = err.code == LB_ESAFETY ? LB_EXIT_SAFETY : LB_EXIT_USAGE;
        goto out;
    }
    printf("guard installed on target '%s' for environment '%s'\n", target, env->name);
out:
    lb_pg_close(c);
    lb_env_free(env);
    return code;
}
