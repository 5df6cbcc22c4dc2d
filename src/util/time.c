/* time: durations, clocks, deadlines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lifeboat/util.h"

struct unit {
    const char *name;
    int64_t ms;
};

static const struct unit units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Read "123" or "1.25" at *p. The integer part lands in *ip, the fraction
 * (at most 9 digits kept) as *fp / *fscale. Returns 0, 1 if there is no
 * number, -1 on overflow.
 */
static int read_number(const char **p, int64_t *ip, int64_t *fp, int64_t *fscale)
{
    const char *s = *p;
    int any = 0;

    *ip = 0;
    *fp = 0;
    *fscale = 1;
    while (is_digit(*s)) {
        int d = *s - '0';
        if (*ip > (INT64_MAX - d) / 10)
            return -1;
        *ip = *ip * 10 + d;
        s++;
        any = 1;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            if (*fscale < 1000000000) {
                *fp = *fp * 10 + (*s - '0');
                *fscale *= 10;
            }
            s++;
            any = 1;
        }
    }
    if (!any)
        return 1;
    *p = s;
    return 0;
}

/* value * unit_ms, rounded to the millisecond; -1 on overflow. */
static int64_t scale(int64_t ip, int64_t fp, int64_t fscale, int64_t unit_ms)
{
    if (ip > INT64_MAX / unit_ms)
        return -1;
    /* fp < 1e9 and unit_ms <= 8.64e7: the product fits. */
    return ip * unit_ms + (fp * unit_ms + fscale / 2) / fscale;
}

int lb_duration_parse(const char *text, int64_t *out_ms, struct lb_err *err)
{
    const char *p = text;
    const char *end;
    int64_t total = 0;
    int components = 0;

    if (text == NULL)
        return lb_err_set(err, LB_EINVAL, "bad duration: missing");
    while (is_space(*p))
        p++;
    end = p + strlen(p);
    while (end > p && is_space(end[-1]))
        end--;
    if (p == end)
        return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": empty", text);
    if (*p == '-')
        return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": negative", text);

    while (p < end) {
        int64_t ip, fp, fscale, unit_ms = 0, part;
        const char *u;
        size_t ulen, i;
        int rc;

        rc = read_number(&p, &ip, &fp, &fscale);
        if (rc < 0)
            return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": too large", text);
        if (rc > 0) {
            if (is_alpha(*p))
                return lb_err_set(err, LB_EINVAL,
                                  "bad duration \"%s\": unit without a number", text);
            return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": unexpected \"%c\"",
                              text, *p);
        }
        u = p;
        while (p < end && is_alpha(*p))
            p++;
        ulen = (size_t)(p - u);
        if (ulen == 0) {
            if (p == end && components == 0) {
                /* A bare number: seconds. */
                unit_ms = 1000;
            } else if (p == end) {
                return lb_err_set(err, LB_EINVAL,
                                  "bad duration \"%s\": number without a unit at the end",
                                  text);
            } else {
                return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": unexpected \"%c\"",
                                  text, *p);
            }
        } else {
            for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0)
                    unit_ms = units[i].ms;
            }
            if (unit_ms == 0)
                return lb_err_set(err, LB_EINVAL,
                                  "bad duration \"%s\": unknown unit \"%.*s\" "
                                  "(use ms, s, m, h, d)",
                                  text, (int)ulen, u);
        }
        part = scale(ip, fp, fscale, unit_ms);
        if (part < 0 || total > INT64_MAX - part)
            return lb_err_set(err, LB_EINVAL, "bad duration \"%s\": too large", text);
        total += part;
        components++;
        while (p < end && is_space(*p))
            p++;
    }
    *out_ms = total;
    return 0;
}

void lb_duration_format(int64_t ms, char *out, size_t outsz)
{
    const char *sign = "";
    uint64_t v;

    if (out == NULL || outsz == 0)
        return;
    if (ms < 0) {
        sign = "-";
        v = (uint64_t)(-(ms + 1)) + 1;
    } else {
        v = (uint64_t)ms;
    }
    if (v < 1000)
        snprintf(out, outsz, "%s%llums", sign, (unsigned long long)v);
    else if (v < 60000)
        snprintf(out, outsz, "%s%llu.%llus", sign, (unsigned long long)(v / 1000),
                 (unsigned long long)(v % 1000 / 100));
    else if (v < 3600000)
        snprintf(out, outsz, "%s%llum%02llus", sign, (unsigned long long)(v / 60000),
                 (unsigned long long)(v % 60000 / 1000));
    else if (v < 86400000)
        snprintf(out, outsz, "%s%lluh%02llum", sign, (unsigned long long)(v / 3600000),
                 (unsigned long long)(v % 3600000 / 60000));
    else
        snprintf(out, outsz, "%s%llud%02lluh", sign, (unsigned long long)(v / 86400000),
                 (unsigned long long)(v % 86400000 / 3600000));
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lb_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t lb_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
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

void lb_wall_format(int64_t wall_ms, char *out, size_t outsz)
{
    int64_t days, rem, y;
    int m, d;

    if (out == NULL || outsz == 0)
        return;
    days = wall_ms / 86400000;
    rem = wall_ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    snprintf(out, outsz, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
}

/* Exactly n digits at *p into *v. */
static int fixed_digits(const char **p, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return -1;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

int lb_wall_parse(const char *text, int64_t *out_ms)
{
    const char *p = text;
    int y, mo, d, h, mi, s, ms = 0;

    if (p == NULL)
        return LB_EINVAL;
    if (fixed_digits(&p, 4, &y) || *p++ != '-' || fixed_digits(&p, 2, &mo) || *p++ != '-' ||
        fixed_digits(&p, 2, &d))
        return LB_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return LB_EINVAL;
    p++;
    if (fixed_digits(&p, 2, &h) || *p++ != ':' || fixed_digits(&p, 2, &mi) ||
        *p++ != ':' || fixed_digits(&p, 2, &s))
        return LB_EINVAL;
    if (*p == '.') {
        int place = 100, any = 0;

        p++;
        while (is_digit(*p)) {
            ms += (*p - '0') * place;
            place /= 10;
            p++;
            any = 1;
        }
        if (!any)
            return LB_EINVAL;
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    if (*p != '\0')
        return LB_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 60)
        return LB_EINVAL;
    *out_ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
              (int64_t)s * 1000 + ms;
    return 0;
}

int64_t lb_deadline_left(int64_t deadline_mono_ms)
{
    int64_t now = lb_mono_ms();

    if (deadline_mono_ms <= now)
        return 0;
    return deadline_mono_ms - now;
}

void lb_sleep_ms(int64_t ms)
{
    struct timespec ts, rem;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR) {
        if (lb_interrupted())
            return;
        ts = rem;
    }
}
