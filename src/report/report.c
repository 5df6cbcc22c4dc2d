/*
 * Choosing formats, writing report files, and the judgements (verdict,
 * objectives, gap order) every format shares.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lifeboat/store.h"
#include "report_int.h"

const char *lb_report_verdict(const struct lb_run_view *v)
{
    static const struct {
        const char *status, *verdict;
    } verdicts[] = {
        {"passed", "PASSED"},
        {"failed", "FAILED"},
        {"refused", "REFUSED"},
        {"aborted", "ABORTED"},
        {"interrupted", "INTERRUPTED"},
        {"rollback_failed", "ROLLBACK FAILED"},
        {"planned", "PLANNED (dry run)"},
        {"error", "ERROR"},
        {"running", "RUNNING"},
    };
    if (v->status == NULL)
        return "UNKNOWN";
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++) {
        if (strcmp(v->status, verdicts[i].status) == 0)
            return verdicts[i].verdict;
    }
    return "UNKNOWN";
}

const char *lb_report_objective_result(int64_t objective_ms, int64_t measured_ms)
{
    if (measured_ms < 0)
        return "not measured";
    if (objective_ms < 0)
        return "no objective";
    return measured_ms <= objective_ms ? "met" : "missed";
}

int lb_report_severity_rank(const char *severity)
{
    static const char *const order[] = {"critical", "major", "minor"};
    for (int i = 0; severity != NULL && i < 3; i++) {
        if (strcmp(severity, order[i]) == 0)
            return i;
    }
    return 3;
}

size_t *lb_report_gap_order(const struct lb_run_view *v)
{
    size_t *idx;
    if (v->ngaps == 0)
        return NULL;
    idx = lb_xcalloc(v->ngaps, sizeof *idx);
    /* Insertion sort: stable, and a run has a handful of gaps. */
    for (size_t i = 0; i < v->ngaps; i++) {
        int rank = lb_report_severity_rank(v->gaps[i].severity);
        size_t j = i;
        while (j > 0 && lb_report_severity_rank(v->gaps[idx[j - 1]].severity) > rank) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return idx;
}

const struct lb_step_view *lb_report_step(const struct lb_run_view *v, int seq)
{
    for (size_t i = 0; i < v->nsteps; i++) {
        if (v->steps[i].seq == seq)
            return &v->steps[i];
    }
    return NULL;
}

const struct lb_mark_view *lb_report_mark(const struct lb_run_view *v,
                                          const char *name)
{
    for (size_t i = 0; i < v->nmarks; i++) {
        if (v->marks[i].name != NULL && strcmp(v->marks[i].name, name) == 0)
            return &v->marks[i];
    }
    return NULL;
}

int lb_report_parse_formats(const char *text, unsigned *out, struct lb_err *err)
{
    unsigned set = 0;
    const char *p = text;

    *out = 0;
    if (text == NULL)
        return lb_err_set(err, LB_EINVAL, "no report format given (md, json)");
    while (*p != '\0') {
        const char *start, *end;
        size_t len;
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        len = (size_t)(end - start);
        if ((len == 2 && strncasecmp(start, "md", len) == 0) ||
            (len == 8 && strncasecmp(start, "markdown", len) == 0))
            set |= LB_REPORT_MD;
        else if (len == 4 && strncasecmp(start, "json", len) == 0)
            set |= LB_REPORT_JSON;
        else if ((len == 4 && strncasecmp(start, "html", len) == 0) ||
                 (len == 5 && strncasecmp(start, "junit", len) == 0))
            return lb_err_set(err, LB_EINVAL,
                              "format '%.*s' is not supported yet (md, json)",
                              (int)len, start);
        else
            return lb_err_set(err, LB_EINVAL, "unknown report format '%.*s' (md, json)",
                              (int)len, start);
    }
    if (set == 0)
        return lb_err_set(err, LB_EINVAL, "no report format given (md, json)");
    *out = set;
    return 0;
}

/* A run id becomes a file name: refuse anything that would leave outdir. */
static int safe_file_stem(const char *id, struct lb_err *err)
{
    if (id == NULL || id[0] == '\0' || id[0] == '.' || strchr(id, '/') != NULL)
        return lb_err_set(err, LB_EINVAL, "report: run id '%s' cannot name a file",
                          id != NULL ? id : "");
    return 0;
}

int lb_report_write(struct lb_store *s, const char *run_id, unsigned formats,
                    const char *outdir, char **first_path, struct lb_err *err)
{
    static const struct {
        unsigned format;
        const char *ext;
        void (*render)(const struct lb_run_view *, struct lb_buf *);
    } writers[] = {
        {LB_REPORT_MD, "md", lb_report_markdown},
        {LB_REPORT_JSON, "json", lb_report_json},
    };
    struct lb_run_view *v = NULL;
    struct lb_buf b = {0};
    char *first = NULL, *name = NULL, *path = NULL;
    int rc;

    if (first_path != NULL)
        *first_path = NULL;
    if ((formats & (LB_REPORT_MD | LB_REPORT_JSON)) == 0)
        return lb_err_set(err, LB_EINVAL, "report: no format chosen (md, json)");
    rc = lb_store_load_run(s, run_id, &v, err);
    if (rc != 0)
        goto out;
    rc = safe_file_stem(v->id, err);
    if (rc != 0)
        goto out;
    rc = lb_mkdirs(outdir, 0755, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
        if ((formats & writers[i].format) == 0)
            continue;
        name = lb_xasprintf("%s.%s", v->id, writers[i].ext);
        path = lb_path_join(outdir, name);
        lb_buf_reset(&b);
        writers[i].render(v, &b);
        rc = lb_file_write(path, b.data, b.len, err);
        if (rc != 0)
            goto out;
        if (first == NULL) {
            first = path;
            path = NULL;
        }
        free(name);
        free(path);
        name = path = NULL;
    }
out:
    free(name);
    free(path);
    lb_buf_free(&b);
    lb_run_view_free(v);
    if (rc == 0 && first_path != NULL) {
        *first_path = first;
        first = NULL;
    }
    free(first);
    return rc;
}
