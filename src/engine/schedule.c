/*
 * Planning unannounced drills: dates, time zones from TZif files, weekly
 * windows, blackouts, the seeded generator, the plan and its commitment.
 * Pure computation: no store, no clock, no TZ/tzset (their global state
 * would leak between zones); the only input from outside is the tz database
 * file a zone is read from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lifeboat/schedule.h"

#define DAY_MS 86400000LL
#define MINUTE_MS 60000LL
/* No wall clock is more than 26 hours from UTC (+14h, -12h, with margin). */
#define ZONE_REACH_MS (26LL * 3600 * 1000)
#define TZIF_MAX_BYTES (1 << 20)
#define DRAW_ATTEMPTS_PER_DRILL 2000
/* Plans cover a quarter, maybe a year: the eligible minutes stay small. */
#define MAX_PERIOD_DAYS 800LL

static const char *const weekday_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const weekday_long[7] = {"monday", "tuesday", "wednesday", "thursday",
                                            "friday", "saturday", "sunday"};

/* ---- dates ------------------------------------------------------------- */

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t lb_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Monday = 0. 1970-01-01 was a Thursday. */
static int weekday_of(int64_t day)
{
    return (int)(((day % 7) + 7 + 3) % 7);
}

static int digits(const char *p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        *v = *v * 10 + (p[i] - '0');
    }
    return 0;
}

/* "YYYY-MM-DD" exactly at p (n bytes). */
static int date_span(const char *p, size_t n, int64_t *day)
{
    int y, m, d;
    if (n != 10 || p[4] != '-' || p[7] != '-' || digits(p, 4, &y) || digits(p + 5, 2, &m) ||
        digits(p + 8, 2, &d))
        return -1;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *day = lb_days_from_civil(y, m, d);
    return 0;
}

int lb_date_parse(const char *text, int64_t *day, struct lb_err *err)
{
    if (text == NULL || date_span(text, strlen(text), day) != 0)
        return lb_err_set(err, LB_EINVAL, "bad date \"%s\": use YYYY-MM-DD",
                          text ? text : "");
    return 0;
}

void lb_date_format(int64_t day, char *out, size_t outsz)
{
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, outsz, "%04lld-%02d-%02d", (long long)y, m, d);
}

void lb_instant_format(int64_t utc_ms, char *out, size_t outsz)
{
    int64_t secs = floor_div(utc_ms, 1000);
    int64_t day = floor_div(secs, 86400), rem = secs - day * 86400;
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, outsz, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

/* ---- time zones ---------------------------------------------------------- */

/* A POSIX TZ rule: standard time, and daylight time between two dates. */
struct tz_rule_date {
    char kind;      /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day) */
    int n, month, week, wday;
    int32_t time;   /* seconds after local midnight; may be negative or > 24h */
};

struct tz_rule {
    int32_t std_off, dst_off;  /* seconds east of UTC */
    int has_dst;
    struct tz_rule_date start, end;
};

struct lb_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;        /* UTC seconds, increasing */
    unsigned char *idx;    /* type index of each transition */
    size_t ntypes;
    int32_t *offsets;      /* per type */
    int has_rule;
    struct tz_rule rule;
};

void lb_tz_free(struct lb_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->idx);
    free(tz->offsets);
    free(tz);
}

const char *lb_tz_name(const struct lb_tz *tz)
{
    return tz->name;
}

/* [+-]hh[:mm[:ss]] with hours up to 167 (RFC 8536). Returns seconds. */
static int rule_hms(const char **pp, int signed_ok, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h = 0, m = 0, s = 0, nd = 0;
    if (*p == '+' || *p == '-') {
        if (!signed_ok)
            return -1;
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    while (*p >= '0' && *p <= '9' && nd < 3) {
        h = h * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || h > 167)
        return -1;
    if (*p == ':') {
        if (digits(p + 1, 2, &m) || m > 59)
            return -1;
        p += 3;
        if (*p == ':') {
            if (digits(p + 1, 2, &s) || s > 59)
                return -1;
            p += 3;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    *pp = p;
    return 0;
}

/* A zone abbreviation: <...> or three or more letters. */
static int rule_name(const char **pp)
{
    const char *p = *pp;
    if (*p == '<') {
        const char *q = strchr(p, '>');
        if (q == NULL || q - p < 4)
            return -1;
        *pp = q + 1;
        return 0;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        p++;
    if (p - *pp < 3)
        return -1;
    *pp = p;
    return 0;
}

static int rule_int(const char **pp, int lo, int hi, int *out)
{
    const char *p = *pp;
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || v < lo || v > hi)
        return -1;
    *out = v;
    *pp = p;
    return 0;
}

static int rule_date(const char **pp, struct tz_rule_date *d)
{
    const char *p = *pp;
    memset(d, 0, sizeof *d);
    if (*p == 'J') {
        p++;
        d->kind = 'J';
        if (rule_int(&p, 1, 365, &d->n))
            return -1;
    } else if (*p == 'M') {
        p++;
        d->kind = 'M';
        if (rule_int(&p, 1, 12, &d->month) || *p++ != '.' || rule_int(&p, 1, 5, &d->week) ||
            *p++ != '.' || rule_int(&p, 0, 6, &d->wday))
            return -1;
    } else {
        d->kind = 'D';
        if (rule_int(&p, 0, 365, &d->n))
            return -1;
    }
    d->time = 7200;
    if (*p == '/') {
        p++;
        if (rule_hms(&p, 1, &d->time))
            return -1;
    }
    *pp = p;
    return 0;
}

static int rule_parse(const char *text, struct tz_rule *r)
{
    const char *p = text;
    int32_t off;

    memset(r, 0, sizeof *r);
    if (rule_name(&p) || rule_hms(&p, 1, &off))
        return -1;
    r->std_off = -off;    /* POSIX offsets count west of Greenwich */
    if (*p == '\0')
        return 0;
    if (rule_name(&p))
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (rule_hms(&p, 1, &off))
            return -1;
        r->dst_off = -off;
    }
    if (*p == '\0') {
        /* No dates: the POSIX default, as glibc applies it. */
        p = ",M3.2.0,M11.1.0";
    }
    if (*p++ != ',' || rule_date(&p, &r->start) || *p++ != ',' || rule_date(&p, &r->end))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* Local midnight (as days since the epoch) of a rule date in `year`. */
static int64_t rule_day(const struct tz_rule_date *d, int64_t year)
{
    int64_t jan1 = lb_days_from_civil(year, 1, 1), day;
    switch (d->kind) {
    case 'J':
        return jan1 + d->n - 1 + (is_leap(year) && d->n >= 60 ? 1 : 0);
    case 'D':
        return jan1 + d->n;
    default: {
        int64_t first = lb_days_from_civil(year, d->month, 1);
        int wd_first = (weekday_of(first) + 1) % 7;   /* Sunday = 0 here */
        day = first + (d->wday - wd_first + 7) % 7 + (int64_t)(d->week - 1) * 7;
        while (day >= first + days_in_month(year, d->month))
            day -= 7;
        return day;
    }
    }
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    int64_t y, start, end;
    int m, d;
    if (!r->has_dst)
        return r->std_off;
    civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    start = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
    if (start < end)
        return t >= start && t < end ? r->dst_off : r->std_off;
    return t >= end && t < start ? r->std_off : r->dst_off;
}

int32_t lb_tz_offset(const struct lb_tz *tz, int64_t utc_ms)
{
    int64_t t = floor_div(utc_ms, 1000);
    size_t lo = 0, hi;

    if (tz->ntrans == 0 || t < tz->trans[0]) {
        if (tz->ntrans == 0 && tz->has_rule)
            return rule_offset(&tz->rule, t);
        return tz->offsets[0];
    }
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_offset(&tz->rule, t);
    /* The last transition at or before t. */
    hi = tz->ntrans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offsets[tz->idx[lo]];
}

void lb_tz_local(const struct lb_tz *tz, int64_t utc_ms, struct lb_local *out)
{
    int32_t off = lb_tz_offset(tz, utc_ms);
    int64_t local = floor_div(utc_ms, 1000) + off;
    out->offset = off;
    out->day = floor_div(local, 86400);
    out->minute = (int)((local - out->day * 86400) / 60);
    out->weekday = weekday_of(out->day);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

int lb_tz_posix(const char *name, const char *rule, struct lb_tz **out, struct lb_err *err)
{
    struct lb_tz *tz;
    *out = NULL;
    tz = lb_xcalloc(1, sizeof *tz);
    if (rule == NULL || rule_parse(rule, &tz->rule) != 0) {
        lb_tz_free(tz);
        return lb_err_set(err, LB_EINVAL, "time zone %s: bad rule \"%s\"", name,
                          rule ? rule : "");
    }
    tz->name = lb_xstrdup(name);
    tz->has_rule = 1;
    tz->ntypes = 1;
    tz->offsets = lb_xcalloc(1, sizeof *tz->offsets);
    tz->offsets[0] = tz->rule.std_off;
    *out = tz;
    return 0;
}

int lb_tz_parse(const char *name, const void *data, size_t len, struct lb_tz **out,
                struct lb_err *err)
{
    const unsigned char *d = data, *p, *end = (const unsigned char *)data + len;
    struct lb_tz *tz = NULL;
    uint32_t isut, isstd, leap, ntime, ntype, nchar;
    size_t tsize = 4, body;
    int rc = LB_EINVAL;

    *out = NULL;
    if (len < 44 || memcmp(d, "TZif", 4) != 0) {
        lb_err_set(err, LB_EINVAL, "time zone %s: not a TZif file", name);
        goto out;
    }
    p = d;
    /* Version 2+ repeats the data with 64-bit times after the version 1
     * block: skip to it, it is the one that reaches past 2038. */
    for (int pass = 0; pass < 2; pass++) {
        if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0) {
            lb_err_set(err, LB_EINVAL, "time zone %s: truncated TZif header", name);
            goto out;
        }
        isut = be32(p + 20);
        isstd = be32(p + 24);
        leap = be32(p + 28);
        ntime = be32(p + 32);
        ntype = be32(p + 36);
        nchar = be32(p + 40);
        if (ntime > 100000 || ntype == 0 || ntype > 256 || nchar > 65536 || leap > 100000 ||
            isut > ntype || isstd > ntype) {
            lb_err_set(err, LB_EINVAL, "time zone %s: implausible TZif counts", name);
            goto out;
        }
        body = (size_t)ntime * tsize + ntime + (size_t)ntype * 6 + nchar +
               (size_t)leap * (tsize + 4) + isstd + isut;
        if ((size_t)(end - p) - 44 < body) {
            lb_err_set(err, LB_EINVAL, "time zone %s: truncated TZif data", name);
            goto out;
        }
        if (pass == 0 && d[4] >= '2') {
            p += 44 + body;
            tsize = 8;
            continue;
        }
        break;
    }
    if (leap > 0) {
        lb_err_set(err, LB_EINVAL, "time zone %s: zones with leap seconds (right/...) are "
                                   "not supported; use the zone without right/", name);
        goto out;
    }
    tz = lb_xcalloc(1, sizeof *tz);
    tz->name = lb_xstrdup(name);
    tz->ntrans = ntime;
    tz->ntypes = ntype;
    tz->trans = lb_xcalloc(ntime ? ntime : 1, sizeof *tz->trans);
    tz->idx = lb_xcalloc(ntime ? ntime : 1, 1);
    tz->offsets = lb_xcalloc(ntype, sizeof *tz->offsets);
    p += 44;
    for (uint32_t i = 0; i < ntime; i++) {
        tz->trans[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            lb_err_set(err, LB_EINVAL, "time zone %s: transitions out of order", name);
            goto out;
        }
    }
    p += (size_t)ntime * tsize;
    for (uint32_t i = 0; i < ntime; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= ntype) {
            lb_err_set(err, LB_EINVAL, "time zone %s: bad type index", name);
            goto out;
        }
    }
    p += ntime;
    for (uint32_t i = 0; i < ntype; i++) {
        int32_t off = (int32_t)be32(p + i * 6);
        if (off <= -25 * 3600 || off >= 26 * 3600) {
            lb_err_set(err, LB_EINVAL, "time zone %s: implausible UTC offset", name);
            goto out;
        }
        tz->offsets[i] = off;
    }
    p += (size_t)ntype * 6 + nchar + (size_t)leap * (tsize + 4) + isstd + isut;
    /* Footer (version 2+): "\n<POSIX TZ rule>\n", for instants after the
     * last transition. Empty means no rule. */
    if (tsize == 8 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (nl == NULL) {
            lb_err_set(err, LB_EINVAL, "time zone %s: unterminated TZif footer", name);
            goto out;
        }
        if (nl > p + 1) {
            char *rule = lb_xstrndup((const char *)p + 1, (size_t)(nl - p - 1));
            int bad = rule_parse(rule, &tz->rule);
            if (bad)
                lb_err_set(err, LB_EINVAL, "time zone %s: cannot read the rule \"%s\"", name,
                           rule);
            free(rule);
            if (bad)
                goto out;
            tz->has_rule = 1;
        }
    }
    *out = tz;
    tz = NULL;
    rc = 0;
out:
    lb_tz_free(tz);
    return rc;
}

/* IANA names: letters, digits, '/', '_', '+', '-'; no empty or dot parts. */
static int zone_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '/' || name[n - 1] == '/')
        return 0;
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '/' || *p == '_' || *p == '+' ||
                 *p == '-' || *p == '.';
        if (!ok)
            return 0;
        if ((p == name || p[-1] == '/') && (*p == '.' || *p == '/'))
            return 0;
    }
    return 1;
}

int lb_tz_load(const char *name, const char *dir, struct lb_tz **out, struct lb_err *err)
{
    char *path = NULL, *data = NULL;
    size_t len = 0;
    struct lb_err ferr = {0};
    int rc;

    *out = NULL;
    if (name == NULL || !zone_name_ok(name))
        return lb_err_set(err, LB_EINVAL, "bad time zone name \"%s\"", name ? name : "");
    if (dir == NULL) {
        dir = getenv("TZDIR");
        if (dir == NULL || dir[0] == '\0')
            dir = "/usr/share/zoneinfo";
    }
    path = lb_path_join(dir, name);
    rc = lb_file_read(path, &data, &len, &ferr);
    if (rc != 0) {
        if (strcmp(name, "UTC") == 0) {
            rc = lb_tz_posix("UTC", "UTC0", out, err);
            goto out;
        }
        rc = lb_err_set(err, LB_EINVAL,
                        "unknown time zone \"%s\": %s (is the tz database, Debian package "
                        "tzdata, installed?)", name, ferr.msg);
        goto out;
    }
    if (len > TZIF_MAX_BYTES) {
        rc = lb_err_set(err, LB_EINVAL, "time zone %s: %s is too large", name, path);
        goto out;
    }
    rc = lb_tz_parse(name, data, len, out, err);
out:
    free(path);
    free(data);
    return rc;
}

/* ---- windows ------------------------------------------------------------- */

static int day_index(const char *p, size_t n)
{
    for (int i = 0; i < 7; i++) {
        if (n == 3 && strncasecmp(p, weekday_names[i], 3) == 0)
            return i;
        if (n == strlen(weekday_long[i]) && strncasecmp(p, weekday_long[i], n) == 0)
            return i;
    }
    return -1;
}

/* "Mon-Fri", "Mon,Wed,Fri", "Fri-Mon", "Sat-Sun,Wed". 0 if not a day list. */
static unsigned parse_days(const char *tok)
{
    unsigned days = 0;
    const char *p = tok;
    while (*p) {
        const char *comma = strchr(p, ','), *dash;
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int a, b;
        dash = memchr(p, '-', n);
        if (dash) {
            a = day_index(p, (size_t)(dash - p));
            b = day_index(dash + 1, n - (size_t)(dash - p) - 1);
        } else {
            a = b = day_index(p, n);
        }
        if (a < 0 || b < 0)
            return 0;
        for (int d = a;; d = (d + 1) % 7) {
            days |= 1u << d;
            if (d == b)
                break;
        }
        p += n;
        if (*p == ',')
            p++;
        if (comma && *p == '\0')
            return 0;
    }
    return days;
}

/* "HH:MM" (H may be one digit) to minutes; 24:00 allowed. */
static int parse_hhmm(const char *p, size_t n, int *out)
{
    int h, m;
    if (n == 4 && p[1] == ':' && !digits(p, 1, &h) && !digits(p + 2, 2, &m))
        ;
    else if (n == 5 && p[2] == ':' && !digits(p, 2, &h) && !digits(p + 3, 2, &m))
        ;
    else
        return -1;
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *out = h * 60 + m;
    return 0;
}

static int looks_like_hours(const char *tok)
{
    return tok[0] >= '0' && tok[0] <= '9' && strchr(tok, ':') != NULL;
}

/* The next space-separated token of *pp, NUL-terminated in place. */
static char *next_token(char **pp)
{
    char *p = *pp, *tok;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return NULL;
    tok = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *pp = p;
    return tok;
}

int lb_window_parse(const char *text, const char *tzdir, struct lb_window *out,
                    struct lb_err *err)
{
    char *copy = lb_xstrdup(text ? text : ""), *rest = copy, *tok;
    const char *zone = NULL;
    int have_days = 0, have_hours = 0, rc = 0;

    memset(out, 0, sizeof *out);
    out->days = 0x7f;
    out->start_min = 0;
    out->end_min = 1440;
    while ((tok = next_token(&rest)) != NULL) {
        if (looks_like_hours(tok)) {
            const char *dash = strchr(tok, '-');
            if (have_hours++ || dash == NULL ||
                parse_hhmm(tok, (size_t)(dash - tok), &out->start_min) ||
                parse_hhmm(dash + 1, strlen(dash + 1), &out->end_min)) {
                rc = lb_err_set(err, LB_EINVAL, "window \"%s\": bad hours \"%s\" (use "
                                "HH:MM-HH:MM, e.g. 09:00-17:00)", text, tok);
                goto out;
            }
            if (out->end_min <= out->start_min) {
                rc = lb_err_set(err, LB_EINVAL, "window \"%s\": %s ends before it starts; a "
                                "window across midnight is two windows (--window twice)",
                                text, tok);
                goto out;
            }
        } else {
            unsigned days = parse_days(tok);
            if (days != 0) {
                if (have_days++) {
                    rc = lb_err_set(err, LB_EINVAL, "window \"%s\": days given twice", text);
                    goto out;
                }
                out->days = days;
            } else if (zone == NULL) {
                zone = tok;
            } else {
                rc = lb_err_set(err, LB_EINVAL, "window \"%s\": cannot read \"%s\" (days like "
                                "Mon-Fri, hours like 09:00-17:00, one time zone)", text, tok);
                goto out;
            }
        }
    }
    if (!have_days && !have_hours && zone == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "window is empty: give days, hours and/or a zone, "
                                        "e.g. \"Mon-Fri 09:00-17:00 Europe/Berlin\"");
        goto out;
    }
    rc = lb_tz_load(zone ? zone : "UTC", tzdir, &out->tz, err);
    if (rc != 0)
        lb_err_prefix(err, "window \"%s\"", text);
out:
    free(copy);
    return rc;
}

void lb_window_free(struct lb_window *w)
{
    if (w == NULL)
        return;
    lb_tz_free(w->tz);
    w->tz = NULL;
}

void lb_window_format(const struct lb_window *w, char *out, size_t outsz)
{
    struct lb_buf b = {0};
    int d = 0, first = 1;
    if (w->days == 0x7f) {
        lb_buf_adds(&b, "Mon-Sun");
    } else {
        while (d < 7) {
            int e;
            if (!(w->days & (1u << d))) {
                d++;
                continue;
            }
            e = d;
            while (e + 1 < 7 && (w->days & (1u << (e + 1))))
                e++;
            lb_buf_printf(&b, "%s%s", first ? "" : ",", weekday_names[d]);
            if (e > d)
                lb_buf_printf(&b, "-%s", weekday_names[e]);
            first = 0;
            d = e + 1;
        }
    }
    lb_buf_printf(&b, " %02d:%02d-%02d:%02d %s", w->start_min / 60, w->start_min % 60,
                  w->end_min / 60, w->end_min % 60, w->tz ? lb_tz_name(w->tz) : "UTC");
    snprintf(out, outsz, "%s", b.data);
    lb_buf_free(&b);
}

static int window_local(const struct lb_window *w, const struct lb_local *l)
{
    return (w->days & (1u << l->weekday)) && l->minute >= w->start_min &&
           l->minute < w->end_min;
}

int lb_window_contains(const struct lb_window *w, int64_t utc_ms)
{
    struct lb_local l;
    lb_tz_local(w->tz, utc_ms, &l);
    return window_local(w, &l);
}

/* ---- blackouts and periods ------------------------------------------------ */

int lb_blackout_parse(const char *text, struct lb_blackout *out, struct lb_err *err)
{
    const char *dots = text ? strstr(text, "..") : NULL;
    if (text == NULL)
        return lb_err_set(err, LB_EINVAL, "bad blackout: missing");
    if (dots == NULL) {
        if (date_span(text, strlen(text), &out->first_day) != 0)
            return lb_err_set(err, LB_EINVAL, "bad blackout \"%s\": use YYYY-MM-DD or "
                                              "YYYY-MM-DD..YYYY-MM-DD", text);
        out->last_day = out->first_day;
        return 0;
    }
    if (date_span(text, (size_t)(dots - text), &out->first_day) != 0 ||
        date_span(dots + 2, strlen(dots + 2), &out->last_day) != 0)
        return lb_err_set(err, LB_EINVAL, "bad blackout \"%s\": use YYYY-MM-DD or "
                                          "YYYY-MM-DD..YYYY-MM-DD", text);
    if (out->last_day < out->first_day)
        return lb_err_set(err, LB_EINVAL, "bad blackout \"%s\": the range ends before it "
                                          "starts", text);
    return 0;
}

void lb_blackout_format(const struct lb_blackout *b, char *out, size_t outsz)
{
    char a[16], z[16];
    lb_date_format(b->first_day, a, sizeof a);
    if (b->last_day == b->first_day) {
        snprintf(out, outsz, "%s", a);
        return;
    }
    lb_date_format(b->last_day, z, sizeof z);
    snprintf(out, outsz, "%s..%s", a, z);
}

int lb_period_quarter(const char *text, struct lb_period *out, struct lb_err *err)
{
    int y, q;
    if (text == NULL || strlen(text) != 6 || digits(text, 4, &y) ||
        (text[4] != 'Q' && text[4] != 'q') || digits(text + 5, 1, &q) || q < 1 || q > 4 ||
        y < 1970)
        return lb_err_set(err, LB_EINVAL, "bad quarter \"%s\": use YYYYQn, e.g. 2027Q1",
                          text ? text : "");
    out->dates = 1;
    out->from = lb_days_from_civil(y, (q - 1) * 3 + 1, 1);
    out->until = q == 4 ? lb_days_from_civil(y + 1, 1, 1) : lb_days_from_civil(y, q * 3 + 1, 1);
    return 0;
}

int lb_period_range(const char *from, const char *until, struct lb_period *out,
                    struct lb_err *err)
{
    int64_t a, b;
    if (from == NULL || until == NULL)
        return lb_err_set(err, LB_EINVAL, "a period needs both --from and --until");
    if (date_span(from, strlen(from), &a) == 0 && date_span(until, strlen(until), &b) == 0) {
        out->dates = 1;
    } else if (lb_wall_parse(from, &a) == 0 && lb_wall_parse(until, &b) == 0) {
        out->dates = 0;
        a = floor_div(a, 1000) * 1000;
        b = floor_div(b, 1000) * 1000;
    } else {
        return lb_err_set(err, LB_EINVAL, "bad period \"%s\"..\"%s\": two dates YYYY-MM-DD "
                          "or two UTC instants YYYY-MM-DDTHH:MM:SSZ", from, until);
    }
    if (b <= a)
        return lb_err_set(err, LB_EINVAL, "bad period: \"%s\" is not after \"%s\"", until,
                          from);
    out->from = a;
    out->until = b;
    return 0;
}

void lb_period_label(const struct lb_period *p, char *out, size_t outsz)
{
    char a[32], b[32];
    if (p->dates) {
        int64_t y;
        int m, d;
        civil_from_days(p->from, &y, &m, &d);
        if (d == 1 && (m - 1) % 3 == 0) {
            struct lb_period q;
            char label[16];
            struct lb_err ignore = {0};
            snprintf(label, sizeof label, "%04lldQ%d", (long long)y, (m - 1) / 3 + 1);
            if (lb_period_quarter(label, &q, &ignore) == 0 && q.until == p->until) {
                snprintf(out, outsz, "%s", label);
                return;
            }
        }
        lb_date_format(p->from, a, sizeof a);
        lb_date_format(p->until, b, sizeof b);
    } else {
        lb_instant_format(p->from, a, sizeof a);
        lb_instant_format(p->until, b, sizeof b);
    }
    snprintf(out, outsz, "%s..%s", a, b);
}

int64_t lb_period_end_ms(const struct lb_period *p)
{
    return p->dates ? p->until * DAY_MS + ZONE_REACH_MS : p->until;
}

/* The UTC range to scan for a period. */
static void period_scan(const struct lb_period *p, int64_t *from, int64_t *until)
{
    if (p->dates) {
        *from = p->from * DAY_MS - ZONE_REACH_MS;
        *until = p->until * DAY_MS + ZONE_REACH_MS;
    } else {
        *from = p->from;
        *until = p->until;
    }
}

/* ---- the generator ---------------------------------------------------------- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void lb_prng_seed(struct lb_prng *g, const char *seed_text)
{
    static const char domain[] = "lifeboat schedule v1 prng\n";
    struct lb_sha256 h;
    uint8_t d[32];

    lb_sha256_init(&h);
    lb_sha256_update(&h, domain, sizeof domain - 1);
    lb_sha256_update(&h, seed_text, strlen(seed_text));
    lb_sha256_final(&h, d);
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int j = 7; j >= 0; j--)
            v = v << 8 | d[i * 8 + j];
        g->s[i] = v;
    }
    if ((g->s[0] | g->s[1] | g->s[2] | g->s[3]) == 0)
        g->s[0] = 1;   /* the one state xoshiro cannot leave */
}

uint64_t lb_prng_next(struct lb_prng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t lb_prng_below(struct lb_prng *g, uint64_t n)
{
    /* Reject the low values that would make some results more likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = lb_prng_next(g);
        if (x >= threshold)
            return x % n;
    }
}

/* ---- plans --------------------------------------------------------------------- */

static void pool_entry_free(struct lb_pool_entry *e)
{
    free(e->id);
    free(e->sha256);
    free(e->file);
}

static void drills_free(struct lb_plan_drill *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].scenario_id);
        free(d[i].scenario_sha256);
        free(d[i].scenario_file);
    }
    free(d);
}

void lb_plan_free(struct lb_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nwindows; i++)
        lb_window_free(&p->windows[i]);
    free(p->windows);
    free(p->blackouts);
    for (size_t i = 0; i < p->npool; i++)
        pool_entry_free(&p->pool[i]);
    free(p->pool);
    free(p->seed);
    drills_free(p->drills, p->ndrills);
    free(p);
}

static int cmp_pool(const void *a, const void *b)
{
    const struct lb_pool_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->sha256, y->sha256);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Printable ASCII without spaces: one token on a line of the canonical text. */
static int token_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n > 0 && n <= max;
}

static int hex64_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

/* Whether the UTC minute m is in the period, some window, and no blackout
 * (judged on the wall clock of the window it falls in). */
static int minute_eligible(const struct lb_plan *p, int64_t m)
{
    if (p->not_before >= 0 && m < p->not_before)
        return 0;
    if (!p->period.dates && (m < p->period.from || m >= p->period.until))
        return 0;
    for (size_t i = 0; i < p->nwindows; i++) {
        struct lb_local l;
        int blocked = 0;
        lb_tz_local(p->windows[i].tz, m, &l);
        if (!window_local(&p->windows[i], &l))
            continue;
        if (p->period.dates && (l.day < p->period.from || l.day >= p->period.until))
            continue;
        for (size_t j = 0; j < p->nblackouts && !blocked; j++)
            blocked = l.day >= p->blackouts[j].first_day && l.day <= p->blackouts[j].last_day;
        if (!blocked)
            return 1;
    }
    return 0;
}

int lb_plan_eligible(const struct lb_plan *p, int64_t **minutes, size_t *n,
                     struct lb_err *err)
{
    int64_t from, until, *v = NULL;
    size_t count = 0, cap = 0;

    period_scan(&p->period, &from, &until);
    from = floor_div(from + MINUTE_MS - 1, MINUTE_MS) * MINUTE_MS;
    if ((until - from) / MINUTE_MS > MAX_PERIOD_DAYS * 1440)
        return lb_err_set(err, LB_EINVAL, "the period is longer than %lld days",
                          (long long)MAX_PERIOD_DAYS);
    for (int64_t m = from; m < until; m += MINUTE_MS) {
        if (!minute_eligible(p, m))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 4096;
            v = lb_xrealloc(v, cap * sizeof *v);
        }
        v[count++] = m;
    }
    *minutes = v;
    *n = count;
    return 0;
}

/* Draw p->count instants and their scenarios from p's seed (see the header). */
static int draw(struct lb_plan *p, struct lb_err *err)
{
    struct lb_prng g;
    int64_t *eligible = NULL, *at = NULL;
    size_t neligible = 0, *deck = NULL, ndeck = 0;
    int chosen = 0, rc;
    long attempts = 0, max_attempts = (long)p->count * DRAW_ATTEMPTS_PER_DRILL;

    rc = lb_plan_eligible(p, &eligible, &neligible, err);
    if (rc != 0)
        goto out;
    if (neligible == 0) {
        rc = lb_err_set(err, LB_EINVAL, "no instant of the period is inside a window and "
                                        "outside every blackout");
        goto out;
    }
    lb_prng_seed(&g, p->seed);
    at = lb_xcalloc((size_t)p->count, sizeof *at);
    while (chosen < p->count) {
        int64_t t = eligible[lb_prng_below(&g, neligible)] +
                    (int64_t)lb_prng_below(&g, 60) * 1000;
        int clash = 0;
        if (++attempts > max_attempts) {
            char sp[32];
            lb_duration_format(p->spacing_ms, sp, sizeof sp);
            rc = lb_err_set(err, LB_EINVAL, "cannot fit %d drills at least %s apart into the "
                            "windows of the period: fewer drills, a shorter --spacing, or "
                            "wider windows", p->count, sp);
            goto out;
        }
        for (int j = 0; j < chosen && !clash; j++)
            clash = (t > at[j] ? t - at[j] : at[j] - t) < (p->spacing_ms > 0 ? p->spacing_ms : 1);
        if (!clash)
            at[chosen++] = t;
    }
    qsort(at, (size_t)p->count, sizeof *at, cmp_i64);
    p->drills = lb_xcalloc((size_t)p->count, sizeof *p->drills);
    deck = lb_xcalloc(p->npool, sizeof *deck);
    for (int i = 0; i < p->count; i++) {
        struct lb_plan_drill *d = &p->drills[i];
        const struct lb_pool_entry *e;
        size_t k;
        if (ndeck == 0) {
            for (size_t j = 0; j < p->npool; j++)
                deck[j] = j;
            ndeck = p->npool;
        }
        k = (size_t)lb_prng_below(&g, ndeck);
        e = &p->pool[deck[k]];
        deck[k] = deck[--ndeck];
        d->seq = i + 1;
        d->at = at[i];
        d->scenario_id = lb_xstrdup(e->id);
        d->scenario_sha256 = lb_xstrdup(e->sha256);
        d->scenario_file = lb_xstrdup(e->file);
        p->ndrills++;
    }
out:
    free(eligible);
    free(at);
    free(deck);
    return rc;
}

/* The checks lb_plan_make and lb_plan_parse share, on a filled plan. */
static int plan_validate(const struct lb_plan *p, struct lb_err *err)
{
    if (p->count < 1 || p->count > LB_PLAN_MAX_COUNT)
        return lb_err_set(err, LB_EINVAL, "the count of drills must be 1..%d",
                          LB_PLAN_MAX_COUNT);
    if (p->npool == 0)
        return lb_err_set(err, LB_EINVAL, "the scenario pool is empty");
    if (p->spacing_ms < 0)
        return lb_err_set(err, LB_EINVAL, "the spacing cannot be negative");
    if (p->seed == NULL || !token_ok(p->seed, 256))
        return lb_err_set(err, LB_EINVAL, "the seed must be 1..256 printable characters "
                                          "without spaces");
    if (!hex64_ok(p->salt))
        return lb_err_set(err, LB_EINVAL, "the salt must be 64 lowercase hex digits");
    for (size_t i = 0; i < p->npool; i++) {
        if (p->pool[i].id == NULL || !token_ok(p->pool[i].id, 200) ||
            p->pool[i].sha256 == NULL || !hex64_ok(p->pool[i].sha256))
            return lb_err_set(err, LB_EINVAL, "pool entry %zu needs a scenario id and a "
                                              "sha256", i + 1);
        if (i > 0 && strcmp(p->pool[i].id, p->pool[i - 1].id) == 0)
            return lb_err_set(err, LB_EINVAL, "two scenarios of the pool declare the id "
                                              "'%s'", p->pool[i].id);
    }
    return 0;
}

int lb_plan_make(const struct lb_plan_opts *o, struct lb_plan **out, struct lb_err *err)
{
    static const char *const default_window[] = {LB_PLAN_DEFAULT_WINDOW};
    struct lb_plan *p = lb_xcalloc(1, sizeof *p);
    const char *const *windows = o->nwindows ? o->windows : default_window;
    size_t nwindows = o->nwindows ? o->nwindows : 1;
    int rc;

    *out = NULL;
    p->period = o->period;
    p->not_before = o->not_before < 0 ? -1
                                      : floor_div(o->not_before + MINUTE_MS - 1, MINUTE_MS) *
                                            MINUTE_MS;
    p->count = o->count;
    p->spacing_ms = o->spacing_ms < 0 ? LB_PLAN_DEFAULT_SPACING_MS : o->spacing_ms;
    p->spacing_ms = p->spacing_ms / 1000 * 1000;
    p->windows = lb_xcalloc(nwindows, sizeof *p->windows);
    for (size_t i = 0; i < nwindows; i++) {
        rc = lb_window_parse(windows[i], o->tzdir, &p->windows[i], err);
        if (rc != 0)
            goto out;
        p->nwindows++;
    }
    if (o->nblackouts)
        p->blackouts = lb_xcalloc(o->nblackouts, sizeof *p->blackouts);
    for (size_t i = 0; i < o->nblackouts; i++) {
        rc = lb_blackout_parse(o->blackouts[i], &p->blackouts[i], err);
        if (rc != 0)
            goto out;
        p->nblackouts++;
    }
    if (o->npool)
        p->pool = lb_xcalloc(o->npool, sizeof *p->pool);
    for (size_t i = 0; i < o->npool; i++) {
        p->pool[i].id = lb_xstrdup(o->pool[i].id);
        p->pool[i].sha256 = lb_xstrdup(o->pool[i].sha256);
        p->pool[i].file = lb_xstrdup(o->pool[i].file);
        p->npool++;
    }
    for (size_t i = 0; i < p->npool; i++) {
        if (p->pool[i].id == NULL || p->pool[i].sha256 == NULL) {
            rc = lb_err_set(err, LB_EINVAL, "pool entry %zu needs a scenario id and a sha256",
                            i + 1);
            goto out;
        }
    }
    qsort(p->pool, p->npool, sizeof *p->pool, cmp_pool);
    if (o->seed != NULL) {
        p->seed = lb_xstrdup(o->seed);
    } else {
        uint8_t rnd[32];
        char hex[65];
        rc = lb_random_bytes(rnd, sizeof rnd, err);
        if (rc != 0)
            goto out;
        lb_hex_encode(rnd, sizeof rnd, hex);
        p->seed = lb_xstrdup(hex);
    }
    if (o->salt != NULL) {
        snprintf(p->salt, sizeof p->salt, "%s", o->salt);
    } else {
        uint8_t rnd[32];
        rc = lb_random_bytes(rnd, sizeof rnd, err);
        if (rc != 0)
            goto out;
        lb_hex_encode(rnd, sizeof rnd, p->salt);
    }
    rc = plan_validate(p, err);
    if (rc == 0)
        rc = draw(p, err);
out:
    if (rc != 0) {
        lb_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void period_text(const struct lb_period *per, char *a, char *b, size_t n)
{
    if (per->dates) {
        lb_date_format(per->from, a, n);
        lb_date_format(per->until, b, n);
    } else {
        lb_instant_format(per->from, a, n);
        lb_instant_format(per->until, b, n);
    }
}

void lb_plan_canonical(const struct lb_plan *p, struct lb_buf *out)
{
    char a[64], b[64], line[512];

    lb_buf_adds(out, "lifeboat schedule v1\n");
    period_text(&p->period, a, b, sizeof a);
    lb_buf_printf(out, "period %s %s\n", a, b);
    if (p->not_before >= 0) {
        lb_instant_format(p->not_before, a, sizeof a);
        lb_buf_printf(out, "after %s\n", a);
    }
    for (size_t i = 0; i < p->nwindows; i++) {
        lb_window_format(&p->windows[i], line, sizeof line);
        lb_buf_printf(out, "window %s\n", line);
    }
    for (size_t i = 0; i < p->nblackouts; i++) {
        lb_blackout_format(&p->blackouts[i], line, sizeof line);
        lb_buf_printf(out, "blackout %s\n", line);
    }
    lb_buf_printf(out, "spacing %lld\n", (long long)(p->spacing_ms / 1000));
    lb_buf_printf(out, "count %d\n", p->count);
    for (size_t i = 0; i < p->npool; i++)
        lb_buf_printf(out, "pool %s %s\n", p->pool[i].id, p->pool[i].sha256);
    lb_buf_printf(out, "seed %s\n", p->seed);
    lb_buf_printf(out, "salt %s\n", p->salt);
    for (size_t i = 0; i < p->ndrills; i++) {
        lb_instant_format(p->drills[i].at, a, sizeof a);
        lb_buf_printf(out, "drill %d %s %s %s\n", p->drills[i].seq, a,
                      p->drills[i].scenario_id, p->drills[i].scenario_sha256);
    }
}

void lb_plan_commitment(const struct lb_plan *p, char out[65])
{
    struct lb_buf b = {0};
    lb_plan_canonical(p, &b);
    lb_sha256_hex(b.data, b.len, out);
    lb_buf_free(&b);
}

/* The n-th space-separated word of a line (copy), NULL if missing. */
static char *word(const char *line, int n)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return NULL;
        p++;
    }
    const char *e = strchr(p, ' ');
    return lb_xstrndup(p, e ? (size_t)(e - p) : strlen(p));
}

static int count_words(const char *line)
{
    int n = 1;
    for (const char *p = line; *p; p++)
        n += *p == ' ';
    return n;
}

static int parse_line(struct lb_plan *p, const char *line, const char *tzdir,
                      struct lb_err *err)
{
    int nw = count_words(line), rc = 0;
    char *w1 = word(line, 1), *w2 = word(line, 2), *w3 = word(line, 3), *w4 = word(line, 4);
    int64_t v;

    if (lb_str_starts(line, "period ") && nw == 3) {
        rc = lb_period_range(w1, w2, &p->period, err);
    } else if (lb_str_starts(line, "after ") && nw == 2 && p->not_before < 0) {
        if (lb_wall_parse(w1, &v) != 0 || v % MINUTE_MS != 0)
            rc = lb_err_set(err, LB_EINVAL, "bad instant \"%s\"", w1);
        else
            p->not_before = v;
    } else if (lb_str_starts(line, "window ")) {
        p->windows = lb_xrealloc(p->windows, (p->nwindows + 1) * sizeof *p->windows);
        rc = lb_window_parse(line + 7, tzdir, &p->windows[p->nwindows], err);
        if (rc == 0)
            p->nwindows++;
    } else if (lb_str_starts(line, "blackout ") && nw == 2) {
        p->blackouts = lb_xrealloc(p->blackouts, (p->nblackouts + 1) * sizeof *p->blackouts);
        rc = lb_blackout_parse(w1, &p->blackouts[p->nblackouts], err);
        if (rc == 0)
            p->nblackouts++;
    } else if (lb_str_starts(line, "spacing ") && nw == 2 && lb_parse_int64(w1, &v) == 0 &&
               v >= 0 && v < INT64_MAX / 1000) {
        p->spacing_ms = v * 1000;
    } else if (lb_str_starts(line, "count ") && nw == 2 && lb_parse_int64(w1, &v) == 0 &&
               v >= 1 && v <= LB_PLAN_MAX_COUNT) {
        p->count = (int)v;
    } else if (lb_str_starts(line, "pool ") && nw == 3) {
        p->pool = lb_xrealloc(p->pool, (p->npool + 1) * sizeof *p->pool);
        memset(&p->pool[p->npool], 0, sizeof *p->pool);
        p->pool[p->npool].id = w1;
        p->pool[p->npool].sha256 = w2;
        w1 = w2 = NULL;
        p->npool++;
    } else if (lb_str_starts(line, "seed ") && nw == 2 && p->seed == NULL) {
        p->seed = w1;
        w1 = NULL;
    } else if (lb_str_starts(line, "salt ") && nw == 2 && strlen(w1) == 64) {
        snprintf(p->salt, sizeof p->salt, "%s", w1);
    } else if (lb_str_starts(line, "drill ") && nw == 5 && lb_parse_int64(w1, &v) == 0 &&
               v == (int64_t)p->ndrills + 1) {
        int64_t at;
        if (lb_wall_parse(w2, &at) != 0 || !lb_str_ends(w2, "Z") || strlen(w2) != 20) {
            rc = lb_err_set(err, LB_EINVAL, "bad drill instant \"%s\"", w2);
        } else {
            struct lb_plan_drill *d;
            p->drills = lb_xrealloc(p->drills, (p->ndrills + 1) * sizeof *p->drills);
            d = &p->drills[p->ndrills++];
            memset(d, 0, sizeof *d);
            d->seq = (int)v;
            d->at = at;
            d->scenario_id = w3;
            d->scenario_sha256 = w4;
            w3 = w4 = NULL;
        }
    } else {
        rc = lb_err_set(err, LB_EINVAL, "cannot read \"%s\"", line);
    }
    free(w1);
    free(w2);
    free(w3);
    free(w4);
    return rc;
}

int lb_plan_parse(const char *text, const char *tzdir, struct lb_plan **out,
                  struct lb_err *err)
{
    static const char head[] = "lifeboat schedule v1\n";
    struct lb_plan *p = lb_xcalloc(1, sizeof *p);
    const char *line;
    int lineno = 1, rc = 0, have_period = 0;

    *out = NULL;
    p->not_before = -1;
    if (text == NULL || !lb_str_starts(text, head)) {
        rc = lb_err_set(err, LB_EINVAL, "not a lifeboat plan: the first line must read "
                                        "\"lifeboat schedule v1\"");
        goto out;
    }
    line = text + sizeof head - 1;
    while (*line) {
        const char *nl = strchr(line, '\n');
        char *one;
        lineno++;
        if (nl == NULL) {
            rc = lb_err_set(err, LB_EINVAL, "plan line %d does not end with a newline",
                            lineno);
            goto out;
        }
        one = lb_xstrndup(line, (size_t)(nl - line));
        have_period |= lb_str_starts(one, "period ");
        rc = parse_line(p, one, tzdir, err);
        free(one);
        if (rc != 0) {
            lb_err_prefix(err, "plan line %d", lineno);
            goto out;
        }
        line = nl + 1;
    }
    if (!have_period || p->nwindows == 0) {
        rc = lb_err_set(err, LB_EINVAL, "the plan has no period or no window");
        goto out;
    }
    for (size_t i = 1; i < p->npool; i++) {
        if (cmp_pool(&p->pool[i - 1], &p->pool[i]) >= 0) {
            rc = lb_err_set(err, LB_EINVAL, "the pool is not sorted by scenario id");
            goto out;
        }
    }
    rc = plan_validate(p, err);
    if (rc == 0 && p->ndrills != (size_t)p->count)
        rc = lb_err_set(err, LB_EINVAL, "the plan says count %d but lists %zu drills",
                        p->count, p->ndrills);
out:
    if (rc != 0) {
        lb_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int lb_plan_rederive(const struct lb_plan *p, struct lb_err *err)
{
    struct lb_plan tmp = *p;
    int rc;

    tmp.drills = NULL;
    tmp.ndrills = 0;
    rc = draw(&tmp, err);
    if (rc != 0) {
        lb_err_prefix(err, "drawing the plan again from its seed");
        goto out;
    }
    if (tmp.ndrills != p->ndrills) {
        rc = lb_err_set(err, LB_EINVAL, "the seed gives %zu drills, the plan lists %zu",
                        tmp.ndrills, p->ndrills);
        goto out;
    }
    for (size_t i = 0; i < p->ndrills; i++) {
        const struct lb_plan_drill *a = &tmp.drills[i], *b = &p->drills[i];
        if (a->at != b->at || strcmp(a->scenario_id, b->scenario_id) != 0 ||
            strcmp(a->scenario_sha256, b->scenario_sha256) != 0) {
            char ta[32], tb[32];
            lb_instant_format(a->at, ta, sizeof ta);
            lb_instant_format(b->at, tb, sizeof tb);
            rc = lb_err_set(err, LB_EINVAL, "drill %zu: the seed gives %s %s, the plan says "
                            "%s %s (were the dates chosen by hand, or did the tz rules of a "
                            "window's zone change since?)", i + 1, ta, a->scenario_id, tb,
                            b->scenario_id);
            goto out;
        }
    }
out:
    drills_free(tmp.drills, tmp.ndrills);
    return rc;
}
