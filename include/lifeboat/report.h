/*
 * report: renders runs for people and machines, from the store only, so any
 * past run can be re-rendered. Markdown (for wikis and tickets) and JSON
 * (the whole run); HTML and JUnit come later.
 */
#ifndef LIFEBOAT_REPORT_H
#define LIFEBOAT_REPORT_H

#include <stddef.h>

#include "lifeboat/util.h"

struct lb_run_view;
struct lb_store;

enum lb_report_format {
    LB_REPORT_MD = 1 << 0,
    LB_REPORT_JSON = 1 << 1,
};

/* Parse "md,json" into a bit set. LB_EINVAL for an unknown format. */
int lb_report_parse_formats(const char *text, unsigned *out, struct lb_err *err);

/*
 * The run's verdict in words, from its status: "PASSED", "FAILED",
 * "REFUSED", "ABORTED", "INTERRUPTED", "ROLLBACK FAILED", "PLANNED (dry run)",
 * "ERROR", "RUNNING" or "UNKNOWN". Static string.
 */
const char *lb_report_verdict(const struct lb_run_view *v);

/* Render into b (appends). Deterministic for a given view. */
void lb_report_markdown(const struct lb_run_view *v, struct lb_buf *b);
void lb_report_json(const struct lb_run_view *v, struct lb_buf *b);

/*
 * Load run `run_id` from the store and write one file per format into
 * `outdir` (created if needed) named "<run id>.<ext>". The path of the
 * first file written goes to *first_path (caller frees) if not NULL.
 */
int lb_report_write(struct lb_store *s, const char *run_id, unsigned formats,
                    const char *outdir, char **first_path, struct lb_err *err);

#endif
