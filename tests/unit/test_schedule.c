/*
 * Unit tests of scheduling (src/engine/schedule.c: time zones, windows,
 * plans, commitments) and of manual steps (src/engine/manual.c) against a
 * real SQLite store. The time zone code is checked against the C library
 * reading the same tz database: the tests may set TZ and call tzset (their
 * process, their global state); the library never does.
 */
/* posix_openpt and friends, for a terminal to type "done" into. */
#define _XOPEN_SOURCE 700

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lifeboat/engine.h"
#include "lifeboat/schedule.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

static const char SALT[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char SHA_C[] = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

static struct lb_pool_entry pool3[] = {
    {"where-matches-everything", (char *)SHA_C, "/s/where.lua"},
    {"dropped-table", (char *)SHA_A, "/s/dropped.lua"},
    {"backup-that-wasnt", (char *)SHA_B, "/s/backup.lua"},
};

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return ((lb_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

/* A plan for 2027Q1 with the given windows and seed (salt fixed). */
static struct lb_plan *make_plan(const char *const *windows, size_t nwindows,
                                 const char *const *blackouts, size_t nblackouts, int count,
                                 int64_t spacing_ms, const char *seed)
{
    struct lb_plan_opts o = {0};
    struct lb_plan *p = NULL;
    struct lb_err err = {0};
    assert_int_equal(lb_period_quarter("2027Q1", &o.period, &err), 0);
    o.not_before = -1;
    o.windows = windows;
    o.nwindows = nwindows;
    o.blackouts = blackouts;
    o.nblackouts = nblackouts;
    o.pool = pool3;
    o.npool = 3;
    o.count = count;
    o.spacing_ms = spacing_ms;
    o.seed = seed;
    o.salt = SALT;
    if (lb_plan_make(&o, &p, &err) != 0)
        print_error("lb_plan_make: %s\n", err.msg);
    assert_non_null(p);
    return p;
}

static char *canonical(const struct lb_plan *p)
{
    struct lb_buf b = {0};
    lb_plan_canonical(p, &b);
    return lb_buf_steal(&b);
}

/* tm_gmtoff of the C library for a zone at a UTC instant. */
static long libc_offset(const char *zone, int64_t utc_ms)
{
    struct tm tm;
    time_t t = (time_t)(utc_ms / 1000);
    setenv("TZ", zone, 1);
    tzset();
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

/* ---- time zones ------------------------------------------------------------ */

static void test_schedule_tz_offsets_match_the_c_library(void **state)
{
    static const char *const zones[] = {
        "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
        "Asia/Kathmandu", "Australia/Lord_Howe", "America/Santiago", "Pacific/Chatham",
        "Africa/Casablanca", "UTC",
    };
    (void)state;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        struct lb_tz *tz = NULL;
        struct lb_err err = {0};
        int rc = lb_tz_load(zones[z], NULL, &tz, &err);
        if (rc != 0)
            print_error("%s: %s\n", zones[z], err.msg);
        assert_int_equal(rc, 0);
        /* Every 61 minutes through 2026..2028: every transition is crossed. */
        for (int64_t t = utc(2026, 1, 1, 0, 0, 0); t < utc(2029, 1, 1, 0, 0, 0);
             t += 61 * 60000LL) {
            long want = libc_offset(zones[z], t);
            if (lb_tz_offset(tz, t) != want)
                print_error("%s at %lld: %d, libc %ld\n", zones[z], (long long)t,
                            lb_tz_offset(tz, t), want);
            assert_int_equal(lb_tz_offset(tz, t), want);
        }
        lb_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_schedule_tz_knows_the_2027_eu_switch_to_the_second(void **state)
{
    struct lb_tz *tz = NULL;
    struct lb_err err = {0};
    struct lb_local l;
    (void)state;
    assert_int_equal(lb_tz_load("Europe/Berlin", NULL, &tz, &err), 0);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 3, 28, 0, 59, 59)), 3600);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 3, 28, 1, 0, 0)), 7200);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 10, 31, 0, 59, 59)), 7200);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 10, 31, 1, 0, 0)), 3600);
    /* 01:00Z on the switch day is 03:00 on a Sunday in Berlin. */
    lb_tz_local(tz, utc(2027, 3, 28, 1, 0, 0), &l);
    assert_int_equal(l.weekday, 6);
    assert_int_equal(l.minute, 3 * 60);
    assert_int_equal(l.day, lb_days_from_civil(2027, 3, 28));
    /* Past the file's last transition (2037) the footer rule goes on. */
    assert_int_equal(lb_tz_offset(tz, utc(2041, 7, 1, 12, 0, 0)), 7200);
    assert_int_equal(lb_tz_offset(tz, utc(2041, 12, 1, 12, 0, 0)), 3600);
    lb_tz_free(tz);
}

static void test_schedule_posix_rules_agree_with_the_tz_database(void **state)
{
    static const struct { const char *zone, *rule; } cases[] = {
        {"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"},
        {"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
        {"Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3"},
        {"Asia/Kolkata", "IST-5:30"},
        {"America/Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lb_tz *file = NULL, *rule = NULL;
        struct lb_err err = {0};
        assert_int_equal(lb_tz_load(cases[i].zone, NULL, &file, &err), 0);
        assert_int_equal(lb_tz_posix(cases[i].zone, cases[i].rule, &rule, &err), 0);
        for (int64_t t = utc(2027, 1, 1, 0, 0, 0); t < utc(2028, 1, 1, 0, 0, 0); t += 15 * 60000LL)
            assert_int_equal(lb_tz_offset(rule, t), lb_tz_offset(file, t));
        lb_tz_free(file);
        lb_tz_free(rule);
    }
}

/* A "slim" TZif file: version 2, no transitions at all, only the footer. */
static size_t slim_tzif(unsigned char *buf, const char *footer)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        unsigned char *h = buf + n;
        memset(h, 0, 44);
        memcpy(h, "TZif2", 5);
        h[39] = 1;          /* typecnt = 1 */
        h[43] = 4;          /* charcnt = 4 */
        n += 44;
        /* one type: utoff 3600, isdst 0, desigidx 0; "CET\0" */
        buf[n + 0] = 0;
        buf[n + 1] = 0;
        buf[n + 2] = 0x0e;
        buf[n + 3] = 0x10;
        buf[n + 4] = 0;
        buf[n + 5] = 0;
        memcpy(buf + n + 6, "CET", 4);
        n += 10;
    }
    buf[n++] = '\n';
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    buf[n++] = '\n';
    return n;
}

static void test_schedule_slim_tzif_files_use_their_footer_rule(void **state)
{
    unsigned char buf[256];
    size_t n = slim_tzif(buf, "CET-1CEST,M3.5.0,M10.5.0/3");
    struct lb_tz *tz = NULL;
    struct lb_err err = {0};
    (void)state;
    assert_int_equal(lb_tz_parse("slim", buf, n, &tz, &err), 0);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 3, 28, 0, 59, 59)), 3600);
    assert_int_equal(lb_tz_offset(tz, utc(2027, 3, 28, 1, 0, 0)), 7200);
    assert_int_equal(lb_tz_offset(tz, utc(2041, 7, 1, 12, 0, 0)), 7200);
    lb_tz_free(tz);

    /* Every truncation is refused, never read past the end. */
    for (size_t cut = 0; cut < n - 1; cut++) {
        tz = NULL;
        if (lb_tz_parse("cut", buf, cut, &tz, &err) == 0) {
            /* Only a cut inside the footer's trailing text can still parse. */
            assert_true(cut >= 108);
            lb_tz_free(tz);
        }
    }
    n = slim_tzif(buf, "CET-1CEST,M13.5.0,M10.5.0/3");
    assert_int_equal(lb_tz_parse("bad rule", buf, n, &tz, &err), LB_EINVAL);
    assert_null(tz);
}

static void test_schedule_refuses_bad_zone_names(void **state)
{
    static const char *const bad[] = {"../../etc/passwd", "/etc/localtime", "Europe/../UTC",
                                      "Mars/Olympus_Mons", "Europe/Berlin ", ""};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lb_tz *tz = NULL;
        struct lb_err err = {0};
        assert_int_equal(lb_tz_load(bad[i], NULL, &tz, &err), LB_EINVAL);
        assert_null(tz);
        assert_true(err.msg[0] != '\0');
    }
}

/* ---- windows, blackouts, periods -------------------------------------------- */

static void test_schedule_window_texts_parse_to_a_normal_form(void **state)
{
    static const struct { const char *in, *out; } ok[] = {
        {"Mon-Fri 09:00-17:00 Europe/Berlin", "Mon-Fri 09:00-17:00 Europe/Berlin"},
        {"Europe/Berlin 9:30-12:00 mon,wed,fri", "Mon,Wed,Fri 09:30-12:00 Europe/Berlin"},
        {"Fri-Mon", "Mon,Fri-Sun 00:00-24:00 UTC"},
        {"Saturday-Sunday 00:00-24:00", "Sat-Sun 00:00-24:00 UTC"},
        {"10:00-11:00", "Mon-Sun 10:00-11:00 UTC"},
    };
    static const char *const bad[] = {
        "Mon-Fri 17:00-09:00 Europe/Berlin", "Mon-Fri 25:00-26:00", "Mon-Fri 09:00",
        "Mon-Fri 09:00-17:00 Mars/Olympus", "Mon-Fri Tue 09:00-17:00", "", "Mon- 09:00-10:00 UTC",
    };
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct lb_window w;
        struct lb_err err = {0};
        char text[128];
        assert_int_equal(lb_window_parse(ok[i].in, NULL, &w, &err), 0);
        lb_window_format(&w, text, sizeof text);
        assert_string_equal(text, ok[i].out);
        lb_window_free(&w);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lb_window w;
        struct lb_err err = {0};
        assert_int_equal(lb_window_parse(bad[i], NULL, &w, &err), LB_EINVAL);
        assert_null(w.tz);
    }
}

static void test_schedule_window_follows_the_clock_across_the_spring_switch(void **state)
{
    static const char *const sunday[] = {"Sun 01:00-04:00 Europe/Berlin"};
    struct lb_plan_opts o = {0};
    struct lb_plan *p = NULL;
    struct lb_err err = {0};
    int64_t *m = NULL;
    size_t n = 0;
    (void)state;

    /* 2027-03-28: 02:00-03:00 does not exist in Berlin, the window has two hours. */
    assert_int_equal(lb_period_range("2027-03-28", "2027-03-29", &o.period, &err), 0);
    o.not_before = -1;
    o.windows = sunday;
    o.nwindows = 1;
    o.pool = pool3;
    o.npool = 1;
    o.count = 1;
    o.seed = "dst";
    o.salt = SALT;
    assert_int_equal(lb_plan_make(&o, &p, &err), 0);
    assert_int_equal(lb_plan_eligible(p, &m, &n, &err), 0);
    assert_int_equal(n, 120);
    assert_int_equal(m[0], utc(2027, 3, 28, 0, 0, 0));       /* 01:00 CET */
    assert_int_equal(m[59], utc(2027, 3, 28, 0, 59, 0));
    assert_int_equal(m[60], utc(2027, 3, 28, 1, 0, 0));      /* 03:00 CEST */
    assert_int_equal(m[119], utc(2027, 3, 28, 1, 59, 0));
    assert_true(p->drills[0].at >= m[0] && p->drills[0].at < m[119] + 60000);
    free(m);
    lb_plan_free(p);

    /* 2027-10-31: 02:00-03:00 happens twice, the window has four hours. */
    assert_int_equal(lb_period_range("2027-10-31", "2027-11-01", &o.period, &err), 0);
    assert_int_equal(lb_plan_make(&o, &p, &err), 0);
    assert_int_equal(lb_plan_eligible(p, &m, &n, &err), 0);
    assert_int_equal(n, 240);
    assert_int_equal(m[0], utc(2027, 10, 30, 23, 0, 0));     /* 01:00 CEST */
    assert_int_equal(m[239], utc(2027, 10, 31, 2, 59, 0));   /* 03:59 CET */
    free(m);
    lb_plan_free(p);
}

static void test_schedule_blackouts_and_periods_parse(void **state)
{
    struct lb_blackout b;
    struct lb_period p;
    struct lb_err err = {0};
    char text[64];
    (void)state;

    assert_int_equal(lb_blackout_parse("2027-02-15", &b, &err), 0);
    assert_int_equal(b.first_day, b.last_day);
    assert_int_equal(lb_blackout_parse("2027-03-01..2027-03-05", &b, &err), 0);
    assert_int_equal(b.last_day - b.first_day, 4);
    lb_blackout_format(&b, text, sizeof text);
    assert_string_equal(text, "2027-03-01..2027-03-05");
    assert_int_equal(lb_blackout_parse("2027-03-05..2027-03-01", &b, &err), LB_EINVAL);
    assert_int_equal(lb_blackout_parse("2027-02-30", &b, &err), LB_EINVAL);
    assert_int_equal(lb_blackout_parse("tomorrow", &b, &err), LB_EINVAL);

    assert_int_equal(lb_period_quarter("2027Q1", &p, &err), 0);
    assert_int_equal(p.until - p.from, 31 + 28 + 31);
    lb_period_label(&p, text, sizeof text);
    assert_string_equal(text, "2027Q1");
    assert_int_equal(lb_period_quarter("2028q4", &p, &err), 0);
    assert_int_equal(p.until, lb_days_from_civil(2029, 1, 1));
    assert_int_equal(lb_period_quarter("2027Q5", &p, &err), LB_EINVAL);
    assert_int_equal(lb_period_quarter("27Q1", &p, &err), LB_EINVAL);
    assert_int_equal(lb_period_range("2027-01-01", "2027-02-01", &p, &err), 0);
    lb_period_label(&p, text, sizeof text);
    assert_string_equal(text, "2027-01-01..2027-02-01");
    assert_int_equal(lb_period_range("2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z", &p, &err),
                     0);
    assert_int_equal(p.dates, 0);
    assert_int_equal(lb_period_end_ms(&p), utc(2026, 11, 26, 11, 0, 0));
    assert_int_equal(lb_period_range("2027-01-01", "2026-11-26T11:00:00Z", &p, &err), LB_EINVAL);
    assert_int_equal(lb_period_range("2027-02-01", "2027-01-01", &p, &err), LB_EINVAL);
}

/* ---- the generator and plans ------------------------------------------------- */

static void test_schedule_prng_sequence_is_fixed_forever(void **state)
{
    /* Plans are re-derived from their seed years later: these values are
     * xoshiro256** seeded from SHA-256("lifeboat schedule v1 prng\n" +
     * "lifeboat"), computed independently; they must never change. */
    struct lb_prng g;
    (void)state;
    lb_prng_seed(&g, "lifeboat");
    assert_true(lb_prng_next(&g) == 0xc643c4c2397c1b88ULL);
    assert_true(lb_prng_next(&g) == 0xcf2b6617a677cd8fULL);
    assert_true(lb_prng_next(&g) == 0xbc0537571d7b66faULL);
    for (int i = 0; i < 10000; i++)
        assert_true(lb_prng_below(&g, 7) < 7);
}

static void test_schedule_same_seed_gives_the_same_plan(void **state)
{
    static const char *const berlin[] = {"Mon-Fri 09:00-17:00 Europe/Berlin"};
    struct lb_plan *a = make_plan(berlin, 1, NULL, 0, 5, -1, "ops-2027Q1");
    struct lb_plan *b = make_plan(berlin, 1, NULL, 0, 5, -1, "ops-2027Q1");
    struct lb_plan *c = make_plan(berlin, 1, NULL, 0, 5, -1, "ops-2027Q1-other");
    char *ta = canonical(a), *tb = canonical(b), *tc = canonical(c);
    int differ = 0;
    (void)state;

    assert_string_equal(ta, tb);
    for (size_t i = 0; i < a->ndrills; i++)
        differ |= a->drills[i].at != c->drills[i].at;
    assert_true(differ);
    assert_string_not_equal(ta, tc);
    /* The drills are in time order, at least a day apart (the default). */
    for (size_t i = 1; i < a->ndrills; i++)
        assert_true(a->drills[i].at - a->drills[i - 1].at >= DAY_MS);
    free(ta);
    free(tb);
    free(tc);
    lb_plan_free(a);
    lb_plan_free(b);
    lb_plan_free(c);
}

static void test_schedule_no_instant_outside_the_windows_or_on_a_blackout(void **state)
{
    static const char *const windows[] = {"Mon-Fri 09:00-17:00 Europe/Berlin",
                                          "Sat 10:00-12:00 America/New_York"};
    static const char *const blackouts[] = {"2027-02-15", "2027-03-01..2027-03-05",
                                            "2027-03-26..2027-03-31"};
    struct lb_plan *p = make_plan(windows, 2, blackouts, 3, 200, 0, "many");
    int64_t q_from = lb_days_from_civil(2027, 1, 1), q_until = lb_days_from_civil(2027, 4, 1);
    int saw_berlin_summer = 0, saw_new_york = 0;
    (void)state;

    assert_int_equal(p->ndrills, 200);
    for (size_t i = 0; i < p->ndrills; i++) {
        int64_t at = p->drills[i].at;
        int ok_window = 0;
        const char *zone[2] = {"Europe/Berlin", "America/New_York"};
        assert_true(at % 1000 == 0);
        for (int w = 0; w < 2; w++) {
            /* The C library's view of the local time, independent of ours. */
            struct tm tm;
            time_t t = (time_t)(at / 1000);
            int64_t day;
            int blocked = 0;
            setenv("TZ", zone[w], 1);
            tzset();
            localtime_r(&t, &tm);
            day = lb_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
            if (w == 0 && !(tm.tm_wday >= 1 && tm.tm_wday <= 5 && tm.tm_hour >= 9 &&
                            tm.tm_hour < 17))
                continue;
            if (w == 1 && !(tm.tm_wday == 6 && tm.tm_hour >= 10 && tm.tm_hour < 12))
                continue;
            if (day < q_from || day >= q_until)
                continue;
            blocked = day == lb_days_from_civil(2027, 2, 15) ||
                      (day >= lb_days_from_civil(2027, 3, 1) &&
                       day <= lb_days_from_civil(2027, 3, 5)) ||
                      (day >= lb_days_from_civil(2027, 3, 26) &&
                       day <= lb_days_from_civil(2027, 3, 31));
            if (!blocked) {
                ok_window = 1;
                saw_new_york |= w == 1;
                saw_berlin_summer |= w == 0 && tm.tm_isdst;
            }
        }
        if (!ok_window) {
            char text[32];
            lb_instant_format(at, text, sizeof text);
            print_error("drill %zu at %s is outside every window\n", i + 1, text);
        }
        assert_true(ok_window);
    }
    /* Berlin summer time in Q1 is only 2027-03-28..31, all blacked out. */
    assert_false(saw_berlin_summer);
    assert_true(saw_new_york);
    unsetenv("TZ");
    tzset();
    lb_plan_free(p);
}

static void test_schedule_draws_every_scenario_before_repeating_one(void **state)
{
    static const char *const any[] = {"Mon-Sun"};
    struct lb_plan *p = make_plan(any, 1, NULL, 0, 6, -1, "deck");
    int seen[3] = {0, 0, 0};
    (void)state;

    for (size_t i = 0; i < p->ndrills; i++) {
        for (int k = 0; k < 3; k++)
            if (strcmp(p->drills[i].scenario_id, pool3[k].id) == 0)
                seen[k]++;
        if (i == 2)
            assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    }
    assert_true(seen[0] == 2 && seen[1] == 2 && seen[2] == 2);
    /* The pool is kept sorted by id, whatever order it came in. */
    assert_string_equal(p->pool[0].id, "backup-that-wasnt");
    assert_string_equal(p->pool[2].id, "where-matches-everything");
    lb_plan_free(p);
}

static void test_schedule_refuses_drills_that_do_not_fit(void **state)
{
    static const char *const one_hour[] = {"Mon-Fri 10:00-11:00 UTC"};
    struct lb_plan_opts o = {0};
    struct lb_plan *p = NULL;
    struct lb_err err = {0};
    (void)state;
    assert_int_equal(lb_period_range("2027-01-04", "2027-01-06", &o.period, &err), 0);
    o.not_before = -1;
    o.windows = one_hour;
    o.nwindows = 1;
    o.pool = pool3;
    o.npool = 3;
    o.count = 3;
    o.spacing_ms = -1;   /* a day apart: two days hold two drills */
    o.seed = "full";
    o.salt = SALT;
    assert_int_equal(lb_plan_make(&o, &p, &err), LB_EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "cannot fit 3 drills"));
    o.count = 2;
    assert_int_equal(lb_plan_make(&o, &p, &err), 0);
    lb_plan_free(p);
    p = NULL;
    /* A blackout over the whole period leaves nothing. */
    {
        static const char *const all[] = {"2027-01-04..2027-01-05"};
        o.blackouts = all;
        o.nblackouts = 1;
        assert_int_equal(lb_plan_make(&o, &p, &err), LB_EINVAL);
        assert_non_null(strstr(err.msg, "outside every blackout"));
    }
    /* A seed with a space cannot be written on one line. */
    o.nblackouts = 0;
    o.seed = "two words";
    assert_int_equal(lb_plan_make(&o, &p, &err), LB_EINVAL);
}

static void test_schedule_not_before_keeps_drills_out_of_the_past(void **state)
{
    static const char *const any[] = {"Mon-Sun"};
    struct lb_plan_opts o = {0};
    struct lb_plan *p = NULL, *back = NULL;
    struct lb_err err = {0};
    char *text;
    (void)state;
    assert_int_equal(lb_period_quarter("2027Q1", &o.period, &err), 0);
    o.not_before = utc(2027, 3, 30, 12, 0, 30);   /* rounded up to 12:01 */
    o.windows = any;
    o.nwindows = 1;
    o.pool = pool3;
    o.npool = 3;
    o.count = 2;
    o.spacing_ms = HOUR_MS;
    o.seed = "late";
    o.salt = SALT;
    assert_int_equal(lb_plan_make(&o, &p, &err), 0);
    for (size_t i = 0; i < p->ndrills; i++)
        assert_true(p->drills[i].at >= utc(2027, 3, 30, 12, 1, 0));
    text = canonical(p);
    assert_non_null(strstr(text, "\nafter 2027-03-30T12:01:00Z\n"));
    assert_int_equal(lb_plan_parse(text, NULL, &back, &err), 0);
    assert_int_equal(lb_plan_rederive(back, &err), 0);
    free(text);
    lb_plan_free(back);
    lb_plan_free(p);
}

static void test_schedule_commitment_verifies_the_plan_and_not_an_altered_one(void **state)
{
    static const char *const berlin[] = {"Mon-Fri 09:00-17:00 Europe/Berlin"};
    static const char *const blackouts[] = {"2027-02-15"};
    struct lb_plan *p = make_plan(berlin, 1, blackouts, 1, 3, -1, "commit");
    struct lb_plan *back = NULL, *moved = NULL;
    struct lb_err err = {0};
    char want[65], got[65], sha[65], *text = canonical(p), *altered, *line;
    (void)state;

    /* The commitment is the sha256 of the canonical text, nothing else. */
    lb_plan_commitment(p, want);
    lb_sha256_hex(text, strlen(text), sha);
    assert_string_equal(want, sha);
    assert_true(lb_str_starts(text, "lifeboat schedule v1\nperiod 2027-01-01 2027-04-01\n"));
    assert_non_null(strstr(text, "\nsalt " "00112233445566778899aabbccddeeff"));

    /* The text reads back to the same plan, drawn again from its seed. */
    assert_int_equal(lb_plan_parse(text, NULL, &back, &err), 0);
    lb_plan_commitment(back, got);
    assert_string_equal(got, want);
    assert_int_equal(lb_plan_rederive(back, &err), 0);

    /* Move drill 2 by one second: the commitment no longer matches, and the
     * seed does not draw it. */
    altered = lb_xstrdup(text);
    line = strstr(altered, "\ndrill 2 ");
    assert_non_null(line);
    line += strlen("\ndrill 2 2027-01-01T00:00:0");
    *line = *line == '9' ? '8' : (char)(*line + 1);
    lb_sha256_hex(altered, strlen(altered), sha);
    assert_string_not_equal(sha, want);
    assert_int_equal(lb_plan_parse(altered, NULL, &moved, &err), 0);
    lb_plan_commitment(moved, got);
    assert_string_not_equal(got, want);
    assert_int_equal(lb_plan_rederive(moved, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "drill 2"));
    lb_plan_free(moved);
    moved = NULL;
    free(altered);

    /* A different salt: same dates, another commitment (the salt is what
     * keeps the dates from being guessed from the commitment). */
    altered = lb_xstrdup(text);
    line = strstr(altered, "\nsalt 0");
    line[6] = '1';
    assert_int_equal(lb_plan_parse(altered, NULL, &moved, &err), 0);
    assert_int_equal(lb_plan_rederive(moved, &err), 0);
    lb_plan_commitment(moved, got);
    assert_string_not_equal(got, want);
    lb_plan_free(moved);
    free(altered);

    /* Anything that is not exactly the format is refused. */
    assert_int_equal(lb_plan_parse("lifeboat schedule v2\n", NULL, &moved, &err), LB_EINVAL);
    altered = lb_xasprintf("%sextra line\n", text);
    assert_int_equal(lb_plan_parse(altered, NULL, &moved, &err), LB_EINVAL);
    free(altered);
    altered = lb_xstrdup(text);
    altered[strlen(altered) - 1] = '\0';
    assert_int_equal(lb_plan_parse(altered, NULL, &moved, &err), LB_EINVAL);
    free(altered);

    free(text);
    lb_plan_free(back);
    lb_plan_free(p);
}

/* ---- manual steps --------------------------------------------------------------- */

struct mfx {
    char dir[64];
    char *path;
    struct lb_store *store;
    struct lb_run *run;
    struct lb_run_view *view;
};

static int manual_setup(void **state)
{
    struct mfx *f = lb_xcalloc(1, sizeof *f);
    struct lb_run_opts ro = {0};
    struct lb_err err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/lb-test-manual-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->path = lb_path_join(f->dir, "lifeboat.db");
    if (lb_store_open(f->path, &f->store, &err) != 0)
        return -1;
    ro.store = f->store;
    ro.scenario_id = "people";
    ro.rto_objective_ms = ro.rpo_objective_ms = -1;
    if (lb_run_new(&ro, &f->run, &err) != 0)
        return -1;
    if (lb_run_plan_step(f->run, "page the DBA", "manual", 0, 60000, "s.lua:3", &err) != 1)
        return -1;
    if (lb_run_step_begin(f->run, 1, &err) != 0)
        return -1;
    lb_interrupt_reset();
    *state = f;
    return 0;
}

static int manual_teardown(void **state)
{
    struct mfx *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm"};
    lb_run_view_free(f->view);
    lb_run_free(f->run);
    lb_store_close(f->store);
    for (size_t i = 0; i < 3; i++) {
        char *p = lb_xasprintf("%s%s", f->path, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static struct lb_run_view *reload(struct mfx *f)
{
    struct lb_err err = {0};
    lb_run_view_free(f->view);
    f->view = NULL;
    assert_int_equal(lb_store_load_run(f->store, lb_run_id(f->run), &f->view, &err), 0);
    return f->view;
}

struct acker {
    const char *path, *run_id, *step;
    int rc;
    char msg[1024];
};

/* `lifeboat ack` from "another shell": its own store handle, once the wait
 * exists. */
static void *ack_later(void *arg)
{
    struct acker *a = arg;
    struct lb_store *s = NULL;
    struct lb_ack_view v = {0};
    struct lb_err err = {0};
    a->rc = lb_store_open(a->path, &s, &err);
    for (int i = 0; a->rc == 0 && i < 200; i++) {
        lb_sleep_ms(20);
        a->rc = lb_store_ack(s, a->run_id, a->step, "bob", "cli", "ops-laptop", lb_wall_ms(),
                             &v, &err);
        if (a->rc != LB_ENOTFOUND)
            break;
    }
    snprintf(a->msg, sizeof a->msg, "%s", err.msg);
    lb_ack_view_clear(&v);
    lb_store_close(s);
    return NULL;
}

static void test_manual_an_ack_from_another_shell_ends_the_wait(void **state)
{
    struct mfx *f = *state;
    struct lb_manual_opts o = {.prompt = "call the DBA on duty", .timeout_ms = 20000,
                               .deadline_ms = LB_NO_DEADLINE, .tty_in = -1, .tty_out = -1,
                               .poll_ms = 20};
    struct lb_manual_result res;
    struct lb_err err = {0};
    struct acker a = {f->path, lb_run_id(f->run), "page the DBA", -1, ""};
    struct lb_ack_view v = {0};
    struct lb_run_view *view;
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, ack_later, &a), 0);
    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_string_equal(res.by, "bob");
    assert_string_equal(res.via, "cli");
    assert_true(res.waited_ms >= 20 && res.waited_ms < 20000);

    /* Recorded: who, how, and the wait as a metric of the step. */
    assert_int_equal(lb_store_ack_wait_get(f->store, 1, &v, &err), 0);
    assert_string_equal(v.state, "acknowledged");
    assert_string_equal(v.acked_by, "bob");
    assert_string_equal(v.acked_host, "ops-laptop");
    assert_string_equal(v.step_name, "page the DBA");
    lb_ack_view_clear(&v);
    view = reload(f);
    assert_int_equal(view->nmetrics, 1);
    assert_string_equal(view->metrics[0].name, "manual_wait");
    assert_int_equal(view->metrics[0].step_seq, 1);
    assert_int_equal(view->ngaps, 0);

    /* Nothing waits any more: a second ack is refused. */
    assert_int_equal(lb_store_ack(f->store, lb_run_id(f->run), NULL, "bob", "cli", NULL,
                                  lb_wall_ms(), &v, &err), LB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nothing waits"));
}

static void test_manual_nobody_acknowledging_is_a_people_gap(void **state)
{
    struct mfx *f = *state;
    struct lb_manual_opts o = {.prompt = "confirm the restore looks right", .timeout_ms = 300,
                               .deadline_ms = LB_NO_DEADLINE, .tty_in = -1, .tty_out = -1,
                               .poll_ms = 50};
    struct lb_manual_result res;
    struct lb_err err = {0};
    struct lb_ack_view v = {0};
    struct lb_run_view *view;
    int64_t t0 = lb_mono_ms();

    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 >= 300);
    assert_non_null(strstr(err.msg, "nobody acknowledged the page within 300ms"));
    view = reload(f);
    assert_int_equal(view->ngaps, 1);
    assert_string_equal(view->gaps[0].severity, "major");
    assert_string_equal(view->gaps[0].category, "people");
    assert_string_equal(view->gaps[0].title, "nobody acknowledged the page within 300ms");
    assert_string_equal(view->gaps[0].detail, "confirm the restore looks right");
    assert_int_equal(view->gaps[0].step_seq, 1);
    assert_int_equal(lb_store_ack_wait_get(f->store, 1, &v, &err), 0);
    assert_string_equal(v.state, "timeout");
    lb_ack_view_clear(&v);

    /* The step's own deadline bounds a longer timeout too. */
    o.timeout_ms = 60000;
    o.deadline_ms = lb_mono_ms() + 200;
    t0 = lb_mono_ms();
    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 5000);
}

static void test_manual_done_on_the_terminal_acknowledges(void **state)
{
    struct mfx *f = *state;
    struct lb_manual_opts o = {.prompt = "fail over the DNS record by hand", .timeout_ms = 10000,
                               .deadline_ms = LB_NO_DEADLINE, .poll_ms = 50};
    struct lb_manual_result res;
    struct lb_err err = {0};
    char out[4096] = "";
    ssize_t n, got = 0;
    int master = posix_openpt(O_RDWR | O_NOCTTY), slave;

    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    assert_true(isatty(slave));
    /* The operator types something else first, then "done". */
    assert_int_equal(write(master, "later\n  DONE \n", 14), 14);
    o.tty_in = slave;
    o.tty_out = slave;
    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), 0);
    assert_string_equal(res.via, "tty");
    assert_true(res.by[0] != '\0');
    fcntl(master, F_SETFL, O_NONBLOCK);
    while ((n = read(master, out + got, sizeof out - 1 - (size_t)got)) > 0)
        got += n;
    out[got] = '\0';
    assert_non_null(strstr(out, "MANUAL STEP"));
    assert_non_null(strstr(out, "fail over the DNS record by hand"));
    assert_non_null(strstr(out, "lifeboat ack"));
    assert_non_null(strstr(out, "type \"done\""));   /* "later" was not taken */
    close(slave);
    close(master);
}

static void test_manual_an_interrupt_stops_the_wait(void **state)
{
    struct mfx *f = *state;
    struct lb_manual_opts o = {.prompt = "wait forever", .timeout_ms = -1,
                               .deadline_ms = LB_NO_DEADLINE, .tty_in = -1, .tty_out = -1,
                               .poll_ms = 20};
    struct lb_manual_result res;
    struct lb_err err = {0};
    struct lb_ack_view v = {0};

    lb_interrupt_raise();
    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), LB_EINTR);
    assert_int_equal(lb_store_ack_wait_get(f->store, 1, &v, &err), 0);
    assert_string_equal(v.state, "interrupted");
    lb_ack_view_clear(&v);
    lb_interrupt_reset();

    /* The halt switch, thrown meanwhile, stops it too. */
    assert_int_equal(lb_store_halt_set(f->store, 1, "freeze", &err), 0);
    assert_int_equal(lb_manual_wait(f->run, f->store, &o, &res, &err), LB_EHALT);
    assert_int_equal(lb_store_ack_wait_get(f->store, 2, &v, &err), 0);
    assert_string_equal(v.state, "halted");
    lb_ack_view_clear(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_tz_offsets_match_the_c_library),
        cmocka_unit_test(test_schedule_tz_knows_the_2027_eu_switch_to_the_second),
        cmocka_unit_test(test_schedule_posix_rules_agree_with_the_tz_database),
        cmocka_unit_test(test_schedule_slim_tzif_files_use_their_footer_rule),
        cmocka_unit_test(test_schedule_refuses_bad_zone_names),
        cmocka_unit_test(test_schedule_window_texts_parse_to_a_normal_form),
        cmocka_unit_test(test_schedule_window_follows_the_clock_across_the_spring_switch),
        cmocka_unit_test(test_schedule_blackouts_and_periods_parse),
        cmocka_unit_test(test_schedule_prng_sequence_is_fixed_forever),
        cmocka_unit_test(test_schedule_same_seed_gives_the_same_plan),
        cmocka_unit_test(test_schedule_no_instant_outside_the_windows_or_on_a_blackout),
        cmocka_unit_test(test_schedule_draws_every_scenario_before_repeating_one),
        cmocka_unit_test(test_schedule_refuses_drills_that_do_not_fit),
        cmocka_unit_test(test_schedule_not_before_keeps_drills_out_of_the_past),
        cmocka_unit_test(test_schedule_commitment_verifies_the_plan_and_not_an_altered_one),
#define M(fn) cmocka_unit_test_setup_teardown(fn, manual_setup, manual_teardown)
        M(test_manual_an_ack_from_another_shell_ends_the_wait),
        M(test_manual_nobody_acknowledging_is_a_people_gap),
        M(test_manual_done_on_the_terminal_acknowledges),
        M(test_manual_an_interrupt_stops_the_wait),
#undef M
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
