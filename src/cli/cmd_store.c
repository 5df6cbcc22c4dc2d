/* lifeboat runs | show | report | halt: reading (and flagging) the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

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

/* s as a JSON string literal, quotes included. Caller frees. */
static char *json_quote(const char *s)
{
    cJSON *node = cJSON_CreateString(s ? s : "");
    char *text = node ? cJSON_PrintUnformatted(node) : NULL;
    char *out = lb_xstrdup(text ? text : "\"\"");
    cJSON_free(text);
    cJSON_Delete(node);
    return out;
}

/* The run list as a JSON array, one run per line. */
static void print_runs_json(struct lb_run_view **runs, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        const struct lb_run_view *v = runs[i];
        char started[40];
        char *id = json_quote(v->id), *scenario = json_quote(v->scenario_id),
             *status = json_quote(v->status);
        lb_wall_format(v->started_at, started, sizeof(started));
        printf("%s\n  {\"id\": %s, \"scenario\": %s, \"status\": %s, "
               "\"started_at\": \"%s\", \"rto_ms\": %lld, \"rpo_ms\": %lld, "
               "\"exit_code\": %d, \"dry_run\": %s}",
               i ? "," : "", id, scenario, status, started, (long long)v->rto_ms,
               (long long)v->rpo_ms, v->exit_code, v->dry_run ? "true" : "false");
        free(id);
        free(scenario);
        free(status);
    }
    printf("%s]\n", n ? "\n" : "");
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
    if (cli->json) {
        print_runs_json(runs, n);
    } else if (n) {
        printf("%-22s %-26s %-16s %-20s %9s %9s %4s\n", "RUN", "SCENARIO", "STATUS", "STARTED",
               "RTO", "RPO", "EXIT");
    }
    for (size_t i = 0; i < n && !cli->json; i++) {
        const struct lb_run_view *v = runs[i];
        char started[40], rto[32], rpo[32];
        lb_wall_format(v->started_at, started, sizeof(started));
        fmt_ms(v->rto_ms, rto, sizeof(rto));
        fmt_ms(v->rpo_ms, rpo, sizeof(rpo));
        printf("%-22s %-26s %-16s %-20.19s %9s %9s %4d\n", v->id,
               v->scenario_id ? v->scenario_id : "-", v->status, started, rto, rpo,
               v->exit_code);
    }
    if (!cli->json && !n && !cli->quiet)
        fprintf(stderr, "no runs in %s\n", cli->store_path);
    lb_run_list_free(runs, n);
    lb_store_close(store);
    return 0;
}

/* ---- show --------------------------------------------------------------- */

/* Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
static int stdout_color(void)
{
    const char *no_color = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(no_color != NULL && no_color[0] != '\0');
}

int cmd_show(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat show RUN [--json]\n\n"
        "One run's timeline (bars on a shared time axis, aligned durations), checks,\n"
        "gaps and rollbacks. RUN is an id, a unique prefix of one, or 'latest'.\n"
        "Colour on a terminal unless NO_COLOR is set.\n";
    static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct lb_store *store = NULL;
    struct lb_run_view *v = NULL;
    struct lb_err err = {0};
    struct lb_buf b = {0};
    struct lb_report_text_opts opts = {0, 0};
    int code = simple_opts(cli, argc, argv, usage, longopts, NULL, NULL);

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
        lb_report_json(v, &b);
    } else {
        opts.color = stdout_color();
        lb_report_text(v, &opts, &b);
    }
    fputs(b.data ? b.data : "", stdout);
    lb_buf_free(&b);
    lb_run_view_free(v);
    lb_store_close(store);
    return 0;
}

/* ---- report ------------------------------------------------------------- */

struct report_args { const char *formats, *outdir, *since; };

static int report_extra(int opt, const char *arg, void *ud)
{
    struct report_args *a = ud;
    if (opt == 'f')
        a->formats = arg;
    else if (opt == 'o')
        a->outdir = arg;
    else if (opt == 1)
        a->since = arg;
    else
        return -1;
    return 0;
}

int cmd_report(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat report RUN [--format md,html,json,junit] [-o DIR]\n"
        "       lifeboat report --all-since DATE [--format ...] [-o DIR]\n\n"
        "Write a run's reports from the store (default formats md,html,json, into\n"
        "reports/), one file per format named RUN.md, RUN.html, RUN.json,\n"
        "RUN.junit.xml; prints the paths. RUN is an id, a unique prefix or 'latest'.\n"
        "--all-since DATE (YYYY-MM-DD, a UTC timestamp, or a quarter YYYY-Qn) writes\n"
        "the reports of every run since then and an index per format (index.md,\n"
        "index.html, index.json, index.junit.xml with one testsuite per run).\n";
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'}, {"all-since", required_argument, NULL, 1},
        {NULL, 0, NULL, 0}};
    struct report_args a = {"md,html,json", "reports", NULL};
    struct lb_store *store = NULL;
    struct lb_err err = {0};
    unsigned fmt = 0;
    char **paths = NULL;
    size_t npaths = 0;
    int64_t since = 0;
    int rc, code = simple_opts(cli, argc, argv, usage, longopts, report_extra, &a);

    if (code)
        return code < 0 ? 0 : code;
    if (a.since != NULL ? optind != argc : optind != argc - 1)
        return cli_usage(usage, 0);
    if (lb_report_parse_formats(a.formats, &fmt, &err) < 0 ||
        (a.since != NULL && lb_report_parse_since(a.since, &since, &err) < 0)) {
        cli_error("report", "%s", err.msg);
        return LB_EXIT_USAGE;
    }
    if ((code = cli_open_store(cli, &store)))
        return code;
    if (a.since != NULL)
        rc = lb_report_index(store, since, fmt, a.outdir, &paths, &npaths, &err);
    else
        rc = lb_report_write_files(store, argv[optind], fmt, a.outdir, &paths, &npaths, &err);
    if (rc < 0) {
        cli_error("report", "%s", err.msg);
        code = LB_EXIT_USAGE;
    } else {
        for (size_t i = 0; i < npaths; i++)
            printf("%s\n", paths[i]);
    }
    lb_report_paths_free(paths, npaths);
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
