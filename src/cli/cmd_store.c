/* lifeboat runs | show | report | halt: reading (and flagging) the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lifeboat/report.h"
#include "lifeboat/store.h"

static int simple_opts(struct lb_cli *cli, int argc, char **argv, const char *usage,
                       const struct option *longopts, int (*extra)(int opt, const char *arg,
                                                                   void *ud), void *ud)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "ho:f:", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(usage, 1) - 1;    /* -1: help printed, exit 0 */
        if (r > 0)
            continue;
        if (!extra || extra(opt, optarg, ud) < 0)
            return cli_usage(usage, 0);
    }
    return 0;
}

/* ---- runs --------------------------------------------------------------- */

struct runs_args { const char *scenario; int limit; };

static int runs_extra(int opt, const char *arg, void *ud)
{
    struct runs_args *a = ud;
    int64_t v;
    if (opt == 1) {
        a->scenario = arg;
        return 0;
    }
    if (opt == 2 && lb_parse_int64(arg, &v) == 0 && v > 0 && v < 1000000) {
        a->limit = (int)v;
        return 0;
    }
    return -1;
}

static void fmt_ms(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else
        lb_duration_format(ms, out, n);
}

int cmd_runs(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] = "usage: lifeboat runs [--scenario ID] [--limit N] [--json]\n\n"
                                "Run history from the results store, newest first.\n";
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"scenario", required_argument, NULL, 1},
        {"limit", required_argument, NULL, 2}, {NULL, 0, NULL, 0}};
    struct runs_args a = {NULL, 50};
    struct lb_store *store = NULL;
    struct lb_run_view **runs = NULL;
    struct lb_err err = {0};
    size_t n = 0;
    int code = simple_opts(cli, argc, argv, usage, longopts, runs_extra, &a);

    if (code)
        return code < 0 ? 0 : code;
    if (optind != argc)
        return cli_usage(usage, 0);
    if ((code = cli_open_store(cli, &store)))
        return code;
    if (lb_store_list_runs(store, a.scenario, a.limit, &runs, &n, &err) < 0) {
        cli_error("runs", "%s", err.msg);
        lb_store_close(store);
        return LB_EXIT_USAGE;
    }
    if (cli->json)
        printf("[");
    else if (n)
        printf("%-22s %-26s %-16s %-20s %9s %9s %4s\n", "RUN", "SCENARIO", "STATUS", "STARTED",
               "RTO", "RPO", "EXIT");
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        char started[40], rto[32], rpo[32];
        lb_wall_format(v->started_at, started, sizeof(started));
        fmt_ms(v->rto_ms, rto, sizeof(rto));
        fmt_ms(v->rpo_ms, rpo, sizeof(rpo));
        if (cli->json)
            printf("%s\n  {\"id\": \"%s\", \"scenario\": \"%s\", \"status\": \"%s\", "
                   "\"started_at\": \"%s\", \"rto_ms\": %lld, \"rpo_ms\": %lld, "
                   "\"exit_code\": %d, \"dry_run\": %s}",
                   i ? "," : "", v->id, v->scenario_id ? v->scenario_id : "", v->status,
                   started, (long long)v->rto_ms, (long long)v->rpo_ms, v->exit_code,
                   v->dry_run ? "true" : "false");
        else
            printf("%-22s %-26s %-16s %-20.19s %9s %9s %4d\n", v->id,
                   v->scenario_id ? v->scenario_id : "-", v->status, started, rto, rpo,
                   v->exit_code);
    }
    if (cli->json)
        printf("%s]\n", n ? "\n" : "");
    else if (!n && !cli->quiet)
        fprintf(stderr, "no runs in %s\n", cli->store_path);
    lb_run_list_free(runs, n);
    lb_store_close(store);
    return 0;
}

/* ---- show --------------------------------------------------------------- */

static const char *step_name(const struct lb_run_view *v, int seq)
{
    for (size_t i = 0; i < v->nsteps; i++)
        if (v->steps[i].seq == seq)
            return v->steps[i].name;
    return seq > 0 ? "?" : "run";
}

int cmd_show(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] = "usage: lifeboat show RUN [--json]\n\n"
                                "One run's timeline, checks and gaps. RUN is an id, a unique\n"
                                "prefix of one, or 'latest'.\n";
    static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct lb_store *store = NULL;
    struct lb_run_view *v = NULL;
    struct lb_err err = {0};
    int code = simple_opts(cli, argc, argv, usage, longopts, NULL, NULL);
    int64_t longest = 1;

    if (code)
        return code < 0 ? 0 : code;
    if (optind != argc - 1)
        return cli_usage(usage, 0);
    if ((code = cli_open_store(cli, &store)))
        return code;
    if (lb_store_load_run(store, argv[optind], &v, &err) < 0) {
        cli_error("show", "%s", err.msg);
        lb_store_close(store);
        return LB_EXIT_USAGE;
    }
    if (cli->json) {
        struct lb_buf b = {0};
        lb_report_json(v, &b);
        fputs(b.data ? b.data : "", stdout);
        lb_buf_free(&b);
        goto out;
    }
    {
        char rto[32], rpo[32], started[40];
        fmt_ms(v->rto_ms, rto, sizeof(rto));
        fmt_ms(v->rpo_ms, rpo, sizeof(rpo));
        lb_wall_format(v->started_at, started, sizeof(started));
        printf("run %s  %s  %s\n", v->id, v->scenario_id ? v->scenario_id : "",
               v->scenario_title ? v->scenario_title : "");
        printf("status %s (exit %d)  started %s  environment %s\n", v->status, v->exit_code,
               started, v->environment ? v->environment : "-");
        printf("RTO %s  RPO %s%s%s%s\n", rto, rpo, v->rpo_method ? " (" : "",
               v->rpo_method ? v->rpo_method : "", v->rpo_method ? ")" : "");
        if (v->error)
            printf("error: %s\n", v->error);
    }
    for (size_t i = 0; i < v->nsteps; i++)
        if (v->steps[i].duration_ms > longest)
            longest = v->steps[i].duration_ms;
    printf("\ntimeline\n");
    for (size_t i = 0; i < v->nsteps; i++) {
        const struct lb_step_view *st = &v->steps[i];
        char d[32], bar[64] = "";
        int w = st->duration_ms > 0 ? (int)(st->duration_ms * 30 / longest) : 0;
        fmt_ms(st->duration_ms, d, sizeof(d));
        if (w < 1 && st->duration_ms > 0)
            w = 1;
        for (int k = 0; k < w && k < 30; k++)
            bar[k] = '#';
        printf("  %2d %-8s %-34.34s %-11s %9s %s\n", st->seq, st->kind, st->name, st->status,
               d, bar);
        if (st->error)
            printf("       %s\n", st->error);
    }
    for (size_t i = 0; i < v->nmarks; i++) {
        char at[40];
        lb_wall_format(v->marks[i].at, at, sizeof(at));
        printf("  mark %-10s %s (%s)\n", v->marks[i].name, at, v->marks[i].source);
    }
    if (v->nchecks) {
        printf("\nchecks\n");
        for (size_t i = 0; i < v->nchecks; i++) {
            const struct lb_check_view *c = &v->checks[i];
            printf("  %-6s %-40s expected %s, observed %s\n", c->ok ? "ok" : "FAILED", c->name,
                   c->expected ? c->expected : "-", c->observed ? c->observed : "-");
        }
    }
    printf("\ngaps: %zu\n", v->ngaps);
    for (size_t i = 0; i < v->ngaps; i++) {
        const struct lb_gap_view *g = &v->gaps[i];
        printf("  [%s] %s: %s (step: %s)\n", g->severity, g->category, g->title,
               step_name(v, g->step_seq));
        if (g->detail)
            printf("      %s\n", g->detail);
    }
    if (v->nrollbacks) {
        printf("\nrollbacks\n");
        for (size_t i = 0; i < v->nrollbacks; i++)
            printf("  %-10s %s%s%s\n", v->rollbacks[i].status, v->rollbacks[i].name,
                   v->rollbacks[i].error ? ": " : "",
                   v->rollbacks[i].error ? v->rollbacks[i].error : "");
    }
out:
    lb_run_view_free(v);
    lb_store_close(store);
    return 0;
}

/* ---- report ------------------------------------------------------------- */

struct report_args { const char *formats, *outdir; };

static int report_extra(int opt, const char *arg, void *ud)
{
    struct report_args *a = ud;
    if (opt == 'f')
        a->formats = arg;
    else if (opt == 'o')
        a->outdir = arg;
    else
        return -1;
    return 0;
}

int cmd_report(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat report RUN [--format md,json] [-o DIR]\n\n"
        "Write a run's report from the store (default formats md,json, into reports/).\n";
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    struct report_args a = {"md,json", "reports"};
    struct lb_store *store = NULL;
    struct lb_err err = {0};
    unsigned fmt = 0;
    char *path = NULL;
    int code = simple_opts(cli, argc, argv, usage, longopts, report_extra, &a);

    if (code)
        return code < 0 ? 0 : code;
    if (optind != argc - 1)
        return cli_usage(usage, 0);
    if (lb_report_parse_formats(a.formats, &fmt, &err) < 0) {
        cli_error("report", "%s", err.msg);
        return LB_EXIT_USAGE;
    }
    if ((code = cli_open_store(cli, &store)))
        return code;
    if (lb_report_write(store, argv[optind], fmt, a.outdir, &path, &err) < 0) {
        cli_error("report", "%s", err.msg);
        code = LB_EXIT_USAGE;
    } else {
        printf("%s\n", path);
    }
    free(path);
    lb_store_close(store);
    return code;
}

/* ---- halt --------------------------------------------------------------- */

struct halt_args { int release; const char *reason; };

static int halt_extra(int opt, const char *arg, void *ud)
{
    struct halt_args *a = ud;
    if (opt == 1)
        a->release = 1;
    else if (opt == 2)
        a->reason = arg;
    else
        return -1;
    return 0;
}

int cmd_halt(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat halt [--reason TEXT] | lifeboat halt --release\n\n"
        "Stop running drills (before their next step; rollbacks still run) and block\n"
        "new ones until --release. The flag lives in the results store.\n";
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"release", no_argument, NULL, 1},
        {"reason", required_argument, NULL, 2}, {NULL, 0, NULL, 0}};
    struct halt_args a = {0, NULL};
    struct lb_store *store = NULL;
    struct lb_err err = {0};
    int code = simple_opts(cli, argc, argv, usage, longopts, halt_extra, &a);

    if (code)
        return code < 0 ? 0 : code;
    if (optind != argc)
        return cli_usage(usage, 0);
    if ((code = cli_open_store(cli, &store)))
        return code;
    if (lb_store_halt_set(store, !a.release, a.reason ? a.reason : "lifeboat halt", &err) < 0) {
        cli_error("halt", "%s", err.msg);
        code = LB_EXIT_USAGE;
    } else if (!cli->quiet) {
        printf("%s\n", a.release ? "drills released" : "drills halted");
    }
    lb_store_close(store);
    return code;
}
