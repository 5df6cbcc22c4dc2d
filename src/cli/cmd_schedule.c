/* lifeboat schedule | due | ack: unannounced drills and manual steps. */
#include <glob.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "lifeboat/report.h"
#include "lifeboat/runner.h"
#include "lifeboat/schedule.h"
#include "lifeboat/script.h"
#include "lifeboat/store.h"

#define DEFAULT_GRACE_MS (3600LL * 1000)

/* The user running this command. */
static void whoami(char *out, size_t outsz)
{
    const char *user = getenv("SUDO_USER");
    if (user == NULL || user[0] == '\0')
        user = getenv("USER");
    if (user == NULL || user[0] == '\0')
        user = getenv("LOGNAME");
    if (user == NULL || user[0] == '\0') {
        struct passwd *pw = getpwuid(geteuid());
        user = pw != NULL ? pw->pw_name : "unknown";
    }
    snprintf(out, outsz, "%s", user);
}

static int parse_duration_opt(const char *cmd, const char *flag, const char *arg,
                              int64_t *out)
{
    struct lb_err err = {0};
    if (lb_duration_parse(arg, out, &err) < 0) {
        cli_error(cmd, "%s: %s", flag, err.msg);
        return -1;
    }
    return 0;
}

/* A JSON string literal of text (no control characters survive). */
static void json_str(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- schedule ------------------------------------------------------------ */

static const char SCHEDULE_USAGE[] =
    "usage: lifeboat schedule --quarter YYYYQn [--count N] [--window TEXT]...\n"
    "                         [--blackout DATE[..DATE]]... [--scenarios GLOB]...\n"
    "                         [--seed TEXT] [--spacing DURATION] [--replace]\n"
    "       lifeboat schedule --from DATE|TIME --until DATE|TIME [same options]\n"
    "       lifeboat schedule --list\n"
    "       lifeboat schedule --reveal [--plan ID | --quarter YYYYQn] [--force]\n"
    "       lifeboat schedule --verify [--plan ID | --quarter YYYYQn] [--commitment HEX]\n"
    "                                  [--grace DURATION]\n\n"
    "Plan unannounced drills: N random instants inside the windows of a period,\n"
    "none on a blackout, each with a scenario drawn from the pool. The plan is\n"
    "sealed: the store keeps it and only its SHA-256 commitment is shown, so the\n"
    "dates stay unknown but anyone can check afterwards that the drills followed\n"
    "the committed plan. `lifeboat due` (cron or a systemd timer) runs them.\n\n"
    "  --quarter YYYYQn    the period, e.g. 2027Q1 (local dates of each window)\n"
    "  --from, --until     another period: two dates, or two UTC instants\n"
    "  --count N           drills in the period (default 1)\n"
    "  --window TEXT       \"Mon-Fri 09:00-17:00 Europe/Berlin\" (repeatable; default\n"
    "                      " LB_PLAN_DEFAULT_WINDOW ")\n"
    "  --blackout DATES    no drill on these local dates: 2027-02-15, a range\n"
    "                      2027-03-01..2027-03-05, comma lists (repeatable)\n"
    "  --scenarios GLOB    the pool (repeatable; default every scenario under\n"
    "                      scenarios/)\n"
    "  --seed TEXT         reproducible plans; default 32 random bytes. Anyone who\n"
    "                      knows the seed and the options can compute the dates\n"
    "  --spacing DURATION  least time between two drills (default 1d)\n"
    "  --include-past      in a period that has begun, also draw instants already\n"
    "                      past (they become missed drills; for testing `due`)\n"
    "  --replace           supersede the active plan of the same period (recorded)\n"
    "  --env FILE          check the pool's target and backup names against it\n"
    "  --list              every plan: id, period, count, commitment (no dates)\n"
    "  --reveal            print the plan's canonical text (the commitment is its\n"
    "                      sha256) once its period has ended; --force before\n"
    "  --verify            recompute the commitment, draw the drills again from the\n"
    "                      seed, and check every drill ran within --grace (default\n"
    "                      1h) of its instant or is recorded as missed\n";

struct sched_args {
    const char *quarter, *from, *until, *seed, *plan, *commitment, *env_path;
    const char **windows; size_t nwindows;
    char **blackouts; size_t nblackouts;
    const char **globs; size_t nglobs;
    int count, replace, force, include_past;
    int64_t spacing_ms, grace_ms;
    enum { MODE_MAKE, MODE_LIST, MODE_REVEAL, MODE_VERIFY } mode;
};

static void sched_args_free(struct sched_args *a)
{
    free(a->windows);
    for (size_t i = 0; i < a->nblackouts; i++)
        free(a->blackouts[i]);
    free(a->blackouts);
    free(a->globs);
}

/* Split a comma list of blackouts into the arguments. */
static void add_blackouts(struct sched_args *a, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n > 0) {
            a->blackouts = lb_xrealloc(a->blackouts, (a->nblackouts + 1) * sizeof(char *));
            a->blackouts[a->nblackouts++] = lb_xstrndup(p, n);
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* The scenario pool: every file the globs match, loaded to learn its id. */
static int load_pool(struct lb_cli *cli, const struct sched_args *a, struct lb_env *env,
                     struct lb_pool_entry **out, size_t *n)
{
    glob_t g;
    char *dflt = NULL;
    int code = 0, flags = 0;

    *out = NULL;
    *n = 0;
    memset(&g, 0, sizeof g);
    if (a->nglobs == 0) {
        char *dir = cli_scenarios_dir(cli->argv0);
        dflt = lb_path_join(dir, "*.lua");
        free(dir);
    }
    for (size_t i = 0; i < (a->nglobs ? a->nglobs : 1); i++) {
        const char *pattern = a->nglobs ? a->globs[i] : dflt;
        size_t before = g.gl_pathc;
        int r = glob(pattern, flags, NULL, &g);
        if (r != 0 && r != GLOB_NOMATCH) {
            cli_error("schedule", "%s: cannot read the directory", pattern);
            code = LB_EXIT_USAGE;
            goto out;
        }
        if (g.gl_pathc == before) {
            cli_error("schedule", "no scenario matches %s", pattern);
            code = LB_EXIT_USAGE;
            goto out;
        }
        flags = GLOB_APPEND;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct lb_script_opts so = {.path = g.gl_pathv[i], .env = env};
        struct lb_script *s = NULL;
        struct lb_err err = {0};
        char *abs = lb_path_abs(g.gl_pathv[i]);
        int dup = 0;
        for (size_t j = 0; j < *n; j++)
            dup |= strcmp((*out)[j].file, abs) == 0;
        if (dup) {
            free(abs);
            continue;
        }
        if (lb_script_load(&so, &s, &err) < 0) {
            fprintf(stderr, "lifeboat: schedule: %s does not load: %s\n", g.gl_pathv[i],
                    err.msg);
            code = LB_EXIT_USAGE;
        } else {
            *out = lb_xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[*n].id = lb_xstrdup(s->id);
            (*out)[*n].sha256 = lb_xstrdup(s->sha256);
            (*out)[*n].file = abs;
            abs = NULL;
            (*n)++;
        }
        free(abs);
        lb_script_free(s);
    }
out:
    if (g.gl_pathv != NULL)
        globfree(&g);
    free(dflt);
    return code;
}

static void pool_free(struct lb_pool_entry *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].id);
        free(p[i].sha256);
        free(p[i].file);
    }
    free(p);
}

static int schedule_make(struct lb_cli *cli, const struct sched_args *a)
{
    struct lb_plan_opts po = {0};
    struct lb_plan *plan = NULL;
    struct lb_pool_entry *pool = NULL;
    struct lb_sched_drill_info *drills = NULL;
    struct lb_sched_plan_info info = {0};
    struct lb_store *store = NULL;
    struct lb_env *env = NULL;
    struct lb_buf canonical = {0};
    struct lb_err err = {0};
    int64_t *eligible = NULL, now = lb_wall_ms(), scan_from;
    size_t npool = 0, neligible = 0;
    char commitment[65], id[17], label[96], me[128], until[32];
    int code;

    if (a->quarter && (a->from || a->until)) {
        cli_error("schedule", "--quarter or --from/--until, not both");
        return LB_EXIT_USAGE;
    }
    if (a->quarter ? lb_period_quarter(a->quarter, &po.period, &err) < 0
                   : lb_period_range(a->from, a->until, &po.period, &err) < 0) {
        cli_error("schedule", "%s", a->quarter || a->from || a->until
                                        ? err.msg : "which period? --quarter YYYYQn");
        return LB_EXIT_USAGE;
    }
    if (lb_period_end_ms(&po.period) <= now && !a->include_past) {
        lb_period_label(&po.period, label, sizeof label);
        cli_error("schedule", "the period %s has ended: plan a future one", label);
        return LB_EXIT_USAGE;
    }
    /* Cheap mistakes first, before every scenario is loaded. */
    for (size_t i = 0; i < a->nwindows; i++) {
        struct lb_window w;
        if (lb_window_parse(a->windows[i], NULL, &w, &err) < 0) {
            cli_error("schedule", "%s", err.msg);
            return LB_EXIT_USAGE;
        }
        lb_window_free(&w);
    }
    for (size_t i = 0; i < a->nblackouts; i++) {
        struct lb_blackout b;
        if (lb_blackout_parse(a->blackouts[i], &b, &err) < 0) {
            cli_error("schedule", "%s", err.msg);
            return LB_EXIT_USAGE;
        }
    }
    code = cli_load_env(cli, a->env_path, a->env_path != NULL, &env);
    if (code)
        return code;
    code = load_pool(cli, a, env, &pool, &npool);
    if (code)
        goto out;

    /* A period that has begun: no drill in the past, unless asked. */
    scan_from = po.period.dates ? po.period.from * 86400000LL - 26LL * 3600 * 1000
                                : po.period.from;
    po.not_before = !a->include_past && now > scan_from ? now : -1;
    po.windows = a->windows;
    po.nwindows = a->nwindows;
    po.blackouts = (const char *const *)a->blackouts;
    po.nblackouts = a->nblackouts;
    po.pool = pool;
    po.npool = npool;
    po.count = a->count;
    po.spacing_ms = a->spacing_ms;
    po.seed = a->seed;
    if (lb_plan_make(&po, &plan, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    lb_plan_canonical(plan, &canonical);
    lb_sha256_hex(canonical.data, canonical.len, commitment);
    snprintf(id, sizeof id, "%.16s", commitment);
    lb_period_label(&plan->period, label, sizeof label);
    whoami(me, sizeof me);
    drills = lb_xcalloc(plan->ndrills, sizeof *drills);
    for (size_t i = 0; i < plan->ndrills; i++) {
        drills[i].seq = plan->drills[i].seq;
        drills[i].due_at = plan->drills[i].at;
        drills[i].scenario_id = plan->drills[i].scenario_id;
        drills[i].scenario_file = plan->drills[i].scenario_file;
        drills[i].scenario_sha256 = plan->drills[i].scenario_sha256;
    }
    info.id = id;
    info.label = label;
    info.commitment = commitment;
    info.canonical = canonical.data;
    info.created_by = me;
    info.created_at = now;
    info.period_end = lb_period_end_ms(&plan->period);
    info.count = plan->count;
    code = cli_open_store(cli, &store);
    if (code)
        goto out;
    if (lb_store_sched_add(store, &info, drills, plan->ndrills, a->replace, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    if (lb_plan_eligible(plan, &eligible, &neligible, &err) < 0)
        neligible = 0;
    lb_instant_format(info.period_end, until, sizeof until);
    if (cli->json) {
        printf("{\"plan\": \"%s\", \"period\": ", id);
        json_str(stdout, label);
        printf(", \"count\": %d, \"commitment\": \"%s\", \"scenarios\": %zu, "
               "\"eligible_hours\": %.1f, \"windows\": [", plan->count, commitment,
               plan->npool, (double)neligible / 60.0);
        for (size_t i = 0; i < plan->nwindows; i++) {
            char w[256];
            lb_window_format(&plan->windows[i], w, sizeof w);
            printf("%s", i ? ", " : "");
            json_str(stdout, w);
        }
        printf("], \"blackouts\": [");
        for (size_t i = 0; i < plan->nblackouts; i++) {
            char b[64];
            lb_blackout_format(&plan->blackouts[i], b, sizeof b);
            printf("%s", i ? ", " : "");
            json_str(stdout, b);
        }
        printf("]}\n");
    } else {
        printf("plan %s sealed: %s, %d drill%s\n", id, label, plan->count,
               plan->count == 1 ? "" : "s");
        printf("commitment %s\n", commitment);
    }
    if (!cli->quiet && !cli->json) {
        for (size_t i = 0; i < plan->nwindows; i++) {
            char w[256];
            lb_window_format(&plan->windows[i], w, sizeof w);
            fprintf(stderr, "  window   %s\n", w);
        }
        for (size_t i = 0; i < plan->nblackouts; i++) {
            char b[64];
            lb_blackout_format(&plan->blackouts[i], b, sizeof b);
            fprintf(stderr, "  blackout %s\n", b);
        }
        fprintf(stderr, "  pool     %zu scenario%s; %.0f hours of the period are in a window\n",
                plan->npool, plan->npool == 1 ? "" : "s", (double)neligible / 60.0);
        fprintf(stderr, "Publish the commitment where people will see it. The dates stay "
                        "in the store:\nkeep it readable by the account that runs `lifeboat "
                        "due` only. After %s,\n`lifeboat schedule --reveal --plan %s` prints "
                        "the plan; its sha256 is the commitment.\n", until, id);
    }
    code = 0;
out:
    free(eligible);
    free(drills);
    lb_buf_free(&canonical);
    lb_plan_free(plan);
    pool_free(pool, npool);
    lb_env_free(env);
    lb_store_close(store);
    return code;
}

static int schedule_list(struct lb_cli *cli)
{
    struct lb_store *store = NULL;
    struct lb_sched_view **v = NULL;
    struct lb_err err = {0};
    size_t n = 0;
    int code = cli_open_store(cli, &store);

    if (code)
        return code;
    if (lb_store_sched_list(store, &v, &n, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        lb_store_close(store);
        return LB_EXIT_USAGE;
    }
    if (cli->json)
        printf("[");
    else if (n)
        printf("%-16s %-24s %6s %-10s %-20s %s\n", "PLAN", "PERIOD", "DRILLS", "STATUS",
               "CREATED", "COMMITMENT");
    for (size_t i = 0; i < n; i++) {
        char created[32];
        lb_instant_format(v[i]->created_at, created, sizeof created);
        if (cli->json) {
            printf("%s\n  {\"plan\": \"%s\", \"period\": ", i ? "," : "", v[i]->id);
            json_str(stdout, v[i]->label);
            printf(", \"count\": %d, \"status\": \"%s\", \"created_at\": \"%s\", "
                   "\"commitment\": \"%s\", \"revealed\": %s}",
                   v[i]->count, v[i]->status, created, v[i]->commitment,
                   v[i]->revealed_at >= 0 ? "true" : "false");
        } else {
            printf("%-16s %-24s %6d %-10s %-20s %s\n", v[i]->id, v[i]->label, v[i]->count,
                   v[i]->status, created, v[i]->commitment);
        }
    }
    if (cli->json)
        printf("%s]\n", n ? "\n" : "");
    else if (!n && !cli->quiet)
        fprintf(stderr, "no schedules in %s\n", cli->store_path);
    lb_sched_list_free(v, n);
    lb_store_close(store);
    return 0;
}

static int schedule_reveal(struct lb_cli *cli, const struct sched_args *a)
{
    struct lb_store *store = NULL;
    struct lb_sched_view *v = NULL;
    struct lb_err err = {0};
    int64_t now = lb_wall_ms();
    char me[128], end[32];
    int code = cli_open_store(cli, &store);

    if (code)
        return code;
    if (lb_store_sched_load(store, a->plan ? a->plan : a->quarter, &v, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    lb_instant_format(v->period_end, end, sizeof end);
    if (now < v->period_end && !a->force) {
        cli_error("schedule", "plan %s (%s) runs until %s: revealing it now would tell "
                  "people when the drills are. --force reveals it anyway, on the record",
                  v->id, v->label, end);
        code = LB_EXIT_USAGE;
        goto out;
    }
    whoami(me, sizeof me);
    if (now < v->period_end)
        fprintf(stderr, "lifeboat: WARNING: revealing plan %s (%s) BEFORE its period ends "
                        "(%s).\nlifeboat: WARNING: the drills still to come are no longer "
                        "unannounced. This is recorded in the store (by %s).\n",
                v->id, v->label, end, me);
    if (lb_store_sched_revealed(store, v->id, me, now, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    fputs(v->canonical, stdout);
    if (!cli->quiet)
        fprintf(stderr, "sha256 of the text above: %s\n(check it: lifeboat schedule --reveal "
                        "--plan %s | sha256sum)\n", v->commitment, v->id);
out:
    lb_sched_view_free(v);
    lb_store_close(store);
    return code;
}

/* One verdict line of --verify; counts problems. */
static void verdict(int *problems, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(int *problems, int ok, const char *fmt, ...)
{
    va_list ap;
    printf("%s ", ok ? "ok  " : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (!ok)
        (*problems)++;
}

/* What happened to one drill, judged against its run. */
static void verify_drill(struct lb_store *store, const struct lb_sched_drill_view *d,
                         int64_t now, int64_t grace_ms, int *problems)
{
    struct lb_run_view *run = NULL;
    struct lb_err err = {0};
    char at[32], late[32];

    lb_instant_format(d->due_at, at, sizeof at);
    if (strcmp(d->state, "pending") == 0) {
        if (now <= d->due_at)
            /* Not yet due: its instant stays sealed. */
            printf("ok   drill %d: not due yet\n", d->seq);
        else if (now - d->due_at <= grace_ms)
            printf("ok   drill %d %s %s: due, within the grace period\n", d->seq, at,
                   d->scenario_id);
        else
            verdict(problems, 0, "drill %d %s %s: not run and not recorded as missed (has "
                    "`lifeboat due` run since?)", d->seq, at, d->scenario_id);
        return;
    }
    if (strcmp(d->state, "cancelled") == 0) {
        printf("ok   drill %d %s %s: cancelled (the plan was superseded)\n", d->seq, at,
               d->scenario_id);
        return;
    }
    if (strcmp(d->state, "claimed") == 0) {
        printf("ok   drill %d %s %s: running now (pid %lld on %s)\n", d->seq, at,
               d->scenario_id, d->claimed_pid, d->claimed_host ? d->claimed_host : "?");
        return;
    }
    if (d->run_id == NULL || lb_store_load_run(store, d->run_id, &run, &err) < 0) {
        verdict(problems, 0, "drill %d %s %s: %s, but no run records it", d->seq, at,
                d->scenario_id, d->state);
        return;
    }
    if (strcmp(d->state, "missed") == 0) {
        verdict(problems, 1, "drill %d %s %s: missed, recorded as a gap in run %s", d->seq,
                at, d->scenario_id, run->id);
    } else if (strcmp(d->state, "failed") == 0) {
        verdict(problems, 1, "drill %d %s %s: could not start, recorded as a gap in run %s",
                d->seq, at, d->scenario_id, run->id);
    } else if (strcmp(d->state, "interrupted") == 0) {
        verdict(problems, 1, "drill %d %s %s: interrupted (its `due` died), run %s (%s)",
                d->seq, at, d->scenario_id, run->id, run->status);
    } else {
        int64_t lag = run->started_at - d->due_at;
        lb_duration_format(lag < 0 ? -lag : lag, late, sizeof late);
        if (strcmp(run->scenario_id, d->scenario_id) != 0)
            verdict(problems, 0, "drill %d %s %s: run %s is scenario %s, not the planned one",
                    d->seq, at, d->scenario_id, run->id, run->scenario_id);
        else if (lag < 0)
            verdict(problems, 0, "drill %d %s %s: run %s started %s BEFORE its instant",
                    d->seq, at, d->scenario_id, run->id, late);
        else if (lag > grace_ms)
            verdict(problems, 0, "drill %d %s %s: run %s started %s after its instant, "
                    "later than the grace", d->seq, at, d->scenario_id, run->id, late);
        else if (run->scenario_sha256 == NULL ||
                 strcmp(run->scenario_sha256, d->scenario_sha256) != 0)
            verdict(problems, 0, "drill %d %s %s: run %s ran a scenario file that changed "
                    "since the plan was sealed (sha256 %.12s..., planned %.12s...)", d->seq,
                    at, d->scenario_id, run->id,
                    run->scenario_sha256 ? run->scenario_sha256 : "?", d->scenario_sha256);
        else
            verdict(problems, 1, "drill %d %s %s: ran on time, run %s (%s, exit %d), %s "
                    "after its instant", d->seq, at, d->scenario_id, run->id, run->status,
                    run->exit_code, late);
    }
    lb_run_view_free(run);
}

static int schedule_verify(struct lb_cli *cli, const struct sched_args *a)
{
    struct lb_store *store = NULL;
    struct lb_sched_view *v = NULL;
    struct lb_plan *plan = NULL;
    struct lb_err err = {0};
    int64_t now = lb_wall_ms();
    char sha[65];
    int problems = 0, code = cli_open_store(cli, &store);

    if (code)
        return code;
    if (lb_store_sched_load(store, a->plan ? a->plan : a->quarter, &v, &err) < 0) {
        cli_error("schedule", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    printf("plan %s: %s, %d drill%s, %s\n", v->id, v->label, v->count,
           v->count == 1 ? "" : "s", v->status);
    if (a->commitment) {
        const char *held = a->commitment;
        if (strncasecmp(held, "sha256:", 7) == 0)
            held += 7;
        verdict(&problems, strcasecmp(held, v->commitment) == 0,
                "the commitment you hold %s this plan's (%s)",
                strcasecmp(held, v->commitment) == 0 ? "is" : "is NOT", v->commitment);
    }
    lb_sha256_hex(v->canonical, strlen(v->canonical), sha);
    verdict(&problems, strcmp(sha, v->commitment) == 0,
            "the stored plan text %s its commitment", strcmp(sha, v->commitment) == 0
                                                         ? "hashes to"
                                                         : "does NOT hash to (altered)");
    if (lb_plan_parse(v->canonical, NULL, &plan, &err) < 0) {
        verdict(&problems, 0, "the plan text does not read: %s", err.msg);
    } else {
        int same = plan->ndrills == v->ndrills;
        int rc = lb_plan_rederive(plan, &err);
        verdict(&problems, rc == 0, "the drills %s", rc == 0
                    ? "are the ones its seed draws from its windows, blackouts and pool"
                    : err.msg);
        for (size_t i = 0; same && i < plan->ndrills; i++)
            same = plan->drills[i].seq == v->drills[i].seq &&
                   plan->drills[i].at == v->drills[i].due_at &&
                   strcmp(plan->drills[i].scenario_id, v->drills[i].scenario_id) == 0 &&
                   strcmp(plan->drills[i].scenario_sha256, v->drills[i].scenario_sha256) == 0;
        verdict(&problems, same, "the drills `due` works from %s the committed ones",
                same ? "are" : "are NOT (altered in the store)");
    }
    if (v->revealed_at >= 0 && v->revealed_at < v->period_end) {
        char at[32];
        lb_instant_format(v->revealed_at, at, sizeof at);
        printf("note revealed early, at %s by %s: drills after that were not unannounced\n",
               at, v->revealed_by ? v->revealed_by : "?");
    }
    for (size_t i = 0; i < v->ndrills; i++)
        verify_drill(store, &v->drills[i], now, a->grace_ms, &problems);
    if (problems)
        printf("NOT verified: %d problem%s\n", problems, problems == 1 ? "" : "s");
    else
        printf("verified: the record follows the committed plan\n");
    code = problems ? LB_EXIT_GAPS : 0;
out:
    lb_plan_free(plan);
    lb_sched_view_free(v);
    lb_store_close(store);
    return code;
}

int cmd_schedule(struct lb_cli *cli, int argc, char **argv)
{
    enum {
        OPT_QUARTER = 1, OPT_FROM, OPT_UNTIL, OPT_COUNT, OPT_WINDOW, OPT_BLACKOUT,
        OPT_SCENARIOS, OPT_SEED, OPT_SPACING, OPT_REPLACE, OPT_ENV, OPT_LIST, OPT_REVEAL,
        OPT_FORCE, OPT_VERIFY, OPT_PLAN, OPT_COMMITMENT, OPT_GRACE, OPT_PAST,
    };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"quarter", required_argument, NULL, OPT_QUARTER},
        {"from", required_argument, NULL, OPT_FROM},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"count", required_argument, NULL, OPT_COUNT},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"blackout", required_argument, NULL, OPT_BLACKOUT},
        {"scenarios", required_argument, NULL, OPT_SCENARIOS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"spacing", required_argument, NULL, OPT_SPACING},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"include-past", no_argument, NULL, OPT_PAST},
        {"env", required_argument, NULL, OPT_ENV},
        {"list", no_argument, NULL, OPT_LIST},
        {"reveal", no_argument, NULL, OPT_REVEAL},
        {"force", no_argument, NULL, OPT_FORCE},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"plan", required_argument, NULL, OPT_PLAN},
        {"commitment", required_argument, NULL, OPT_COMMITMENT},
        {"grace", required_argument, NULL, OPT_GRACE},
        {NULL, 0, NULL, 0},
    };
    struct sched_args a;
    int opt, code = 0, modes = 0;

    memset(&a, 0, sizeof a);
    a.count = 1;
    a.spacing_ms = -1;
    a.grace_ms = DEFAULT_GRACE_MS;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        int64_t v;
        if (r < 0 || opt == 'h') {
            sched_args_free(&a);
            return cli_usage(SCHEDULE_USAGE, 1);
        }
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_QUARTER: a.quarter = optarg; break;
        case OPT_FROM: a.from = optarg; break;
        case OPT_UNTIL: a.until = optarg; break;
        case OPT_COUNT:
            if (lb_parse_int64(optarg, &v) < 0 || v < 1 || v > LB_PLAN_MAX_COUNT) {
                cli_error("schedule", "--count must be 1..%d", LB_PLAN_MAX_COUNT);
                code = LB_EXIT_USAGE;
                goto out;
            }
            a.count = (int)v;
            break;
        case OPT_WINDOW:
            a.windows = lb_xrealloc(a.windows, (a.nwindows + 1) * sizeof(char *));
            a.windows[a.nwindows++] = optarg;
            break;
        case OPT_BLACKOUT: add_blackouts(&a, optarg); break;
        case OPT_SCENARIOS:
            a.globs = lb_xrealloc(a.globs, (a.nglobs + 1) * sizeof(char *));
            a.globs[a.nglobs++] = optarg;
            break;
        case OPT_SEED: a.seed = optarg; break;
        case OPT_SPACING:
            if (parse_duration_opt("schedule", "--spacing", optarg, &a.spacing_ms) < 0) {
                code = LB_EXIT_USAGE;
                goto out;
            }
            break;
        case OPT_GRACE:
            if (parse_duration_opt("schedule", "--grace", optarg, &a.grace_ms) < 0) {
                code = LB_EXIT_USAGE;
                goto out;
            }
            break;
        case OPT_REPLACE: a.replace = 1; break;
        case OPT_PAST: a.include_past = 1; break;
        case OPT_ENV: a.env_path = optarg; break;
        case OPT_LIST: a.mode = MODE_LIST; modes++; break;
        case OPT_REVEAL: a.mode = MODE_REVEAL; modes++; break;
        case OPT_VERIFY: a.mode = MODE_VERIFY; modes++; break;
        case OPT_FORCE: a.force = 1; break;
        case OPT_PLAN: a.plan = optarg; break;
        case OPT_COMMITMENT: a.commitment = optarg; break;
        default:
            sched_args_free(&a);
            return cli_usage(SCHEDULE_USAGE, 0);
        }
    }
    if (optind != argc || modes > 1) {
        sched_args_free(&a);
        return cli_usage(SCHEDULE_USAGE, 0);
    }
    switch (a.mode) {
    case MODE_MAKE: code = schedule_make(cli, &a); break;
    case MODE_LIST: code = schedule_list(cli); break;
    case MODE_REVEAL: code = schedule_reveal(cli, &a); break;
    case MODE_VERIFY: code = schedule_verify(cli, &a); break;
    }
out:
    sched_args_free(&a);
    return code;
}

/* ---- due ------------------------------------------------------------------ */

static const char DUE_USAGE[] =
    "usage: lifeboat due [--env FILE] [--grace DURATION] [--report FORMATS] [-o DIR]\n\n"
    "Run the scheduled drill whose instant has passed, exactly once even when two\n"
    "`due` run at the same time (the claim is a lock in the store). A drill found\n"
    "later than its instant + grace (default 1h) is not run late: it is recorded\n"
    "as a missed drill, a critical gap. Meant for cron or a systemd timer every\n"
    "few minutes (docs/scheduling.md). Unattended: nothing is asked, stdin is\n"
    "ignored; manual steps wait for `lifeboat ack`. Prints nothing about drills\n"
    "that are not due yet. The halt switch blocks it.\n\n"
    "  --env FILE        environment (default $LIFEBOAT_ENV, else the sandbox's)\n"
    "  --grace DURATION  how late a drill may still start (default 1h)\n"
    "  --report FORMATS  reports to write after a drill: md,json or none (default)\n"
    "  -o, --output DIR  where reports go (default reports/)\n";

/* A run that records, as a critical gap, a drill that did not run. */
static int record_gap_run(struct lb_cli *cli, struct lb_store *store, struct lb_env *env,
                          const struct lb_sched_claim *c, const char *title,
                          const char *detail, char *run_id, size_t run_id_sz,
                          struct lb_err *err)
{
    struct lb_run_opts ro = {0};
    struct lb_run *run = NULL;
    struct lb_run_summary sum;
    int rc;

    ro.store = store;
    ro.env = env;
    ro.secrets = env ? env->secrets : NULL;
    ro.scenario_id = c->scenario_id;
    ro.scenario_file = c->scenario_file;
    ro.kind = "drill";
    ro.rto_objective_ms = ro.rpo_objective_ms = -1;
    ro.on_event = cli_on_event;
    ro.event_ud = cli;
    rc = lb_run_new(&ro, &run, err);
    if (rc < 0)
        return rc;
    snprintf(run_id, run_id_sz, "%s", lb_run_id(run));
    rc = lb_run_gap(run, "critical", "schedule", title, detail, err);
    if (rc == 0)
        rc = lb_run_finish(run, LB_OUTCOME_FAILED, title, &sum, err);
    lb_run_free(run);
    return rc;
}

/* The drill was too late to run: record it missed. Returns an exit code. */
static int due_missed(struct lb_cli *cli, struct lb_store *store, struct lb_env *env,
                      const struct lb_sched_claim *c, int64_t now, int64_t grace_ms)
{
    char at[32], seen[32], grace[32], title[512], detail[1024], run_id[64] = "";
    struct lb_err err = {0};

    lb_instant_format(c->due_at, at, sizeof at);
    lb_instant_format(now, seen, sizeof seen);
    lb_duration_format(grace_ms, grace, sizeof grace);
    snprintf(title, sizeof title, "missed drill: %s was due at %s, the machine was off or "
             "lifeboat did not run", c->scenario_id, at);
    snprintf(detail, sizeof detail, "plan %s (%s), drill %d of %d. `lifeboat due` first saw "
             "it at %s, more than the grace of %s after its instant, so it was not run late. "
             "A halt switch left on also keeps drills from starting.", c->plan_id, c->label,
             c->seq, c->count, seen, grace);
    if (record_gap_run(cli, store, env, c, title, detail, run_id, sizeof run_id, &err) < 0 ||
        lb_store_sched_finish(store, c->plan_id, c->seq, "missed", run_id[0] ? run_id : NULL,
                              LB_EXIT_GAPS, now, &err) < 0) {
        cli_error("due", "recording the missed drill %d of plan %s: %s", c->seq, c->plan_id,
                  err.msg);
        return LB_EXIT_GAPS;
    }
    fprintf(stderr, "lifeboat: due: %s; recorded as a gap in run %s\n", title, run_id);
    printf("run %s: MISSED  drill %d of plan %s (%s): %s due at %s\n", run_id, c->seq,
           c->plan_id, c->label, c->scenario_id, at);
    return LB_EXIT_GAPS;
}

/* Run a claimed drill unattended. Returns its exit code. */
static int due_run(struct lb_cli *cli, struct lb_store *store, struct lb_env *env,
                   const struct lb_sched_claim *c, const char *formats, const char *outdir)
{
    struct lb_runner_opts ro = {0};
    struct lb_runner_result res;
    struct lb_err err = {0};
    char at[32], sha[65] = "", run_id[64] = "", title[1400];
    const char *state = "ran";
    unsigned fmt = 0;
    int code;

    lb_instant_format(c->due_at, at, sizeof at);
    fprintf(stderr, "lifeboat: due: drill %d of %d of plan %s (%s): %s, due at %s\n", c->seq,
            c->count, c->plan_id, c->label, c->scenario_id, at);
    if (c->scenario_file && lb_sha256_file_hex(c->scenario_file, sha, &err) == 0 &&
        strcmp(sha, c->scenario_sha256) != 0)
        fprintf(stderr, "lifeboat: due: warning: %s changed since the plan was sealed; the "
                        "current file runs, `schedule --verify` will say so\n",
                c->scenario_file);
    if (formats && strcmp(formats, "none") != 0 &&
        lb_report_parse_formats(formats, &fmt, &err) < 0)
        fmt = 0;
    memset(&res, 0, sizeof res);
    ro.scenario_path = c->scenario_file;
    ro.env = env;
    ro.store = store;
    ro.on_event = cli_on_event;
    ro.event_ud = cli;
    code = lb_runner_run(&ro, &res, &err);
    if (res.run_id[0]) {
        char line[512];
        snprintf(run_id, sizeof run_id, "%s", res.run_id);
        lb_run_summary_line(&res.summary, res.rto_objective_ms, res.rpo_objective_ms, line,
                            sizeof line);
        printf("run %s: %s\n", res.run_id, line);
        if (res.error && res.summary.exit_code != LB_EXIT_PASSED)
            fprintf(stderr, "lifeboat: run %s: %s\n", res.summary.status, res.error);
        if (fmt) {
            char *path = NULL;
            struct lb_err rerr = {0};
            if (lb_report_write(store, res.run_id, fmt, outdir ? outdir : "reports", &path,
                                &rerr) < 0)
                cli_error("report", "%s", rerr.msg);
            else if (path)
                printf("report: %s\n", path);
            free(path);
        }
    } else {
        /* It never started (the file is gone or broken): that is a gap too. */
        struct lb_err gerr = {0};
        snprintf(title, sizeof title, "scheduled drill could not start: %s (due at %s): %s",
                 c->scenario_id, at, res.errors ? res.errors : err.msg);
        state = "failed";
        code = LB_EXIT_GAPS;
        if (record_gap_run(cli, store, env, c, title, NULL, run_id, sizeof run_id, &gerr) < 0)
            cli_error("due", "recording the failed drill: %s", gerr.msg);
        fprintf(stderr, "lifeboat: due: %s\n", title);
    }
    if (lb_store_sched_finish(store, c->plan_id, c->seq, state, run_id[0] ? run_id : NULL,
                              code, lb_wall_ms(), &err) < 0)
        cli_error("due", "closing drill %d of plan %s: %s", c->seq, c->plan_id, err.msg);
    lb_runner_result_free(&res);
    return code;
}

int cmd_due(struct lb_cli *cli, int argc, char **argv)
{
    enum { OPT_ENV = 1, OPT_GRACE, OPT_REPORT };
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"env", required_argument, NULL, OPT_ENV},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *env_path = NULL, *formats = "none", *outdir = NULL;
    int64_t grace_ms = DEFAULT_GRACE_MS;
    struct lb_store *store = NULL;
    struct lb_env *env = NULL;
    struct lb_err err = {0};
    int opt, code, missed = 0, halted = 0;
    char *reason = NULL;

    while ((opt = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(DUE_USAGE, 1);
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_ENV: env_path = optarg; break;
        case OPT_GRACE:
            if (parse_duration_opt("due", "--grace", optarg, &grace_ms) < 0)
                return LB_EXIT_USAGE;
            break;
        case OPT_REPORT: formats = optarg; break;
        case 'o': outdir = optarg; break;
        default: return cli_usage(DUE_USAGE, 0);
        }
    }
    if (optind != argc)
        return cli_usage(DUE_USAGE, 0);
    /* Unattended, even when started from a terminal: the person at it is not
     * necessarily the one paged, so manual steps wait for `lifeboat ack`. */
    if (freopen("/dev/null", "r", stdin) == NULL) {
        cli_error("due", "cannot detach stdin");
        return LB_EXIT_USAGE;
    }
    code = cli_load_env(cli, env_path, 1, &env);
    if (code)
        return code;
    code = cli_open_store(cli, &store);
    if (code)
        goto out;
    lb_interrupt_install();
    if (lb_store_halt_get(store, &halted, &reason, &err) < 0) {
        cli_error("due", "%s", err.msg);
        code = LB_EXIT_GAPS;
        goto out;
    }
    if (halted) {
        int n = 0;
        if (lb_store_sched_due_count(store, lb_wall_ms(), &n, &err) < 0) {
            cli_error("due", "%s", err.msg);
            code = LB_EXIT_GAPS;
            goto out;
        }
        if (n > 0) {
            cli_error("due", "drills are halted (%s): %d scheduled drill%s due and not "
                      "started; past the grace period they become missed drills. `lifeboat "
                      "halt --release` lifts the halt", reason ? reason : "lifeboat halt", n,
                      n == 1 ? " is" : "s are");
            code = LB_EXIT_ABORTED;
        } else if (cli->verbose) {
            fprintf(stderr, "lifeboat: due: drills are halted; nothing is due\n");
        }
        goto out;
    }
    for (;;) {
        struct lb_sched_claim c;
        int64_t now = lb_wall_ms();
        if (lb_store_sched_claim(store, now, grace_ms, &c, &err) < 0) {
            cli_error("due", "%s", err.msg);
            code = LB_EXIT_GAPS;
            break;
        }
        if (c.reaped > 0)
            fprintf(stderr, "lifeboat: due: %d scheduled drill%s whose `due` died closed as "
                            "interrupted\n", c.reaped, c.reaped == 1 ? "" : "s");
        if (c.kind == LB_SCHED_MISSED) {
            due_missed(cli, store, env, &c, now, grace_ms);
            missed++;
            lb_sched_claim_free(&c);
            continue;
        }
        if (c.kind == LB_SCHED_BUSY) {
            if (!cli->quiet)
                fprintf(stderr, "lifeboat: due: a scheduled drill is still running (plan %s "
                                "drill %d, pid %lld on %s): nothing else starts\n",
                        c.plan_id, c.seq, c.busy_pid, c.busy_host);
        } else if (c.kind == LB_SCHED_RUN) {
            code = due_run(cli, store, env, &c, formats, outdir);
        } else if (cli->verbose && !missed) {
            fprintf(stderr, "lifeboat: due: no drill is due\n");
        }
        lb_sched_claim_free(&c);
        break;
    }
    if (code == 0 && missed > 0)
        code = LB_EXIT_GAPS;
out:
    free(reason);
    lb_store_close(store);
    lb_env_free(env);
    return code;
}

/* ---- ack ------------------------------------------------------------------ */

int cmd_ack(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat ack RUN [STEP]\n\n"
        "Acknowledge the manual step a running drill waits for: the human part is\n"
        "done. RUN is a run id, a unique prefix or \"latest\"; STEP (a number or a\n"
        "step name) defaults to the step that waits. Who acknowledged, and when,\n"
        "is recorded; the time people took is the step's duration.\n";
    static const struct option longopts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct lb_store *store = NULL;
    struct lb_ack_view v = {0};
    struct lb_err err = {0};
    char me[128], host[256] = "", waited[32];
    int opt, code;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(usage, 1);
        if (r == 0)
            return cli_usage(usage, 0);
    }
    if (optind != argc - 1 && optind != argc - 2)
        return cli_usage(usage, 0);
    code = cli_open_store(cli, &store);
    if (code)
        return code;
    whoami(me, sizeof me);
    gethostname(host, sizeof host - 1);
    if (lb_store_ack(store, argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, me,
                     "cli", host, lb_wall_ms(), &v, &err) < 0) {
        cli_error("ack", "%s", err.msg);
        code = LB_EXIT_USAGE;
        goto out;
    }
    lb_duration_format(v.ended_at - v.started_at, waited, sizeof waited);
    if (cli->json) {
        printf("{\"run\": \"%s\", \"step\": %d, \"by\": ", v.run_id, v.step_seq);
        json_str(stdout, me);
        printf(", \"waited_ms\": %lld, \"prompt\": ", (long long)(v.ended_at - v.started_at));
        json_str(stdout, v.prompt);
        printf("}\n");
    } else {
        printf("acknowledged run %s step %d%s%s%s: %s (after %s)\n", v.run_id, v.step_seq,
               v.step_name ? " '" : "", v.step_name ? v.step_name : "",
               v.step_name ? "'" : "", v.prompt, waited);
    }
out:
    lb_ack_view_clear(&v);
    lb_store_close(store);
    return code;
}
