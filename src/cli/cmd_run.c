/* lifeboat run | check | list | demo, and the progress printer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lifeboat/report.h"
#include "lifeboat/runner.h"
#include "lifeboat/sandbox.h"
#include "lifeboat/script.h"
#include "lifeboat/store.h"

const char *cli_default_env_path(void)
{
    const char *e = getenv("LIFEBOAT_ENV");
    return e && *e ? e : LB_SANDBOX_DEFAULT_DIR "/environment.lua";
}

int cli_load_env(struct lb_cli *cli, const char *flag, int required, struct lb_env **out)
{
    const char *path = flag ? flag : cli_default_env_path();
    struct lb_err err = {0};
    (void)cli;
    *out = NULL;
    if (!flag && !lb_file_exists(path)) {
        if (!required)
            return 0;
        cli_error("environment", "%s does not exist: pass --env FILE, set LIFEBOAT_ENV, "
                                 "or bring the sandbox up with `lifeboat sandbox up`", path);
        return LB_EXIT_USAGE;
    }
    if (lb_env_load(path, out, &err) < 0) {
        fprintf(stderr, "lifeboat: %s\n", err.msg);
        return LB_EXIT_USAGE;
    }
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

static const char *paint(const struct lb_cli *cli, const char *code)
{
    return cli->color ? code : "";
}

void cli_on_event(const struct lb_event *ev, void *ud)
{
    const struct lb_cli *cli = ud;
    const char *reset = paint(cli, "\033[0m");
    char d[32];

    if (cli->quiet && ev->kind != LB_EV_GAP)
        return;
    switch (ev->kind) {
    case LB_EV_STEP_START:
        fprintf(stderr, "%s==>%s step %d %-8s %s\n", paint(cli, "\033[1;34m"), reset, ev->seq,
                ev->stepkind, ev->name);
        break;
    case LB_EV_STEP_END:
        lb_duration_format(ev->duration_ms >= 0 ? ev->duration_ms : 0, d, sizeof(d));
        if (ev->status == LB_STEP_PASSED)
            fprintf(stderr, "%s ok%s step %d %s (%s)\n", paint(cli, "\033[32m"), reset, ev->seq,
                    ev->name, d);
        else if (ev->status == LB_STEP_SKIPPED)
            fprintf(stderr, "%s --%s step %d %s skipped%s%s\n", paint(cli, "\033[2m"), reset,
                    ev->seq, ev->name, ev->text ? ": " : "", ev->text ? ev->text : "");
        else
            fprintf(stderr, "%s !!%s step %d %s %s (%s)%s%s\n", paint(cli, "\033[1;31m"), reset,
                    ev->seq, ev->name, lb_step_status_name(ev->status), d,
                    ev->text ? ": " : "", ev->text ? ev->text : "");
        break;
    case LB_EV_GAP:
        fprintf(stderr, "%s    gap%s [%s] %s: %s\n", paint(cli, "\033[33m"), reset, ev->severity,
                ev->name, ev->text ? ev->text : "");
        break;
    case LB_EV_CHECK:
        if (cli->verbose || !ev->ok)
            fprintf(stderr, "    check %s %s%s%s\n", ev->ok ? "ok    " : "FAILED", ev->name,
                    ev->text ? ": " : "", ev->text ? ev->text : "");
        break;
    case LB_EV_LOG:
        if (cli->verbose)
            fprintf(stderr, "    | %s\n", ev->text ? ev->text : "");
        break;
    case LB_EV_MARK:
        fprintf(stderr, "    mark %s\n", ev->name);
        break;
    case LB_EV_ROLLBACK_START:
        fprintf(stderr, "%s<==%s rollback %s\n", paint(cli, "\033[1;35m"), reset, ev->name);
        break;
    case LB_EV_ROLLBACK_END:
        lb_duration_format(ev->duration_ms, d, sizeof(d));
        fprintf(stderr, "%s%s%s rollback %s (%s)%s%s\n",
                paint(cli, ev->ok ? "\033[32m" : "\033[1;31m"), ev->ok ? " ok" : " !!", reset,
                ev->ok ? "passed" : "FAILED", d, ev->text ? ": " : "", ev->text ? ev->text : "");
        break;
    }
}

/* Ask once, on a TTY, before the first fault. */
static int confirm(const char *plan, void *ud)
{
    (void)ud;
    char answer[16] = "";
    fprintf(stderr, "%s\nInject the faults above into these targets? Type 'yes' to go on: ",
            plan);
    fflush(stderr);
    if (!fgets(answer, sizeof(answer), stdin))
        return 0;
    return strncmp(answer, "yes", 3) == 0;
}

/* ---- scenarios on disk ---------------------------------------------------- */

char *cli_scenarios_dir(const char *argv0)
{
    const char *e = getenv("LIFEBOAT_SCENARIOS");
    if (e && *e)
        return lb_xstrdup(e);
    if (lb_file_exists("scenarios"))
        return lb_xstrdup("scenarios");
#ifdef LB_SOURCE_DIR
    if (lb_file_exists(LB_SOURCE_DIR "/scenarios"))
        return lb_xstrdup(LB_SOURCE_DIR "/scenarios");
#endif
    char *dir = lb_path_dir(argv0);
    char *cand = lb_path_join(dir, "../scenarios");
    free(dir);
    return cand;
}

char *cli_find_scenario(const char *argv0, const char *file)
{
    char *dir = cli_scenarios_dir(argv0);
    char *p = lb_path_join(dir, file);
    free(dir);
    if (lb_file_exists(p))
        return p;
    free(p);
    return NULL;
}

/* ---- run ---------------------------------------------------------------- */

static const char RUN_USAGE[] =
    "usage: lifeboat run SCENARIO [--env FILE] [--dry-run] [--report FORMATS] [--yes]\n"
    "                    [-o DIR] [--store PATH] [--quiet] [--verbose]\n\n"
    "Run a drill. Every target is proven to be the pinned staging system before\n"
    "anything is touched, and again before every destructive action.\n\n"
    "  --env FILE        environment (default $LIFEBOAT_ENV, else\n"
    "                    .lifeboat/sandbox/environment.lua)\n"
    "  --dry-run         print and store the plan, run the guards, touch nothing\n"
    "  --report FORMATS  reports to write at the end: md, html, json, junit\n"
    "                    (default md,html,json) or none\n"
    "  -o, --output DIR  where reports go (default reports/)\n"
    "  --yes             do not ask before the first fault (asked only on a TTY)\n"
    "  --parallel N      connections for baselines and comparisons (default: cores)\n";

static void print_errors(const char *errors)
{
    const char *p = errors;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n > 0)
            fprintf(stderr, "lifeboat: %.*s\n", n, p);
        p = nl ? nl + 1 : NULL;
    }
}

/* Run a scenario and print the verdict; shared by run and demo. */
static int run_scenario(struct lb_cli *cli, const char *scenario, struct lb_env *env,
                        int dry_run, int yes, int parallel, const char *formats,
                        const char *outdir, char **report_path)
{
    struct lb_store *store = NULL;
    struct lb_runner_opts ro = {0};
    struct lb_runner_result res;
    struct lb_err err = {0};
    unsigned fmt = 0;
    int code;

    if (report_path)
        *report_path = NULL;
    if (formats && strcmp(formats, "none") != 0 &&
        lb_report_parse_formats(formats, &fmt, &err) < 0) {
        cli_error("report", "%s", err.msg);
        return LB_EXIT_USAGE;
    }
    code = cli_open_store(cli, &store);
    if (code)
        return code;
    lb_interrupt_install();
    ro.scenario_path = scenario;
    ro.env = env;
    ro.store = store;
    ro.dry_run = dry_run;
    ro.parallel = parallel;
    ro.on_event = cli_on_event;
    ro.event_ud = cli;
    if (fmt) {
        ro.report_dir = outdir ? outdir : "reports";
        /* the first file lb_report_write names: md, html, json, junit */
        ro.report_ext = lb_report_extension(fmt & LB_REPORT_MD     ? LB_REPORT_MD
                                            : fmt & LB_REPORT_HTML ? LB_REPORT_HTML
                                            : fmt & LB_REPORT_JSON ? LB_REPORT_JSON
                                                                   : LB_REPORT_JUNIT);
    }
    if (!dry_run && !yes && cli->tty_in)
        ro.confirm = confirm;
    code = lb_runner_run(&ro, &res, &err);
    if (!res.run_id[0]) {
        if (res.errors)
            print_errors(res.errors);
        else
            fprintf(stderr, "lifeboat: %s\n", err.msg);
        goto out;
    }
    if (dry_run && res.plan_text)
        fputs(res.plan_text, stdout);
    if (fmt) {
        char **paths = NULL;
        size_t npaths = 0;
        struct lb_err rerr = {0};
        if (lb_report_write_files(store, res.run_id, fmt, outdir ? outdir : "reports", &paths,
                                  &npaths, &rerr) < 0)
            cli_error("report", "%s", rerr.msg);
        for (size_t i = 0; i < npaths; i++)
            printf("report: %s\n", paths[i]);
        if (report_path && npaths)
            *report_path = lb_xstrdup(paths[0]);
        lb_report_paths_free(paths, npaths);
    }
    {
        char line[512];
        lb_run_summary_line(&res.summary, res.rto_objective_ms, res.rpo_objective_ms, line,
                            sizeof(line));
        printf("run %s: %s\n", res.run_id, line);
    }
    if (res.error && res.summary.exit_code != LB_EXIT_PASSED)
        fprintf(stderr, "lifeboat: run %s: %s\n", res.summary.status, res.error);
    if (res.summary.exit_code == LB_EXIT_ROLLBACK)
        fprintf(stderr, "lifeboat: ROLLBACK FAILED: the staging system may be left "
                        "damaged. Page a human and read `lifeboat show %s`.\n", res.run_id);
out:
    lb_runner_result_free(&res);
    lb_store_close(store);
    return code;
}

int cmd_run(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_ENV = 1, OPT_DRY, OPT_REPORT, OPT_YES, OPT_PARALLEL };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"env", required_argument, NULL, OPT_ENV},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"report", required_argument, NULL, OPT_REPORT},
        {"yes", no_argument, NULL, OPT_YES},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *env_path = NULL, *formats = "md,html,json", *outdir = NULL;
    int dry = 0, yes = 0, parallel = 0, opt, code;
    struct lb_env *env = NULL;

    while ((opt = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(RUN_USAGE, 1);
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_ENV: env_path = optarg; break;
        case OPT_DRY: dry = 1; break;
        case OPT_REPORT: formats = optarg; break;
        case OPT_YES: yes = 1; break;
        case 'o': outdir = optarg; break;
        case OPT_PARALLEL: {
            int64_t v;
            if (lb_parse_int64(optarg, &v) < 0 || v < 1 || v > 64) {
                cli_error("run", "--parallel must be 1..64");
                return LB_EXIT_USAGE;
            }
            parallel = (int)v;
            break;
        }
        default: return cli_usage(RUN_USAGE, 0);
        }
    }
    if (optind != argc - 1)
        return cli_usage(RUN_USAGE, 0);
    code = cli_load_env(cli, env_path, 1, &env);
    if (code)
        return code;
    code = run_scenario(cli, argv[optind], env, dry, yes, parallel, formats, outdir, NULL);
    lb_env_free(env);
    return code;
}

/* ---- check -------------------------------------------------------------- */

static const char CHECK_USAGE[] =
    "usage: lifeboat check SCENARIO... [--env FILE]\n\n"
    "Load each scenario in plan mode and report API misuse with file:line.\n"
    "No connection is made. With an environment (--env, $LIFEBOAT_ENV or the\n"
    "sandbox's, when present) target and backup names are checked too.\n";

int cmd_check(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_ENV = 1 };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"env", required_argument, NULL, OPT_ENV}, {NULL, 0, NULL, 0}};
    const char *env_path = NULL;
    struct lb_env *env = NULL;
    int opt, code = 0;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(CHECK_USAGE, 1);
        if (r > 0)
            continue;
        if (opt == OPT_ENV)
            env_path = optarg;
        else
            return cli_usage(CHECK_USAGE, 0);
    }
    if (optind >= argc)
        return cli_usage(CHECK_USAGE, 0);
    code = cli_load_env(cli, env_path, env_path != NULL, &env);
    if (code)
        return code;
    for (int i = optind; i < argc; i++) {
        char *errors = NULL;
        struct lb_err err = {0};
        if (lb_runner_check(argv[i], env, &errors, NULL, &err) < 0) {
            if (errors)
                print_errors(errors);
            else
                fprintf(stderr, "lifeboat: %s\n", err.msg);
            code = LB_EXIT_USAGE;
        } else if (!cli->quiet) {
            printf("ok  %s\n", argv[i]);
        }
        free(errors);
    }
    lb_env_free(env);
    return code;
}

/* ---- list --------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_list(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] = "usage: lifeboat list [--json]\n\n"
                                "Scenarios under scenarios/ with id, title and objectives.\n";
    static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct lb_script_opts so = {0};
    char **files = NULL;
    size_t n = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(usage, 1);
        if (r == 0)
            return cli_usage(usage, 0);
    }
    char *dir = cli_scenarios_dir(cli->argv0);
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("list", "no scenarios directory (%s)", dir);
        free(dir);
        return LB_EXIT_USAGE;
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' || !lb_str_ends(de->d_name, ".lua"))
            continue;
        files = lb_xrealloc(files, (n + 1) * sizeof(char *));
        files[n++] = lb_path_join(dir, de->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof(char *), cmp_str);
    if (cli->json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        struct lb_script *s = NULL;
        struct lb_err err = {0};
        char rto[32] = "-", rpo[32] = "-";
        so.path = files[i];
        if (lb_script_load(&so, &s, &err) == 0) {
            if (s->rto_ms >= 0)
                lb_duration_format(s->rto_ms, rto, sizeof(rto));
            if (s->rpo_ms >= 0)
                lb_duration_format(s->rpo_ms, rpo, sizeof(rpo));
            if (cli->json)
                printf("%s\n  {\"id\": \"%s\", \"title\": \"%s\", \"file\": \"%s\", "
                       "\"rto_ms\": %lld, \"rpo_ms\": %lld, \"steps\": %zu}",
                       i ? "," : "", s->id, s->title, files[i], (long long)s->rto_ms,
                       (long long)s->rpo_ms, s->nsteps);
            else
                printf("%-28s RTO %-6s RPO %-6s %s\n", s->id, rto, rpo, s->title);
        } else {
            fprintf(stderr, "lifeboat: %s\n", err.msg);
        }
        lb_script_free(s);
        free(files[i]);
    }
    if (cli->json)
        printf("\n]\n");
    free(files);
    free(dir);
    return 0;
}

/* ---- demo --------------------------------------------------------------- */

static void sandbox_progress(const char *line, void *ud)
{
    const struct lb_cli *cli = ud;
    if (!cli->quiet)
        fprintf(stderr, "sandbox: %s\n", line);
}

int cmd_demo(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat demo [--scale N]\n\n"
        "Bring the sandbox up if needed (" LB_SANDBOX_DEFAULT_DIR "), run the\n"
        "dropped-table drill against it, print the report path and the verdict.\n";
    enum { OPT_SCALE = 1 };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"scale", required_argument, NULL, OPT_SCALE}, {NULL, 0, NULL, 0}};
    struct lb_sandbox_opts so = {0};
    struct lb_err err = {0};
    struct lb_env *env = NULL;
    char *scenario = NULL, *report = NULL;
    int opt, code;

    so.dir = LB_SANDBOX_DEFAULT_DIR;
    so.scale = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(usage, 1);
        if (r > 0)
            continue;
        if (opt == OPT_SCALE) {
            int64_t v;
            if (lb_parse_int64(optarg, &v) < 0 || v < 1 || v > 10000) {
                cli_error("demo", "--scale must be 1..10000");
                return LB_EXIT_USAGE;
            }
            so.scale = (int)v;
        } else {
            return cli_usage(usage, 0);
        }
    }
    scenario = cli_find_scenario(cli->argv0, "dropped_table.lua");
    if (!scenario) {
        cli_error("demo", "cannot find scenarios/dropped_table.lua (run from the lifeboat "
                          "checkout or set LIFEBOAT_SCENARIOS)");
        return LB_EXIT_USAGE;
    }
    so.progress = sandbox_progress;
    so.progress_ud = cli;
    if (lb_sandbox_up(&so, &err) < 0) {
        cli_error("sandbox", "%s", err.msg);
        free(scenario);
        return LB_EXIT_USAGE;
    }
    char *env_path = lb_path_join(so.dir, "environment.lua");
    code = cli_load_env(cli, env_path, 1, &env);
    free(env_path);
    if (code == 0)
        code = run_scenario(cli, scenario, env, 0, 1, 0, "md,html,json", NULL, &report);
    if (report)
        printf("open the report: %s\n", report);
    free(report);
    free(scenario);
    lb_env_free(env);
    return code;
}
