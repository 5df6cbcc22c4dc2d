/* lifeboat trend: how a scenario's drills went over time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lifeboat/report.h"
#include "lifeboat/store.h"

/* The id a scenario file's name stands for: the base name without ".lua",
 * '_' read as '-' (scenarios/region_loss.lua declares id "region-loss").
 * Caller frees. */
static char *id_of_file_name(const char *arg)
{
    const char *base = strrchr(arg, '/');
    char *id = lb_xstrdup(base != NULL ? base + 1 : arg);
    size_t n = strlen(id);

    if (n > 4 && strcmp(id + n - 4, ".lua") == 0)
        id[n - 4] = '\0';
    for (char *p = id; *p != '\0'; p++)
        if (*p == '_')
            *p = '-';
    return id;
}

int cmd_trend(struct lb_cli *cli, int argc, char **argv)
{
    static const char usage[] =
        "usage: lifeboat trend SCENARIO [--format md|html|json] [-o FILE]\n\n"
        "RTO and RPO of every run of a scenario (its id, as `lifeboat list` shows it,\n"
        "or its file: scenarios/region_loss.lua and region_loss mean region-loss)\n"
        "against its objectives, the gaps that recurred, and whether the latest run\n"
        "improved on the one before. Markdown on stdout by default; html draws an SVG\n"
        "line chart per objective. -o writes the file instead.\n";
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS, {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *format = NULL, *output = NULL;
    struct lb_store *store = NULL;
    struct lb_err err = {0};
    struct lb_buf b = {0};
    unsigned fmt = LB_REPORT_MD;
    int opt, rc, code = 0;

    while ((opt = getopt_long(argc, argv, "hf:o:", longopts, NULL)) != -1) {
        int r = cli_common_option(cli, opt, optarg);
        if (r < 0 || opt == 'h')
            return cli_usage(usage, 1);
        if (r > 0)
            continue;
        if (opt == 'f')
            format = optarg;
        else if (opt == 'o')
            output = optarg;
        else
            return cli_usage(usage, 0);
    }
    if (optind != argc - 1)
        return cli_usage(usage, 0);
    if (cli->json && format == NULL)
        format = "json";
    if (format != NULL &&
        (lb_report_parse_formats(format, &fmt, &err) < 0 ||
         (fmt != LB_REPORT_MD && fmt != LB_REPORT_HTML && fmt != LB_REPORT_JSON))) {
        cli_error("trend", "%s", err.msg[0] != '\0' ? err.msg
                                                    : "choose one format: md, html or json");
        return LB_EXIT_USAGE;
    }
    if ((code = cli_open_store(cli, &store)))
        return code;
    rc = lb_report_trend(store, argv[optind], (enum lb_report_format)fmt, &b, &err);
    if (rc == LB_ENOTFOUND) {
        char *id = id_of_file_name(argv[optind]);

        if (strcmp(id, argv[optind]) != 0) {
            struct lb_err first = err;

            lb_err_clear(&err);
            rc = lb_report_trend(store, id, (enum lb_report_format)fmt, &b, &err);
            if (rc == LB_ENOTFOUND)
                err = first;
        }
        free(id);
    }
    if (rc == 0 && output != NULL)
        rc = lb_file_write(output, b.data != NULL ? b.data : "", b.len, &err);
    if (rc < 0) {
        cli_error("trend", "%s", err.msg);
        code = LB_EXIT_USAGE;
    } else if (output != NULL) {
        printf("%s\n", output);
    } else {
        fputs(b.data != NULL ? b.data : "", stdout);
    }
    lb_buf_free(&b);
    lb_store_close(store);
    return code;
}
