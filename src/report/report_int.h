/*
 * Private to src/report: what the Markdown and JSON renderers share.
 */
#ifndef LIFEBOAT_REPORT_INT_H
#define LIFEBOAT_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/report.h"
#include "lifeboat/store.h"

/* "met", "missed", "not measured" or "no objective" (both in ms, -1 unset). */
const char *lb_report_objective_result(int64_t objective_ms, int64_t measured_ms);

/* 0 critical, 1 major, 2 minor, 3 anything else. */
int lb_report_severity_rank(const char *severity);

/* Indexes of v->gaps, most severe first, stored order within a severity.
 * Caller frees; NULL when there are no gaps. */
size_t *lb_report_gap_order(const struct lb_run_view *v);

/* The step numbered seq, or NULL. */
const struct lb_step_view *lb_report_step(const struct lb_run_view *v, int seq);

/* The first mark called name, or NULL. */
const struct lb_mark_view *lb_report_mark(const struct lb_run_view *v,
                                          const char *name);

#endif
