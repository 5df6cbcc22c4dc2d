/*
 * Unit tests of validate's judgement: lb_validate_findings over baselines
 * built by hand, the fingerprint's text form and the name lookup. The
 * fingerprinting itself needs a server: tests/integration/it_validate.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/validate.h"
/* The sketch decoder is internal to validate, and pure: tested here. */
#include "../../src/validate/validate_int.h"

/* One table of a hand-made baseline. */
struct spec {
    const char *name;
    int64_t rows;
    const char *fp;
    const char *schema_fp;
    int has_pk;
    int nfks;
};

static struct lb_baseline *mk(const struct spec *s, size_t n)
{
    struct lb_baseline *b = lb_xcalloc(1, sizeof(*b));
    size_t i;

    b->tables = lb_xcalloc(n ? n : 1, sizeof(*b->tables));
    b->ntables = n;
    for (i = 0; i < n; i++) {
        b->tables[i].name = lb_xstrdup(s[i].name);
        b->tables[i].rows = s[i].rows;
        b->tables[i].fingerprint = lb_xstrdup(s[i].fp);
        b->tables[i].schema_fp = lb_xstrdup(s[i].schema_fp);
        b->tables[i].has_pk = s[i].has_pk;
        b->tables[i].nfks = s[i].nfks;
    }
    return b;
}

static const struct spec BEFORE[] = {
    {"public.accounts", 47, "00000000000000aa", "s-accounts", 1, 0},
    {"public.inventory", 20000, "1111111111111111", "s-inventory", 1, 1},
};

static const struct lb_compare_opts EXACT = {.tolerance = 0, .fingerprint = 1};

/* The finding with this check name, or NULL. */
static const struct lb_finding *find(const struct lb_findings *f, const char *check)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->items[i].check_name, check) == 0)
            return &f->items[i];
    return NULL;
}

static size_t count_gaps(const struct lb_findings *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->items[i].severity != LB_SEV_NONE)
            n++;
    return n;
}

/* Compare BEFORE with a copy of it changed by `edit` on inventory. */
static void compare_edited(void (*edit)(struct lb_table_fp *), const struct lb_compare_opts *o,
                           struct lb_findings *out)
{
    struct lb_baseline *before = mk(BEFORE, 2), *after = mk(BEFORE, 2);

    edit(&after->tables[1]);
    assert_int_equal(lb_validate_findings(before, after, o, out), 0);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_pass_when_nothing_changed(void **state)
{
    struct lb_baseline *before = mk(BEFORE, 2), *after = mk(BEFORE, 2);
    struct lb_findings f;
    (void)state;

    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_true(f.ok);
    assert_int_equal(f.n, 6); /* rows, content, schema for each table */
    for (size_t i = 0; i < f.n; i++) {
        assert_true(f.items[i].ok);
        assert_int_equal(f.items[i].severity, LB_SEV_NONE);
        assert_null(f.items[i].gap_title);
    }
    assert_non_null(find(&f, "inventory: rows"));
    assert_string_equal(find(&f, "inventory: rows")->table, "public.inventory");
    assert_string_equal(find(&f, "inventory: rows")->expected, "20000");
    assert_string_equal(find(&f, "inventory: rows")->observed, "20000");
    assert_string_equal(find(&f, "inventory: content")->observed, "1111111111111111");
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void empty_inventory(struct lb_table_fp *t)
{
    t->rows = 0;
    free(t->fingerprint);
    t->fingerprint = lb_xstrdup("0000000000000000");
}

static void test_validate_findings_call_an_empty_restore_a_critical_gap(void **state)
{
    struct lb_findings f;
    const struct lb_finding *rows, *content;
    (void)state;

    compare_edited(empty_inventory, &EXACT, &f);
    assert_false(f.ok);
    rows = find(&f, "inventory: rows");
    assert_non_null(rows);
    assert_false(rows->ok);
    assert_int_equal(rows->severity, LB_SEV_CRITICAL);
    assert_string_equal(rows->gap_category, "validation");
    assert_string_equal(rows->gap_title, "inventory: restore is empty (0 rows, 20000 expected)");
    assert_string_equal(rows->observed, "0");
    /* The content check fails too, without repeating the gap. */
    content = find(&f, "inventory: content");
    assert_non_null(content);
    assert_false(content->ok);
    assert_int_equal(content->severity, LB_SEV_NONE);
    assert_int_equal(count_gaps(&f), 1);
    assert_true(find(&f, "accounts: rows")->ok);
    lb_findings_free(&f);
}

static void lose_500_rows(struct lb_table_fp *t)
{
    t->rows = 19500; /* 2.5% */
    free(t->fingerprint);
    t->fingerprint = lb_xstrdup("2222222222222222");
}

static void lose_2000_rows(struct lb_table_fp *t)
{
    t->rows = 18000; /* 10% */
    free(t->fingerprint);
    t->fingerprint = lb_xstrdup("2222222222222222");
}

static void test_validate_findings_accept_a_count_within_tolerance(void **state)
{
    struct lb_compare_opts o = {.tolerance = 0.05, .fingerprint = 1};
    struct lb_findings f;
    (void)state;

    compare_edited(lose_500_rows, &o, &f);
    assert_true(f.ok);
    assert_true(find(&f, "inventory: rows")->ok);
    assert_string_equal(find(&f, "inventory: rows")->observed, "19500");
    /* Drift was accepted, so the fingerprints are not judged. */
    assert_null(find(&f, "inventory: content"));
    assert_int_equal(count_gaps(&f), 0);
    lb_findings_free(&f);
}

static void test_validate_findings_reject_a_count_outside_tolerance(void **state)
{
    struct lb_compare_opts o = {.tolerance = 0.05, .fingerprint = 1};
    struct lb_findings f;
    const struct lb_finding *rows;
    (void)state;

    compare_edited(lose_2000_rows, &o, &f);
    assert_false(f.ok);
    rows = find(&f, "inventory: rows");
    assert_false(rows->ok);
    assert_int_equal(rows->severity, LB_SEV_CRITICAL);
    assert_non_null(strstr(rows->gap_title, "18000"));
    assert_non_null(strstr(rows->gap_title, "20000"));
    assert_non_null(strstr(rows->gap_title, "-2000"));
    assert_false(find(&f, "inventory: content")->ok);
    assert_int_equal(count_gaps(&f), 1);
    lb_findings_free(&f);
}

static void test_validate_findings_put_the_tolerance_boundary_inside(void **state)
{
    static const struct spec base[] = {{"public.t", 20000, "aa", "s", 1, 0}};
    struct lb_baseline *before = mk(base, 1), *after = mk(base, 1);
    struct lb_compare_opts o = {.tolerance = 0.05, .fingerprint = 1};
    struct lb_findings f;
    (void)state;

    after->tables[0].rows = 19000; /* exactly 5% fewer */
    assert_int_equal(lb_validate_findings(before, after, &o, &f), 0);
    assert_true(f.ok);
    lb_findings_free(&f);
    after->tables[0].rows = 21000; /* exactly 5% more */
    assert_int_equal(lb_validate_findings(before, after, &o, &f), 0);
    assert_true(f.ok);
    lb_findings_free(&f);
    after->tables[0].rows = 18999;
    assert_int_equal(lb_validate_findings(before, after, &o, &f), 0);
    assert_false(f.ok);
    assert_string_equal(find(&f, "t: rows")->gap_title,
                        "t: 18999 rows, 20000 expected (-1001, beyond the 5% tolerance)");
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void one_more_row(struct lb_table_fp *t)
{
    t->rows = 20001;
}

static void test_validate_findings_demand_an_exact_count_when_tolerance_is_zero(void **state)
{
    struct lb_findings f;
    const struct lb_finding *rows;
    (void)state;

    compare_edited(one_more_row, &EXACT, &f);
    assert_false(f.ok);
    rows = find(&f, "inventory: rows");
    assert_false(rows->ok);
    assert_string_equal(rows->gap_title, "inventory: 20001 rows, 20000 expected (+1)");
    lb_findings_free(&f);
}

static void change_content(struct lb_table_fp *t)
{
    free(t->fingerprint);
    t->fingerprint = lb_xstrdup("3333333333333333");
}

static void test_validate_findings_call_changed_content_with_equal_count_critical(void **state)
{
    struct lb_findings f;
    const struct lb_finding *content;
    (void)state;

    compare_edited(change_content, &EXACT, &f);
    assert_false(f.ok);
    assert_true(find(&f, "inventory: rows")->ok);
    content = find(&f, "inventory: content");
    assert_false(content->ok);
    assert_int_equal(content->severity, LB_SEV_CRITICAL);
    assert_string_equal(content->expected, "1111111111111111");
    assert_string_equal(content->observed, "3333333333333333");
    assert_non_null(strstr(content->gap_title,
                           "inventory: content differs from the baseline (20000 rows"));
    assert_int_equal(count_gaps(&f), 1);
    lb_findings_free(&f);
}

static void test_validate_findings_skip_content_when_not_asked(void **state)
{
    struct lb_compare_opts o = {.tolerance = 0, .fingerprint = 0};
    struct lb_findings f;
    (void)state;

    compare_edited(change_content, &o, &f);
    assert_true(f.ok);
    assert_null(find(&f, "inventory: content"));
    assert_int_equal(f.n, 4);
    lb_findings_free(&f);
}

static void drop_primary_key(struct lb_table_fp *t)
{
    t->has_pk = 0;
    free(t->schema_fp);
    t->schema_fp = lb_xstrdup("s-inventory-no-pk");
}

static void test_validate_findings_call_a_lost_primary_key_major(void **state)
{
    struct lb_findings f;
    const struct lb_finding *schema;
    (void)state;

    compare_edited(drop_primary_key, &EXACT, &f);
    assert_false(f.ok);
    schema = find(&f, "inventory: schema");
    assert_false(schema->ok);
    assert_int_equal(schema->severity, LB_SEV_MAJOR);
    assert_string_equal(schema->gap_title, "inventory came back without its primary key");
    assert_true(find(&f, "inventory: rows")->ok);
    assert_true(find(&f, "inventory: content")->ok);
    lb_findings_free(&f);
}

static void drop_foreign_key(struct lb_table_fp *t)
{
    t->nfks = 0;
    free(t->schema_fp);
    t->schema_fp = lb_xstrdup("s-inventory-no-fk");
}

static void test_validate_findings_call_a_lost_foreign_key_major(void **state)
{
    struct lb_findings f;
    const struct lb_finding *schema;
    (void)state;

    compare_edited(drop_foreign_key, &EXACT, &f);
    assert_false(f.ok);
    schema = find(&f, "inventory: schema");
    assert_int_equal(schema->severity, LB_SEV_MAJOR);
    assert_string_equal(schema->gap_title, "inventory came back without 1 foreign key(s)");
    lb_findings_free(&f);
}

static void add_an_index(struct lb_table_fp *t)
{
    free(t->schema_fp);
    t->schema_fp = lb_xstrdup("s-inventory-extra-index");
}

static void test_validate_findings_call_any_other_schema_change_major(void **state)
{
    struct lb_findings f;
    const struct lb_finding *schema;
    (void)state;

    compare_edited(add_an_index, &EXACT, &f);
    assert_false(f.ok);
    schema = find(&f, "inventory: schema");
    assert_int_equal(schema->severity, LB_SEV_MAJOR);
    assert_non_null(strstr(schema->gap_title, "inventory: schema differs"));
    lb_findings_free(&f);
}

static void drop_table(struct lb_table_fp *t)
{
    t->rows = -1;
    free(t->fingerprint);
    free(t->schema_fp);
    t->fingerprint = NULL;
    t->schema_fp = NULL;
}

static void test_validate_findings_call_a_missing_table_critical(void **state)
{
    struct lb_findings f;
    const struct lb_finding *rows;
    (void)state;

    compare_edited(drop_table, &EXACT, &f);
    assert_false(f.ok);
    rows = find(&f, "inventory: rows");
    assert_false(rows->ok);
    assert_int_equal(rows->severity, LB_SEV_CRITICAL);
    assert_string_equal(rows->gap_title, "inventory is missing after restore");
    assert_string_equal(rows->observed, "missing");
    /* Nothing else to compare on a table that is not there. */
    assert_null(find(&f, "inventory: content"));
    assert_null(find(&f, "inventory: schema"));
    lb_findings_free(&f);
}

static void test_validate_findings_treat_a_table_absent_from_after_as_missing(void **state)
{
    struct lb_baseline *before = mk(BEFORE, 2), *after = mk(BEFORE, 1);
    struct lb_findings f;
    (void)state;

    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_false(f.ok);
    assert_string_equal(find(&f, "inventory: rows")->gap_title,
                        "inventory is missing after restore");
    assert_true(find(&f, "accounts: rows")->ok);
    lb_findings_free(&f);

    assert_int_equal(lb_validate_findings(before, NULL, &EXACT, &f), 0);
    assert_false(f.ok);
    assert_int_equal(count_gaps(&f), 2);
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_match_a_table_recorded_unqualified(void **state)
{
    /* The table was named "inventory" after it was dropped: no schema known. */
    static const struct spec after_spec[] = {
        {"accounts", 47, "00000000000000aa", "s-accounts", 1, 0},
        {"inventory", 0, "0000000000000000", "s-inventory", 1, 1},
    };
    struct lb_baseline *before = mk(BEFORE, 2), *after = mk(after_spec, 2);
    struct lb_findings f;
    (void)state;

    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_string_equal(find(&f, "inventory: rows")->gap_title,
                        "inventory: restore is empty (0 rows, 20000 expected)");
    assert_true(find(&f, "accounts: rows")->ok);
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_never_pass_an_empty_baseline(void **state)
{
    static const struct spec empty[] = {
        {"public.accounts", 0, "0000000000000000", "s-accounts", 1, 0},
        {"public.inventory", 0, "0000000000000000", "s-inventory", 1, 1},
    };
    struct lb_baseline *before = mk(empty, 2), *after = mk(empty, 2), *none = mk(NULL, 0);
    struct lb_findings f;
    const struct lb_finding *gap;
    (void)state;

    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_false(f.ok);
    gap = find(&f, "baseline");
    assert_non_null(gap);
    assert_false(gap->ok);
    assert_null(gap->table);
    assert_int_equal(gap->severity, LB_SEV_CRITICAL);
    assert_string_equal(gap->gap_title, "baseline is empty: nothing to validate");
    /* Every table compared equal, and still no pass. */
    assert_true(find(&f, "inventory: rows")->ok);
    assert_int_equal(count_gaps(&f), 1);
    lb_findings_free(&f);

    assert_int_equal(lb_validate_findings(none, none, &EXACT, &f), 0);
    assert_false(f.ok);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.items[0].gap_title, "baseline is empty: nothing to validate");
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
    lb_baseline_free(none);
}

static void test_validate_findings_fail_a_table_missing_from_the_baseline_itself(void **state)
{
    static const struct spec typo[] = {
        {"public.accounts", 47, "00000000000000aa", "s-accounts", 1, 0},
        {"inventroy", -1, NULL, NULL, 0, 0},
    };
    struct lb_baseline *before = mk(typo, 2), *after = mk(typo, 2);
    struct lb_findings f;
    const struct lb_finding *rows;
    (void)state;

    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_false(f.ok);
    rows = find(&f, "inventroy: rows");
    assert_non_null(rows);
    assert_int_equal(rows->severity, LB_SEV_CRITICAL);
    assert_non_null(strstr(rows->gap_title, "did not exist when the baseline was taken"));
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_keep_other_schemas_qualified(void **state)
{
    static const struct spec two[] = {
        {"archive.inventory", 5, "00000000000000aa", "s-a", 0, 0},
        {"public.inventory", 20000, "1111111111111111", "s-inventory", 1, 1},
    };
    struct lb_baseline *before = mk(two, 2), *after = mk(two, 2);
    struct lb_findings f;
    (void)state;

    after->tables[0].rows = 0;
    assert_int_equal(lb_validate_findings(before, after, &EXACT, &f), 0);
    assert_string_equal(find(&f, "archive.inventory: rows")->gap_title,
                        "archive.inventory: restore is empty (0 rows, 5 expected)");
    assert_true(find(&f, "inventory: rows")->ok);
    lb_findings_free(&f);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_reject_missing_arguments(void **state)
{
    struct lb_baseline *b = mk(BEFORE, 2);
    struct lb_findings f;
    (void)state;

    assert_int_equal(lb_validate_findings(NULL, b, &EXACT, &f), LB_EINVAL);
    assert_int_equal(f.n, 0);
    assert_int_equal(lb_validate_findings(b, b, &EXACT, NULL), LB_EINVAL);
    /* Default options: exact counts, fingerprints compared. */
    assert_int_equal(lb_validate_findings(b, b, NULL, &f), 0);
    assert_true(f.ok);
    assert_non_null(find(&f, "inventory: content"));
    lb_findings_free(&f);
    lb_findings_free(NULL);
    lb_baseline_free(b);
}

static void test_validate_find_resolves_unqualified_and_qualified_names(void **state)
{
    static const struct spec s[] = {
        {"archive.inventory", 1, NULL, NULL, 0, 0},
        {"dropped", -1, NULL, NULL, 0, 0},
        {"public.inventory", 2, NULL, NULL, 0, 0},
    };
    struct lb_baseline *b = mk(s, 3);
    (void)state;

    assert_int_equal(lb_baseline_find(b, "inventory")->rows, 2);
    assert_int_equal(lb_baseline_find(b, "archive.inventory")->rows, 1);
    assert_int_equal(lb_baseline_find(b, "public.inventory")->rows, 2);
    assert_int_equal(lb_baseline_find(b, "public.dropped")->rows, -1);
    assert_null(lb_baseline_find(b, "users"));
    assert_null(lb_baseline_find(b, "archive.users"));
    assert_null(lb_baseline_find(NULL, "inventory"));
    lb_baseline_free(b);
}

static void test_validate_fold_sum_wraps_modulo_2_64(void **state)
{
    char out[17];
    (void)state;

    assert_int_equal(lb_validate_fold_sum("0", out), 0);
    assert_string_equal(out, "0000000000000000");
    assert_int_equal(lb_validate_fold_sum(NULL, out), 0); /* empty table */
    assert_string_equal(out, "0000000000000000");
    assert_int_equal(lb_validate_fold_sum("255", out), 0);
    assert_string_equal(out, "00000000000000ff");
    assert_int_equal(lb_validate_fold_sum("-1", out), 0);
    assert_string_equal(out, "ffffffffffffffff");
    assert_int_equal(lb_validate_fold_sum("18446744073709551616", out), 0);
    assert_string_equal(out, "0000000000000000");
    assert_int_equal(lb_validate_fold_sum("18446744073709551617", out), 0);
    assert_string_equal(out, "0000000000000001");
    /* A sum of 5M row hashes measured on a real table. */
    assert_int_equal(lb_validate_fold_sum("10772274027426856254497", out), 0);
    assert_string_equal(out, "f75549fda84b3c21");
    assert_int_equal(lb_validate_fold_sum("-12345678901234567890123", out), 0);
    assert_string_equal(out, "bd49b1898ebdbb35");
    assert_int_equal(lb_validate_fold_sum("12a", out), LB_EINVAL);
    assert_int_equal(lb_validate_fold_sum("-", out), LB_EINVAL);
    assert_int_equal(lb_validate_fold_sum("1.5", out), LB_EINVAL);
}

static void test_validate_severity_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(lb_severity_name(LB_SEV_NONE), "none");
    assert_string_equal(lb_severity_name(LB_SEV_MINOR), "minor");
    assert_string_equal(lb_severity_name(LB_SEV_MAJOR), "major");
    assert_string_equal(lb_severity_name(LB_SEV_CRITICAL), "critical");
}

static void test_validate_table_fp_clear_frees_and_zeroes(void **state)
{
    struct lb_table_fp t = {.name = lb_xstrdup("public.x"), .rows = 3,
                            .fingerprint = lb_xstrdup("ab"), .schema_fp = lb_xstrdup("cd"),
                            .has_pk = 1, .nfks = 2, .bytes = 8192};
    (void)state;

    lb_table_fp_clear(&t);
    assert_null(t.name);
    assert_null(t.fingerprint);
    assert_int_equal(t.rows, 0);
    lb_table_fp_clear(NULL);
}

/* ---- sketch decoding ---------------------------------------------------- */

static struct vcell *cells_new(void)
{
    return lb_xcalloc(VSKETCH_CELLS, sizeof(struct vcell));
}

/* Add (sign = 1) or remove (sign = -1) one row of the given hash, key,
 * group and check to a sketch, as the server's sums would. */
static void cell_put(struct vcell *cells, int sign, uint64_t h, uint64_t k, uint64_t g,
                     uint64_t chk)
{
    struct vcell *c = &cells[h & (VSKETCH_CELLS - 1)];
    uint64_t s = sign > 0 ? 1 : (uint64_t)0 - 1;

    c->n += sign;
    c->h += s * h;
    c->k[0] += s * k;
    c->g += s * g;
    c->chk += s * chk;
}

/* Some rows both sides share, so that cells are not empty. */
static void common_rows(struct vcell *a, struct vcell *b)
{
    for (uint64_t i = 1; i <= 5000; i++) {
        uint64_t h = i * 0x9e3779b97f4a7c15u;
        cell_put(a, 1, h, i, i % 7, h ^ 0x5555u);
        cell_put(b, 1, h, i, i % 7, h ^ 0x5555u);
    }
}

static void test_validate_sketch_decode_recovers_a_lone_missing_row_with_its_key(void **state)
{
    struct vcell *before = cells_new(), *now = cells_new();
    struct velem *e = NULL;
    size_t n = 0;
    (void)state;

    common_rows(before, now);
    /* A row the baseline had, hash with its top bit set (a negative int8). */
    cell_put(before, 1, 0xf00000000000a123u, 1187, 42, 777);
    assert_int_equal(vsketch_decode(before, now, 1, &e, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].sign, -1);
    assert_true(e[0].h == 0xf00000000000a123u);
    assert_int_equal(e[0].k[0], 1187);
    assert_int_equal(e[0].g, 42);
    assert_int_equal(e[0].chk, 777);
    free(e);
    free(before);
    free(now);
}

static void test_validate_sketch_decode_sees_a_changed_row_as_its_two_versions(void **state)
{
    struct vcell *before = cells_new(), *now = cells_new();
    struct velem *e = NULL;
    size_t n = 0;
    (void)state;

    common_rows(before, now);
    cell_put(before, 1, 0x1000000000000010u, 17, 3, 1);
    cell_put(now, 1, 0x2000000000000020u, 17, 3, 2);
    assert_int_equal(vsketch_decode(before, now, 1, &e, &n), 0);
    assert_int_equal(n, 2);
    /* Cells in order: the old version's cell (0x010) before the new (0x020). */
    assert_int_equal(e[0].sign, -1);
    assert_int_equal(e[0].k[0], 17);
    assert_int_equal(e[1].sign, 1);
    assert_int_equal(e[1].k[0], 17);
    assert_true(e[1].h == 0x2000000000000020u);
    free(e);
    free(before);
    free(now);
}

static void test_validate_sketch_decode_leaves_a_cell_with_two_differences_undecoded(void **state)
{
    struct vcell *before = cells_new(), *now = cells_new();
    struct velem *e = NULL;
    size_t n = 0;
    (void)state;

    common_rows(before, now);
    /* Two missing rows in cell 0x123: their sums are no row at all. */
    cell_put(before, 1, 0x0000000000001123u, 1, 1, 1);
    cell_put(before, 1, 0x0000000000002123u, 2, 1, 1);
    /* Two removed and one added row in cell 0x456 net to one removed row
     * of that very cell: a candidate, which only the check sum (verified
     * by the server's second hash of its hash) can refuse. */
    cell_put(before, 1, 0x0000000000000456u, 3, 1, 1);
    cell_put(before, 1, 0x0000000000001456u, 4, 1, 1);
    cell_put(now, 1, 0x0000000000002456u, 5, 1, 1);
    assert_int_equal(vsketch_decode(before, now, 1, &e, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].k[0], 2); /* 3 + 4 - 5: not a row */
    assert_int_equal(e[0].chk, 1);  /* 1 + 1 - 1: not the hash of its hash */
    free(e);
    free(before);
    free(now);
}

/* ---- localisation in findings -------------------------------------------- */

static struct lb_table_diff *mkdiff(const char *method, int complete, const char *group_col,
                                    const char *missing_group)
{
    struct lb_table_diff *d = lb_xcalloc(1, sizeof(*d));
    d->method = lb_xstrdup(method);
    d->key_columns = lb_xstrdup("id");
    d->group_column = lb_xstrdup(group_col);
    d->missing_group = lb_xstrdup(missing_group);
    d->complete = complete;
    d->samples = lb_xcalloc(16, sizeof(*d->samples));
    return d;
}

static void diff_add(struct lb_table_diff *d, char kind, const char *key)
{
    d->samples[d->nsamples].kind = kind;
    d->samples[d->nsamples].key = lb_xstrdup(key);
    d->nsamples++;
    if (kind == 'm')
        d->missing++;
    else if (kind == 'e')
        d->extra++;
    else
        d->changed++;
}

/* BEFORE against a copy whose inventory has `rows` rows, another
 * fingerprint, and the diff d. */
static void compare_with_diff(int64_t rows, struct lb_table_diff *d, struct lb_findings *f)
{
    struct lb_baseline *before = mk(BEFORE, 2), *after = mk(BEFORE, 2);

    after->tables[1].rows = rows;
    free(after->tables[1].fingerprint);
    after->tables[1].fingerprint = lb_xstrdup("2222222222222222");
    after->tables[1].diff = d;
    assert_int_equal(lb_validate_findings(before, after, &EXACT, f), 0);
    lb_baseline_free(before);
    lb_baseline_free(after);
}

static void test_validate_findings_title_missing_rows_after_the_group_they_share(void **state)
{
    struct lb_table_diff *d = mkdiff("sketch", 1, "account_id", "1187");
    const struct lb_finding *rows, *missing;
    struct lb_findings f;
    (void)state;

    diff_add(d, 'm', "1187");
    diff_add(d, 'm', "2187");
    compare_with_diff(19998, d, &f);
    rows = find(&f, "inventory: rows");
    assert_int_equal(rows->severity, LB_SEV_CRITICAL);
    assert_string_equal(rows->gap_title,
                        "2 rows of inventory for account_id 1187 are missing (id 1187, 2187)");
    /* The numbers stay in the detail. */
    assert_non_null(strstr(rows->gap_detail, "inventory: 19998 rows, 20000 expected (-2)."));
    missing = find(&f, "inventory: missing rows");
    assert_non_null(missing);
    assert_false(missing->ok);
    assert_int_equal(missing->severity, LB_SEV_NONE); /* one gap per problem */
    assert_string_equal(missing->expected, "0");
    assert_string_equal(missing->observed, "2: id 1187, 2187 (all account_id 1187)");
    assert_null(find(&f, "inventory: changed rows"));
    assert_int_equal(count_gaps(&f), 1);
    lb_findings_free(&f);
}

static void test_validate_findings_name_one_missing_row_in_the_singular(void **state)
{
    struct lb_table_diff *d = mkdiff("rows", 1, NULL, NULL);
    struct lb_findings f;
    (void)state;

    diff_add(d, 'm', "5");
    compare_with_diff(19999, d, &f);
    assert_string_equal(find(&f, "inventory: rows")->gap_title,
                        "1 row of inventory is missing (id 5)");
    lb_findings_free(&f);
}

static void test_validate_findings_say_at_least_when_the_sketch_could_not_name_all(void **state)
{
    struct lb_table_diff *d = mkdiff("sketch", 0, NULL, NULL);
    const struct lb_finding *content;
    struct lb_findings f;
    (void)state;

    d->why = lb_xstrdup("3 of the baseline's 4096 sketch cells hold more than one difference");
    for (int i = 0; i < 7; i++) {
        char key[8];
        snprintf(key, sizeof(key), "%d", 10 + i);
        diff_add(d, 'c', key);
    }
    compare_with_diff(20000, d, &f);
    content = find(&f, "inventory: content");
    assert_string_equal(content->gap_title,
                        "inventory: at least 7 rows changed (id 10, 11, 12, 13, 14, \xe2\x80\xa6)");
    assert_non_null(strstr(content->gap_detail, "Not complete: 3 of the baseline's 4096"));
    assert_string_equal(find(&f, "inventory: changed rows")->observed,
                        "at least 7: id 10, 11, 12, 13, 14, 15, 16");
    lb_findings_free(&f);
}

static void test_validate_findings_explain_why_rows_cannot_be_named(void **state)
{
    struct lb_table_diff *d = mkdiff("none", 0, NULL, NULL);
    const struct lb_finding *content;
    struct lb_findings f;
    (void)state;

    d->why = lb_xstrdup("it has no primary key");
    compare_with_diff(20000, d, &f);
    content = find(&f, "inventory: content");
    assert_true(lb_str_starts(content->gap_title, "inventory: content differs"));
    assert_non_null(strstr(content->gap_detail,
                           "Which rows differ cannot be said: it has no primary key."));
    assert_null(find(&f, "inventory: missing rows"));
    lb_findings_free(&f);
}

/* ---- foreign keys ---------------------------------------------------------- */

static void fk_set(struct lb_fk_violation *v, const char *name, const char *table,
                   const char *parent, int64_t count)
{
    v->constraint = lb_xstrdup(name);
    v->table = lb_xstrdup(table);
    v->references = lb_xstrdup(parent);
    v->columns = lb_xstrdup("account_id");
    v->ref_columns = lb_xstrdup("id");
    v->sample_columns = lb_xstrdup("id");
    v->count = count;
}

static void test_validate_fk_findings_give_each_violated_constraint_a_major_gap(void **state)
{
    struct lb_fk_report r = {0};
    struct lb_findings f = {0};
    const struct lb_finding *ok, *bad;
    (void)state;

    r.n = 3;
    r.items = lb_xcalloc(3, sizeof(*r.items));
    fk_set(&r.items[0], "inventory_account_id_fkey", "public.inventory", "public.accounts", 0);
    fk_set(&r.items[1], "transactions_account_id_fkey", "public.transactions", "public.accounts",
           42);
    r.items[1].samples = lb_xcalloc(2, sizeof(char *));
    r.items[1].samples[0] = lb_xstrdup("17");
    r.items[1].samples[1] = lb_xstrdup("18");
    r.items[1].nsamples = 2;
    r.items[1].missing_refs = lb_xcalloc(1, sizeof(char *));
    r.items[1].missing_refs[0] = lb_xstrdup("1187");
    r.items[1].nmissing_refs = 1;
    fk_set(&r.items[2], "users_account_id_fkey", "public.users", "public.accounts", -1);

    assert_int_equal(lb_validate_fk_findings(&r, &f), 0);
    assert_false(f.ok);
    assert_int_equal(f.n, 2); /* one not checked: no finding */
    ok = find(&f, "inventory: fk inventory_account_id_fkey");
    assert_true(ok->ok);
    assert_string_equal(ok->observed, "0 rows without a parent");
    bad = find(&f, "transactions: fk transactions_account_id_fkey");
    assert_false(bad->ok);
    assert_string_equal(bad->table, "public.transactions");
    assert_int_equal(bad->severity, LB_SEV_MAJOR);
    assert_string_equal(bad->observed, "42 rows without a parent: id 17, 18, \xe2\x80\xa6");
    assert_string_equal(bad->gap_title, "transactions: 42 rows reference accounts rows that do "
                                        "not exist (transactions_account_id_fkey: account_id "
                                        "1187)");
    assert_non_null(strstr(bad->gap_detail, "Missing parents, most rows first: account_id 1187."));
    lb_findings_free(&f);
    lb_fk_report_free(&r);
    assert_int_equal(lb_validate_fk_findings(NULL, &f), LB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_findings_pass_when_nothing_changed),
        cmocka_unit_test(test_validate_findings_call_an_empty_restore_a_critical_gap),
        cmocka_unit_test(test_validate_findings_accept_a_count_within_tolerance),
        cmocka_unit_test(test_validate_findings_reject_a_count_outside_tolerance),
        cmocka_unit_test(test_validate_findings_put_the_tolerance_boundary_inside),
        cmocka_unit_test(test_validate_findings_demand_an_exact_count_when_tolerance_is_zero),
        cmocka_unit_test(test_validate_findings_call_changed_content_with_equal_count_critical),
        cmocka_unit_test(test_validate_findings_skip_content_when_not_asked),
        cmocka_unit_test(test_validate_findings_call_a_lost_primary_key_major),
        cmocka_unit_test(test_validate_findings_call_a_lost_foreign_key_major),
        cmocka_unit_test(test_validate_findings_call_any_other_schema_change_major),
        cmocka_unit_test(test_validate_findings_call_a_missing_table_critical),
        cmocka_unit_test(test_validate_findings_treat_a_table_absent_from_after_as_missing),
        cmocka_unit_test(test_validate_findings_match_a_table_recorded_unqualified),
        cmocka_unit_test(test_validate_findings_never_pass_an_empty_baseline),
        cmocka_unit_test(test_validate_findings_fail_a_table_missing_from_the_baseline_itself),
        cmocka_unit_test(test_validate_findings_keep_other_schemas_qualified),
        cmocka_unit_test(test_validate_findings_reject_missing_arguments),
        cmocka_unit_test(test_validate_find_resolves_unqualified_and_qualified_names),
        cmocka_unit_test(test_validate_fold_sum_wraps_modulo_2_64),
        cmocka_unit_test(test_validate_severity_names_are_stable),
        cmocka_unit_test(test_validate_table_fp_clear_frees_and_zeroes),
        cmocka_unit_test(test_validate_sketch_decode_recovers_a_lone_missing_row_with_its_key),
        cmocka_unit_test(test_validate_sketch_decode_sees_a_changed_row_as_its_two_versions),
        cmocka_unit_test(test_validate_sketch_decode_leaves_a_cell_with_two_differences_undecoded),
        cmocka_unit_test(test_validate_findings_title_missing_rows_after_the_group_they_share),
        cmocka_unit_test(test_validate_findings_name_one_missing_row_in_the_singular),
        cmocka_unit_test(test_validate_findings_say_at_least_when_the_sketch_could_not_name_all),
        cmocka_unit_test(test_validate_findings_explain_why_rows_cannot_be_named),
        cmocka_unit_test(test_validate_fk_findings_give_each_violated_constraint_a_major_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
