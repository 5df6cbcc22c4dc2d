/* lifeboat audit: every declared backup layer, checked and recorded as a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lifeboat/audit.h"
#include "lifeboat/report.h"
#include "lifeboat/store.h"

#define MAX_LAYERS 64

static const char AUDIT_USAGE[] =
    "usage: lifeboat audit [--env FILE] [--restore] [--layer NAME]... [--timeout DURATION]\n"
    "                      [--jobs N] [--report FORMATS] [-o DIR] [--store PATH] [--json]\n\n"
    "Check every backup layer the environment declares: it exists (and a pg_dump\n"
    "archive is readable), it is younger than its max_age, its provenance names the\n"
    "pinned system_identifier of the target it claims to back up, it is not empty.\n"
    "The findings are stored as a run of kind \"audit\" and reported like any run.\n\n"
    "  --env FILE        environment (default $LIFEBOAT_ENV, else\n"
    "                    .lifeboat/sandbox/environment.lua)\n"
    "  --restore         also restore each layer and compare its row counts with the live\n"
    "                    source within the layer's tolerance, and its foreign keys: a\n"
    "                    pg_dump into a throw-away database (lifeboat_audit_*) on the\n"
    "                    environment's `scratch` target; a base backup or a pgBackRest\n"
    "                    repository into a throw-away server beside the source's data_dir\n"
    "                    (127.0.0.1, a free port, archiving off), to its consistent point.\n"
    "                    Every throw-away copy is removed; the targets must pass the\n"
    "                    safety guard, the source is only read\n"
    "  --layer NAME      audit only this layer (repeatable)\n"
    "  --timeout D       per layer (default 1h)\n"
    "  --jobs N          pg_restore -j for --restore (default 2)\n"
    "  --report FORMATS  md,json (default) or none;  -o DIR: where (default reports/)\n\n"
    "Exit codes: 0 every layer passed, 1 gaps were found (any critical one among them),\n"
    "2 usage or environment error (nothing touched), 3 a safety guard refused,\n"
    "4 halted, 130 interrupted. See docs/audit.md.\n";

static void print_result(const struct lb_cli *cli, const struct lb_audit_result *res)
{
    const struct lb_run_summary *s = &res->summary;
    char status[32];
    size_t i;

    if (cli->json) {
        printf("{\"run_id\": \"%s\", \"status\": \"%s\", \"exit_code\": %d, \"layers\": %d, "
               "\"gaps\": {\"critical\": %d, \"major\": %d, \"minor\": %d}}\n",
               res->run_id, s->status, s->exit_code, res->layers, s->gaps_critical,
               s->gaps_major, s->gaps_minor);
        return;
    }
    for (i = 0; i < sizeof(status) - 1 && s->status[i] != '\0'; i++)
        status[i] = s->status[i] == '_' ? ' ' :
                    (s->status[i] >= 'a' && s->status[i] <= 'z') ? (char)(s->status[i] - 32)
                                                                 : s->status[i];
    status[i] = '\0';
    printf("run %s: %s  layers %d  gaps %d (critical %d, major %d, minor %d)\n", res->run_id,
           status, res->layers, s->gaps_critical + s->gaps_major + s->gaps_minor,
           s->gaps_critical, s->gaps_major, s->gaps_minor);
}

int cmd_audit(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_ENV = 1, OPT_RESTORE, OPT_LAYER, OPT_TIMEOUT, OPT_JOBS, OPT_REPORT };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"env", required_argument, NULL, OPT_ENV},
        {"restore", no_argument, NULL, OPT_RESTORE},
        {"layer", required_argument, NULL, OPT_LAYER},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"report", required_argument, NULL, OPT_REPORT},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *env_path = NULL, *formats = "md,json", *outdir = "reports";
    const char *layers[MAX_LAYERS + 1];
    struct lb_audit_opts ao = {0};
    struct lb_audit_result res;
    struct lb_store *store = NULL;
    struct lb_env *env = NULL;
    struct lb_err err = {0};
    unsigned fmt = 0;
    size_t nlayers = 0;
    int opt, code;

    while ((opt = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(AUDIT_USAGE, 1);
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_ENV: env_path = optarg; break;
        case OPT_RESTORE: ao.restore = 1; break;
        case OPT_REPORT: formats = optarg; break;
        case 'o': outdir = optarg; break;
        case OPT_LAYER:
            if (nlayers == MAX_LAYERS) {
                cli_error("audit", "at most %d --layer options", MAX_LAYERS);
                return LB_EXIT_USAGE;
            }
            layers[nlayers++] = optarg;
            break;
        case OPT_TIMEOUT:
            if (lb_duration_parse(optarg, &ao.layer_timeout_ms, &err) < 0 ||
                ao.layer_timeout_ms <= 0) {
                cli_error("audit", "--timeout: %s", err.msg[0] ? err.msg : "must be positive");
                return LB_EXIT_USAGE;
            }
            break;
        case OPT_JOBS: {
            int64_t v;
            if (lb_parse_int64(optarg, &v) < 0 || v < 1 || v > 64) {
                cli_error("audit", "--jobs must be 1..64");
                return LB_EXIT_USAGE;
            }
            ao.restore_jobs = (int)v;
            break;
        }
        default: return cli_usage(AUDIT_USAGE, 0);
        }
    }
    if (optind != argc)
        return cli_usage(AUDIT_USAGE, 0);
    layers[nlayers] = NULL;
    if (strcmp(formats, "none") != 0 && lb_report_parse_formats(formats, &fmt, &err) < 0) {
        cli_error("report", "%s", err.msg);
        return LB_EXIT_USAGE;
    }
    code = cli_load_env(cli, env_path, 1, &env);
    if (code)
        return code;
    code = cli_open_store(cli, &store);
    if (code)
        goto out;
    lb_interrupt_install();
    ao.store = store;
    ao.env = env;
    ao.layers = nlayers > 0 ? layers : NULL;
    ao.on_event = cli_on_event;
    ao.event_ud = cli;
    if (lb_audit_run(&ao, &res, &err) < 0) {
        char *clean = lb_redact_text(env->secrets, err.msg);
        cli_error("audit", "%s", clean);
        free(clean);
        code = res.run_id[0] == '\0' && err.code == LB_EINVAL ? LB_EXIT_USAGE
                                                               : lb_rc_exit_code(err.code);
        if (code == LB_EXIT_PASSED)
            code = LB_EXIT_GAPS;
        goto out;
    }
    if (fmt) {
        char *path = NULL;
        struct lb_err rerr = {0};
        if (lb_report_write(store, res.run_id, fmt, outdir, &path, &rerr) < 0)
            cli_error("report", "%s", rerr.msg);
        else if (path && !cli->json)
            printf("report: %s\n", path);
        free(path);
    }
    print_result(cli, &res);
    code = res.summary.exit_code;
out:
    lb_store_close(store);
    lb_env_free(env);
    return code;
}
