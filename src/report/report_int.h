/*
 * Private to src/report: the judgements and helpers every format shares.
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

/* Gaps per rank (see above) into counts[4]. */
void lb_report_gap_counts(const struct lb_run_view *v, size_t counts[4]);

/* Checks that did not pass. */
size_t lb_report_failed_checks(const struct lb_run_view *v);

/* Indexes of v->gaps, most severe first, stored order within a severity.
 * Caller frees; NULL when there are no gaps. */
size_t *lb_report_gap_order(const struct lb_run_view *v);

/* The failed check a gap reports, when one can be told: the first failed
 * check of the gap's step whose name is the gap's title or whose table the
 * gap names, else for a "validation" gap the only failed check of its step.
 * NULL otherwise. */
const struct lb_check_view *lb_report_gap_check(const struct lb_run_view *v,
                                                const struct lb_gap_view *g);

/* What a gap expected and what was observed (each malloc'ed or NULL): from
 * its check (lb_report_gap_check); for a "step" or "timeout" gap, from its
 * step's status and error; for an objective gap naming RTO or RPO, from the
 * objective and the measurement. */
void lb_report_gap_expectation(const struct lb_run_view *v, const struct lb_gap_view *g,
                               char **expected, char **observed);

/* The step numbered seq, or NULL. */
const struct lb_step_view *lb_report_step(const struct lb_run_view *v, int seq);

/* The first mark called name, or NULL. */
const struct lb_mark_view *lb_report_mark(const struct lb_run_view *v,
                                          const char *name);

/* Earliest and latest instant the run recorded (run, steps, marks), for a
 * time axis. *t1 > *t0 always; both -1 when nothing has a time. */
void lb_report_span(const struct lb_run_view *v, int64_t *t0, int64_t *t1);

/* ---- values ---------------------------------------------------------- */

/* "-" for a negative value, else lb_duration_format. */
void lb_report_fmt_duration(int64_t ms, char *out, size_t n);
/* "HH:MM:SS.mmm" of a UTC wall time, "-" if unset. */
void lb_report_fmt_clock(int64_t ms, char *out, size_t n);
/* "2026-11-26 14:57:36 UTC", "-" if unset. */
void lb_report_fmt_wall(int64_t ms, char *out, size_t n);
/* Whole numbers without a fraction, others with six significant digits. */
void lb_report_fmt_number(double v, char *out, size_t n);
/* A table name without the default schema ("public.x" -> "x"). */
const char *lb_report_table_display(const char *name);

/* Bytes of s that hold at most max characters (UTF-8 aware; an invalid
 * byte counts as one). */
size_t lb_report_utf8_prefix(const char *s, size_t max);
/* Characters in s, counted as above. */
size_t lb_report_utf8_len(const char *s);

/* Length of the valid UTF-8 sequence at p, or 0 if it is not one. */
size_t lb_report_utf8_seq(const unsigned char *p);

/* XML/HTML text: & < > escaped, invalid UTF-8 and characters XML 1.0 does
 * not allow replaced by U+FFFD. NULL appends nothing. */
void lb_report_xml_text(struct lb_buf *b, const char *s);
/* The same for an attribute value in double quotes: " and ' escaped too,
 * line breaks and tabs as character references. */
void lb_report_xml_attr(struct lb_buf *b, const char *s);
/* s as a class name token: [a-z0-9_-], anything else '-'; "none" if empty. */
void lb_report_class_token(struct lb_buf *b, const char *s);

/* ---- sub-step phases --------------------------------------------------- */

struct lb_report_phase {
    char *name;
    int64_t start_ms;     /* offset from the step's start */
    int64_t duration_ms;
};
/* The phases of step seq (see report.h), in recorded order. Caller frees
 * with lb_report_phases_free. */
size_t lb_report_phases(const struct lb_run_view *v, int seq,
                        struct lb_report_phase **out);
void lb_report_phases_free(struct lb_report_phase *p, size_t n);
int lb_report_is_phase_metric(const char *name);

/* ---- validation ------------------------------------------------------- */

/* One table in the validation table. Pointers borrow from the view. */
struct lb_report_table_row {
    const char *table;
    const struct lb_table_stat_view *base, *rest;   /* last of each, or NULL */
    const struct lb_check_view **fks;    /* its foreign-key checks */
    size_t nfks;
    const struct lb_check_view **diffs;  /* its row-diff checks */
    size_t ndiffs;
    const char *result;    /* "match", "EMPTY RESTORE", "rows differ", ... */
    int bad;               /* the result is a failure */
};
/* Every table with a baseline/restored snapshot or an FK/diff check, by
 * name ("public.x" and "x" are one table). Free with
 * lb_report_table_rows_free. */
size_t lb_report_table_rows(const struct lb_run_view *v, struct lb_report_table_row **out);
void lb_report_table_rows_free(struct lb_report_table_row *rows, size_t n);
/* A check reports FK violations / row-diff sample keys (see report.h). */
int lb_report_is_fk_check(const struct lb_check_view *c);
int lb_report_is_diff_check(const struct lb_check_view *c);
/* The FK column of a row as text into b: "0" when every FK check passed,
 * else "<check>: <observed>" of each failed one, "; "-joined. Returns 1 when
 * one failed; appends nothing (returns 0) when the table has no FK check. */
int lb_report_fk_text(const struct lb_report_table_row *r, struct lb_buf *b);
/* The sample-keys column: "<kind>: <observed>" of each diff check
 * ("missing rows: 42: id 17, 18"), "; "-joined. Returns 1 when one failed. */
int lb_report_diff_text(const struct lb_report_table_row *r, struct lb_buf *b);

/* ---- provenance ------------------------------------------------------- */

struct lb_report_target {
    char *name;
    size_t nfields;
    char **keys, **values;
};
/* Targets (and, in *backups, backup names joined by ", ", or NULL) from a
 * plan_json. Caller frees with lb_report_targets_free and free(). */
size_t lb_report_targets(const char *plan_json, struct lb_report_target **out,
                         char **backups);
void lb_report_targets_free(struct lb_report_target *t, size_t n);

/* ---- time axis (SVG) ------------------------------------------------- */

struct lb_report_axis {
    int64_t t0, t1;      /* domain, ms */
    double x0, x1;       /* range, px */
    int64_t tick;        /* a round interval, ms */
};
/* A linear axis with a tick interval giving at most max_ticks ticks. */
void lb_report_axis_init(struct lb_report_axis *a, int64_t t0, int64_t t1, double x0,
                         double x1, int max_ticks);
double lb_report_axis_x(const struct lb_report_axis *a, int64_t t);

/* ---- across runs ------------------------------------------------------- */

/* Runs sorted by start time, oldest first, dry runs left out when
 * drop_dry_runs. Caller frees the array (the views are borrowed). */
const struct lb_run_view **lb_report_sorted_runs(const struct lb_run_view *const *runs,
                                                 size_t n, int drop_dry_runs, size_t *out_n);

#endif
