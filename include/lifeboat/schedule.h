/*
 * schedule: unannounced drills, planned. Pure computation, no store and no
 * clock: time zones (TZif files of the system tz database, parsed here, so
 * there is no TZ/tzset global state), weekly windows in a zone, blackout
 * dates, a seeded PRNG of our own, the plan (N instants inside the windows,
 * each with a scenario drawn from a pool) and its SHA-256 commitment over a
 * canonical text.
 *
 * Used by the CLI: `lifeboat schedule` makes and seals a plan, the store
 * keeps it, `lifeboat due` runs what is due, `schedule --reveal/--verify`
 * check it afterwards. docs/scheduling.md describes the canonical text so
 * that anyone can verify a revealed plan with sha256sum alone.
 */
#ifndef LIFEBOAT_SCHEDULE_H
#define LIFEBOAT_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

/* ---- dates ----------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t lb_days_from_civil(int64_t year, int month, int day);
/* "YYYY-MM-DD" → days since the epoch. LB_EINVAL (err says why) if bad. */
int lb_date_parse(const char *text, int64_t *day, struct lb_err *err);
/* Days since the epoch → "YYYY-MM-DD" (out >= 16). */
void lb_date_format(int64_t day, char *out, size_t outsz);
/* UTC milliseconds → "YYYY-MM-DDTHH:MM:SSZ" (whole seconds; out >= 24). */
void lb_instant_format(int64_t utc_ms, char *out, size_t outsz);

/* ---- time zones ------------------------------------------------------ */

struct lb_tz;

/*
 * Load zone `name` ("Europe/Berlin", "UTC") from the tz database directory
 * `dir` (NULL: $TZDIR, else /usr/share/zoneinfo; Debian package tzdata).
 * Names are checked (no "..", no leading '/'). Zones with leap seconds
 * (right/...) are refused. "UTC" works without the database. Caller frees.
 */
int lb_tz_load(const char *name, const char *dir, struct lb_tz **out, struct lb_err *err);
/* Parse TZif data (RFC 8536, versions 1 to 4) already in memory. The footer
 * rule governs instants after the last transition (slim files). */
int lb_tz_parse(const char *name, const void *data, size_t len, struct lb_tz **out,
                struct lb_err *err);
/* A zone given only by a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"). */
int lb_tz_posix(const char *name, const char *rule, struct lb_tz **out, struct lb_err *err);
void lb_tz_free(struct lb_tz *tz);
/* The name it was loaded as (borrowed). */
const char *lb_tz_name(const struct lb_tz *tz);
/* UTC offset in seconds at a UTC instant: local = UTC + offset. */
int32_t lb_tz_offset(const struct lb_tz *tz, int64_t utc_ms);

/* A UTC instant seen on a zone's wall clock. */
struct lb_local {
    int64_t day;        /* local date, days since the epoch */
    int weekday;        /* 0 = Monday .. 6 = Sunday */
    int minute;         /* minutes after local midnight, 0..1439 */
    int32_t offset;     /* seconds east of UTC */
};
void lb_tz_local(const struct lb_tz *tz, int64_t utc_ms, struct lb_local *out);

/* ---- windows, blackouts, periods -------------------------------------- */

/*
 * A weekly window: "Mon-Fri 09:00-17:00 Europe/Berlin". Parts, in any
 * order, each optional: days (Mon..Sun, ranges and comma lists, wrapping
 * ranges like Fri-Mon; default every day), hours HH:MM-HH:MM (end up to
 * 24:00, after the start; default the whole day), an IANA zone (default
 * UTC). Instants are judged on the zone's wall clock, so the window follows
 * daylight-saving changes; a local time that does not exist that day (the
 * hour skipped in spring) is not in any window, one that exists twice (the
 * hour repeated in autumn) is, both times.
 */
struct lb_window {
    unsigned days;          /* bit d: weekday d (0 = Monday) is open */
    int start_min, end_min; /* [start, end) minutes after local midnight */
    struct lb_tz *tz;       /* owned */
};
int lb_window_parse(const char *text, const char *tzdir, struct lb_window *out,
                    struct lb_err *err);
void lb_window_free(struct lb_window *w);
/* Normal form, as in the canonical plan: "Mon-Fri 09:00-17:00 Europe/Berlin". */
void lb_window_format(const struct lb_window *w, char *out, size_t outsz);
/* 1 if the UTC instant is inside the window. */
int lb_window_contains(const struct lb_window *w, int64_t utc_ms);

/* A blackout: one local date or an inclusive range "2027-02-15..2027-02-19".
 * It applies on the wall clock of the window an instant falls in. */
struct lb_blackout {
    int64_t first_day, last_day;
};
int lb_blackout_parse(const char *text, struct lb_blackout *out, struct lb_err *err);
void lb_blackout_format(const struct lb_blackout *b, char *out, size_t outsz);

/*
 * The period a plan covers. A quarter ("2027Q1") or a range of local dates
 * ("2027-01-01".."2027-02-01", until exclusive) is judged on each window's
 * wall clock; a range of UTC instants ("2026-11-26T10:00:00Z".."...") on
 * UTC. Instants are whole seconds.
 */
struct lb_period {
    int dates;             /* 1: from/until are local dates (days); 0: UTC ms */
    int64_t from, until;   /* until exclusive */
};
/* "2027Q1" (or "2027q1"). */
int lb_period_quarter(const char *text, struct lb_period *out, struct lb_err *err);
/* Two dates or two instants (lb_wall_parse forms); both of the same kind. */
int lb_period_range(const char *from, const char *until, struct lb_period *out,
                    struct lb_err *err);
/* "2027Q1", "2027-01-01..2027-02-01" or "<instant>..<instant>". */
void lb_period_label(const struct lb_period *p, char *out, size_t outsz);
/* The UTC instant after which no wall clock on Earth is inside the period. */
int64_t lb_period_end_ms(const struct lb_period *p);

/* ---- the seeded generator --------------------------------------------- */

/* xoshiro256** seeded from SHA-256 of a text: the same text gives the same
 * sequence on every machine. */
struct lb_prng {
    uint64_t s[4];
};
void lb_prng_seed(struct lb_prng *g, const char *seed_text);
uint64_t lb_prng_next(struct lb_prng *g);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t lb_prng_below(struct lb_prng *g, uint64_t n);

/* ---- plans ------------------------------------------------------------ */

/* A scenario a plan may draw. */
struct lb_pool_entry {
    char *id;
    char *sha256;          /* of the scenario file's bytes */
    char *file;            /* path; not part of the commitment (paths move) */
};

struct lb_plan_drill {
    int seq;               /* 1.., in time order */
    int64_t at;            /* UTC ms, whole seconds */
    char *scenario_id;
    char *scenario_sha256;
    char *scenario_file;   /* may be NULL (a plan parsed from its text) */
};

struct lb_plan {
    struct lb_period period;
    int64_t not_before;    /* UTC ms (a minute): no drill before it; -1: none */
    struct lb_window *windows; size_t nwindows;
    struct lb_blackout *blackouts; size_t nblackouts;
    int64_t spacing_ms;    /* least time between two drills */
    int count;
    struct lb_pool_entry *pool; size_t npool;   /* sorted by id */
    char *seed;
    char salt[65];         /* 64 hex digits */
    struct lb_plan_drill *drills; size_t ndrills;
};

/* The window used when none is given. */
#define LB_PLAN_DEFAULT_WINDOW "Mon-Fri 09:00-17:00 UTC"
/* The spacing used when none is given. */
#define LB_PLAN_DEFAULT_SPACING_MS (24LL * 3600 * 1000)
#define LB_PLAN_MAX_COUNT 1000

struct lb_plan_opts {
    struct lb_period period;
    int64_t not_before;    /* UTC ms, rounded up to a minute; -1: none. A plan
                            * made when its period has begun passes "now". */
    const char *const *windows; size_t nwindows;   /* none: the default */
    const char *const *blackouts; size_t nblackouts;
    const struct lb_pool_entry *pool; size_t npool; /* copied */
    int count;             /* 1..LB_PLAN_MAX_COUNT */
    int64_t spacing_ms;    /* < 0: the default; 0: none */
    const char *seed;      /* printable ASCII, no spaces; NULL: 32 random bytes */
    const char *salt;      /* 64 hex digits; NULL: random (tests pass one) */
    const char *tzdir;     /* NULL: see lb_tz_load */
};

/*
 * Make a plan: every UTC minute of the period that some window holds and no
 * blackout covers is eligible; `count` instants are drawn from them
 * uniformly (a minute, then a second in it) by the PRNG seeded with `seed`,
 * at least `spacing` apart; then each drill, in time order, draws a
 * scenario from the pool like cards from a deck (no repeat before the deck
 * is used up). Same options and seed → same drills, on any machine with the
 * same tz rules. LB_EINVAL when the options are bad or the drills do not fit.
 * Caller frees.
 */
int lb_plan_make(const struct lb_plan_opts *o, struct lb_plan **out, struct lb_err *err);
void lb_plan_free(struct lb_plan *p);

/* Eligible minutes of a plan's period (UTC ms of each minute's start, in
 * order) under its windows and blackouts. Caller frees *minutes. */
int lb_plan_eligible(const struct lb_plan *p, int64_t **minutes, size_t *n,
                     struct lb_err *err);

/*
 * The canonical text of a plan: what the commitment hashes, what --reveal
 * prints, one fact per line, "\n" after each:
 *   lifeboat schedule v1
 *   period <from> <until>
 *   after <YYYY-MM-DDTHH:MM:SSZ>   (only with not_before)
 *   window <normal form>            (one per window)
 *   blackout <date>[..<date>]       (one per blackout, as given)
 *   spacing <seconds>
 *   count <n>
 *   pool <scenario id> <sha256>     (one per scenario, sorted by id)
 *   seed <seed>
 *   salt <64 hex>
 *   drill <seq> <YYYY-MM-DDTHH:MM:SSZ> <scenario id> <sha256>
 */
void lb_plan_canonical(const struct lb_plan *p, struct lb_buf *out);
/* SHA-256 of the canonical text, hex. */
void lb_plan_commitment(const struct lb_plan *p, char out[65]);
/* Parse a canonical text back (strictly: anything else is LB_EINVAL with
 * the line). Caller frees. */
int lb_plan_parse(const char *text, const char *tzdir, struct lb_plan **out,
                  struct lb_err *err);
/*
 * Draw the drills again from the plan's own seed, windows, blackouts and
 * pool, and compare them with the plan's: 0 if identical, LB_EINVAL naming
 * the first difference (the dates were not the seed's, or the tz rules
 * changed since).
 */
int lb_plan_rederive(const struct lb_plan *p, struct lb_err *err);

#endif
