/*
 * heartbeat: the RPO writer thread and the rule that turns surviving beats
 * into an RPO. The thread owns its connection and touches nothing else but
 * the heartbeat's own fields, under its mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lifeboat/engine.h"
#include "lifeboat/heartbeat.h"
#include "lifeboat/pg.h"

/* A beat never waits longer than this, so stop stays prompt. */
#define BEAT_MIN_WAIT_MS 1000
#define BEAT_MAX_WAIT_MS 5000

static const char CREATE_SQL[] =
    "CREATE TABLE IF NOT EXISTS " LB_HEARTBEAT_TABLE " ("
    " id bigserial,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " run_id text)";

static const char INSERT_SQL[] =
    "INSERT INTO " LB_HEARTBEAT_TABLE " (run_id) VALUES ($1)"
    " RETURNING (extract(epoch FROM at) * 1000000)::bigint";

static const char ORIGIN_SQL[] =
    "SELECT to_regclass('" LB_HEARTBEAT_TABLE "')::oid::bigint,"
    " (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint";

static const char SURVIVORS_SQL[] =
    "SELECT (extract(epoch FROM max(at)) * 1000000)::bigint, count(*)"
    " FROM " LB_HEARTBEAT_TABLE
    " WHERE at < timestamptz 'epoch' + $1::bigint * interval '1 microsecond'";

struct beat {
    int64_t at_us;      /* server clock */
    int64_t ack_ms;     /* local wall clock when the commit was acknowledged */
};

struct lb_heartbeat {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_live;            /* started and not yet joined */
    /* set before the thread starts, read-only after */
    char *run_id;
    int64_t interval_ms;
    const struct lb_env *env;
    struct lb_heartbeat_seen origin;
    /* the writer's own copy of its target (conninfo included); replaced
     * under mu by the writer itself when a retarget left one pending */
    struct lb_env_target *target, *pending;
    /* under mu */
    int stop;
    int attempts;
    struct beat *beats;
    size_t nbeats, cap;
    int64_t failures, connects, refusals;
    int64_t best_rtt_ms;        /* -1 until a beat committed */
    int64_t offset_ms;
    char last_error[256];
};

/* Copy, cut to fit (an error message may be longer than the field). */
static void copy_text(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= dstsz)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Parse an int8 column that may be NULL (-1). */
static int64_t value_or(const char *v, int64_t def)
{
    int64_t n;
    return v && lb_parse_int64(v, &n) == 0 ? n : def;
}

int lb_heartbeat_create_table(struct lb_pg *c, int64_t deadline_ms, struct lb_err *err)
{
    int rc = lb_pg_query(c, CREATE_SQL, 0, NULL, deadline_ms, NULL, err);
    if (rc < 0)
        lb_err_prefix(err, "creating " LB_HEARTBEAT_TABLE);
    return rc;
}

int lb_heartbeat_seed(struct lb_pg *c, const char *run_id, int64_t deadline_ms,
                      int64_t *at_us, struct lb_err *err)
{
    const char *params[1] = {run_id};
    char *v = NULL;
    int rc;

    rc = lb_heartbeat_create_table(c, deadline_ms, err);
    if (rc < 0)
        goto out;
    rc = lb_pg_scalar(c, INSERT_SQL, 1, params, deadline_ms, &v, err);
    if (rc < 0) {
        lb_err_prefix(err, "heartbeat");
        goto out;
    }
    if (at_us)
        *at_us = value_or(v, -1);
out:
    free(v);
    return rc;
}

/* ---- a writer's target -------------------------------------------------- */

/* A copy of the target, with the conninfo to use. */
static struct lb_env_target *target_copy(const struct lb_env_target *src, const char *conninfo)
{
    struct lb_env_target *t = lb_env_target_dup(src);

    if (conninfo) {
        free(t->conninfo);
        t->conninfo = lb_xstrdup(conninfo);
    }
    return t;
}

static void target_free(struct lb_env_target *t)
{
    if (!t)
        return;
    lb_env_target_clear(t);
    free(t);
}

/* Under mu: adopt a pending target; 1 when the connection must be dropped. */
static int adopt_pending(struct lb_env_target **cur, struct lb_env_target **pending)
{
    if (!*pending)
        return 0;
    target_free(*cur);
    *cur = *pending;
    *pending = NULL;
    return 1;
}

/* Connect when there is no usable connection, and prove the target on the
 * new one. *fresh = 1 when a new connection was made; *refused = 1 when
 * the guard refused it. */
static int writer_connect(const struct lb_env *env, const struct lb_env_target *t,
                          struct lb_pg **cp, int64_t deadline, int *fresh, int *refused,
                          struct lb_err *e)
{
    *fresh = *refused = 0;
    if (*cp && !lb_pg_ok(*cp)) {
        lb_pg_close(*cp);
        *cp = NULL;
    }
    if (*cp)
        return 0;
    if (lb_pg_connect(t->conninfo, deadline, cp, e) < 0)
        return e->code;
    /* A new connection may reach a new server: it must be the pinned one. */
    if (lb_guard_check(*cp, env, t, deadline, NULL, e) < 0) {
        lb_pg_close(*cp);
        *cp = NULL;
        *refused = e->code == LB_ESAFETY;
        return e->code;
    }
    *fresh = 1;
    return 0;
}

/* After a failed statement: drop a connection that is gone. */
static void drop_if_broken(struct lb_pg **cp, const struct lb_err *e)
{
    if (!lb_pg_ok(*cp) || lb_pg_classify(e->sqlstate) == LB_PG_ERR_CONNECTION) {
        lb_pg_close(*cp);
        *cp = NULL;
    }
}

/* ---- the writer --------------------------------------------------------- */

static void wait_until(struct lb_heartbeat *hb, int64_t mono_ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(mono_ms / 1000);
    ts.tv_nsec = (long)(mono_ms % 1000) * 1000000L;
    pthread_cond_timedwait(&hb->cv, &hb->mu, &ts);
}

static void record_failure(struct lb_heartbeat *hb, const struct lb_err *e, int refused,
                           int connected)
{
    pthread_mutex_lock(&hb->mu);
    hb->failures++;
    hb->refusals += refused;
    hb->connects += connected;
    hb->attempts++;
    copy_text(hb->last_error, sizeof(hb->last_error), e->msg);
    pthread_cond_broadcast(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
}

static void record_beat(struct lb_heartbeat *hb, int64_t at_us, int64_t t0, int64_t t1,
                        int connected)
{
    int64_t rtt = t1 - t0;
    pthread_mutex_lock(&hb->mu);
    if (hb->nbeats == hb->cap) {
        hb->cap = hb->cap ? hb->cap * 2 : 256;
        hb->beats = lb_xrealloc(hb->beats, hb->cap * sizeof(*hb->beats));
    }
    hb->beats[hb->nbeats].at_us = at_us;
    hb->beats[hb->nbeats].ack_ms = t1;
    hb->nbeats++;
    hb->connects += connected;
    hb->attempts++;
    /* The shortest round trip bounds the offset's error best. */
    if (hb->best_rtt_ms < 0 || rtt < hb->best_rtt_ms) {
        hb->best_rtt_ms = rtt;
        hb->offset_ms = at_us / 1000 - (t0 + t1) / 2;
    }
    pthread_cond_broadcast(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
}

/* One beat: (re)connect and prove the target if needed, then insert. */
static void beat_once(struct lb_heartbeat *hb, struct lb_pg **cp)
{
    struct lb_err e = {0};
    const char *params[1] = {hb->run_id};
    int64_t deadline = lb_mono_ms() + clamp64(hb->interval_ms, BEAT_MIN_WAIT_MS,
                                              BEAT_MAX_WAIT_MS);
    int connected = 0, refused = 0, switched;
    char *v = NULL;
    int64_t t0, t1, at_us;

    pthread_mutex_lock(&hb->mu);
    switched = adopt_pending(&hb->target, &hb->pending);
    pthread_mutex_unlock(&hb->mu);
    if (switched) {
        lb_pg_close(*cp);
        *cp = NULL;
    }
    if (writer_connect(hb->env, hb->target, cp, deadline, &connected, &refused, &e) < 0) {
        record_failure(hb, &e, refused, 0);
        return;
    }
    t0 = lb_wall_ms();
    if (lb_pg_scalar(*cp, INSERT_SQL, 1, params, deadline, &v, &e) < 0) {
        drop_if_broken(cp, &e);
        record_failure(hb, &e, 0, connected);
        return;
    }
    t1 = lb_wall_ms();
    at_us = value_or(v, -1);
    free(v);
    if (at_us < 0) {
        lb_err_set(&e, LB_EDB, "the heartbeat insert returned no time");
        record_failure(hb, &e, 0, connected);
        return;
    }
    record_beat(hb, at_us, t0, t1, connected);
}

static void *writer_main(void *arg)
{
    struct lb_heartbeat *hb = arg;
    struct lb_pg *c = NULL;
    int64_t next = lb_mono_ms();

    for (;;) {
        int stop;
        pthread_mutex_lock(&hb->mu);
        while (!hb->stop && lb_mono_ms() < next)
            wait_until(hb, next);
        stop = hb->stop;
        pthread_mutex_unlock(&hb->mu);
        if (stop)
            break;
        beat_once(hb, &c);
        /* Fixed rate; a beat that overran is not made up for in a burst. */
        next += hb->interval_ms;
        if (next < lb_mono_ms())
            next = lb_mono_ms();
    }
    lb_pg_close(c);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static struct lb_heartbeat *hb_alloc(void)
{
    struct lb_heartbeat *hb = lb_xcalloc(1, sizeof(*hb));
    pthread_condattr_t ca;

    pthread_mutex_init(&hb->mu, NULL);
    pthread_condattr_init(&ca);
    /* Waits are on the monotonic clock, like every deadline. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->cv, &ca);
    pthread_condattr_destroy(&ca);
    hb->best_rtt_ms = -1;
    hb->origin.table_oid = hb->origin.server_started_us = -1;
    hb->origin.newest_before_us = -1;
    return hb;
}

/* Where the table lives: its relation and the server's start time. */
static int read_origin(struct lb_pg *c, int64_t deadline_ms, struct lb_heartbeat_seen *s,
                       struct lb_err *err)
{
    struct lb_pg_result r = {0};
    int rc = lb_pg_query(c, ORIGIN_SQL, 0, NULL, deadline_ms, &r, err);
    if (rc < 0)
        return rc;
    s->table_oid = r.nrows == 1 ? value_or(lb_pg_value(&r, 0, 0), -1) : -1;
    s->server_started_us = r.nrows == 1 ? value_or(lb_pg_value(&r, 0, 1), -1) : -1;
    s->table_exists = s->table_oid >= 0;
    lb_pg_result_free(&r);
    return 0;
}

int lb_heartbeat_start(const struct lb_heartbeat_opts *o, struct lb_heartbeat **out,
                       struct lb_err *err)
{
    struct lb_heartbeat *hb = NULL;
    int rc;

    *out = NULL;
    if (!o || !o->conn || !o->env || !o->target ||
        !(o->conninfo || o->target->conninfo)) {
        rc = lb_err_set(err, LB_EINVAL,
                        "heartbeat: a connection, the environment and the target are needed");
        goto out;
    }
    hb = hb_alloc();
    hb->target = target_copy(o->target, o->conninfo);
    hb->run_id = lb_xstrdup(o->run_id);
    hb->interval_ms = o->interval_ms > 0 ? o->interval_ms : LB_HEARTBEAT_DEFAULT_INTERVAL_MS;
    hb->env = o->env;

    rc = lb_heartbeat_create_table(o->conn, o->deadline_ms, err);
    if (rc < 0)
        goto out;
    rc = read_origin(o->conn, o->deadline_ms, &hb->origin, err);
    if (rc < 0)
        goto out;
    if (pthread_create(&hb->thread, NULL, writer_main, hb) != 0) {
        rc = lb_err_set(err, LB_EIO, "heartbeat: cannot start the writer thread: %s",
                        strerror(errno));
        goto out;
    }
    hb->thread_live = 1;

    /* A heartbeat that cannot write its first beat is a mistake to hear now. */
    pthread_mutex_lock(&hb->mu);
    while (hb->attempts == 0 && lb_mono_ms() < o->deadline_ms)
        wait_until(hb, o->deadline_ms == LB_NO_DEADLINE ? lb_mono_ms() + 1000
                                                         : o->deadline_ms);
    if (hb->nbeats == 0)
        rc = hb->attempts ? lb_err_set(err, LB_EDB, "heartbeat: first beat failed: %s",
                                       hb->last_error)
                          : lb_err_set(err, LB_ETIMEOUT,
                                       "heartbeat: no first beat before the deadline");
    pthread_mutex_unlock(&hb->mu);
    if (rc < 0)
        goto out;
    *out = hb;
    hb = NULL;
out:
    lb_heartbeat_free(hb);
    return rc;
}

void lb_heartbeat_retarget(struct lb_heartbeat *hb, const struct lb_env_target *target,
                           const char *conninfo)
{
    struct lb_env_target *t;
    if (!hb || !target)
        return;
    t = target_copy(target, conninfo);
    pthread_mutex_lock(&hb->mu);
    target_free(hb->pending);
    if (hb->thread_live && !hb->stop) {
        hb->pending = t;
    } else {
        /* No writer to hand it over: adopt it now. */
        hb->pending = NULL;
        target_free(hb->target);
        hb->target = t;
    }
    pthread_cond_broadcast(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
}

void lb_heartbeat_target_name(struct lb_heartbeat *hb, char *out, size_t outsz)
{
    pthread_mutex_lock(&hb->mu);
    copy_text(out, outsz, hb->pending ? hb->pending->name : hb->target ? hb->target->name : "");
    pthread_mutex_unlock(&hb->mu);
}

void lb_heartbeat_stop(struct lb_heartbeat *hb)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->mu);
    hb->stop = 1;
    pthread_cond_broadcast(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
    if (hb->thread_live) {
        pthread_join(hb->thread, NULL);
        hb->thread_live = 0;
    }
}

void lb_heartbeat_free(struct lb_heartbeat *hb)
{
    if (!hb)
        return;
    lb_heartbeat_stop(hb);
    pthread_cond_destroy(&hb->cv);
    pthread_mutex_destroy(&hb->mu);
    free(hb->beats);
    target_free(hb->target);
    target_free(hb->pending);
    free(hb->run_id);
    free(hb);
}

void lb_heartbeat_stats(struct lb_heartbeat *hb, struct lb_heartbeat_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&hb->mu);
    out->running = hb->thread_live && !hb->stop;
    out->interval_ms = hb->interval_ms;
    out->beats = (int64_t)hb->nbeats;
    out->failures = hb->failures;
    out->connects = hb->connects;
    out->refusals = hb->refusals;
    out->first_beat_us = hb->nbeats ? hb->beats[0].at_us : -1;
    out->last_beat_us = hb->nbeats ? hb->beats[hb->nbeats - 1].at_us : -1;
    out->clock_offset_ms = hb->best_rtt_ms >= 0 ? hb->offset_ms : 0;
    copy_text(out->last_error, sizeof(out->last_error), hb->last_error);
    pthread_mutex_unlock(&hb->mu);
}

int64_t lb_heartbeat_last_before(struct lb_heartbeat *hb, int64_t before_ms, int64_t *count)
{
    int64_t last = -1, n = 0;
    pthread_mutex_lock(&hb->mu);
    for (size_t i = 0; i < hb->nbeats; i++) {
        if (hb->beats[i].ack_ms > before_ms)
            continue;
        n++;
        if (hb->beats[i].at_us > last)
            last = hb->beats[i].at_us;
    }
    pthread_mutex_unlock(&hb->mu);
    if (count)
        *count = n;
    return last;
}

int64_t lb_heartbeat_count_between(struct lb_heartbeat *hb, int64_t after_us,
                                   int64_t before_ms)
{
    int64_t n = 0;
    pthread_mutex_lock(&hb->mu);
    for (size_t i = 0; i < hb->nbeats; i++)
        if (hb->beats[i].ack_ms <= before_ms && hb->beats[i].at_us > after_us)
            n++;
    pthread_mutex_unlock(&hb->mu);
    return n;
}

/* ---- RPO ---------------------------------------------------------------- */

const char *lb_heartbeat_verdict_name(enum lb_heartbeat_verdict v)
{
    switch (v) {
    case LB_HB_MEASURED: return "measured";
    case LB_HB_UNTOUCHED: return "untouched";
    case LB_HB_NONE_SURVIVED: return "none survived";
    case LB_HB_NO_BEAT_BEFORE: return "no beat before the incident";
    }
    return "?";
}

enum lb_heartbeat_verdict lb_heartbeat_judge(const struct lb_heartbeat_seen *origin,
                                             const struct lb_heartbeat_seen *now,
                                             int64_t last_committed_us)
{
    int lost, recreated, server_changed;

    if (last_committed_us < 0)
        return LB_HB_NO_BEAT_BEFORE;
    if (!now->table_exists || now->rows_before <= 0 || now->newest_before_us < 0)
        return LB_HB_NONE_SURVIVED;
    lost = now->newest_before_us < last_committed_us;
    recreated = origin->table_oid != now->table_oid;
    server_changed = origin->server_started_us != now->server_started_us;
    return lost || recreated || server_changed ? LB_HB_MEASURED : LB_HB_UNTOUCHED;
}

static void explain(struct lb_heartbeat_rpo *r)
{
    char newest[40] = "", last[40] = "";
    if (r->now.newest_before_us >= 0)
        lb_wall_format(r->now.newest_before_us / 1000, newest, sizeof(newest));
    if (r->last_committed_us >= 0)
        lb_wall_format(r->last_committed_us / 1000, last, sizeof(last));
    switch (r->verdict) {
    case LB_HB_MEASURED:
        snprintf(r->reason, sizeof(r->reason),
                 "newest surviving heartbeat %s (server clock); %lld beat(s) committed "
                 "before the incident were lost%s%s",
                 newest, (long long)r->beats_lost,
                 r->origin.table_oid != r->now.table_oid ? "; the table was re-created" : "",
                 r->origin.server_started_us != r->now.server_started_us
                     ? "; the server was restarted or replaced" : "");
        break;
    case LB_HB_UNTOUCHED:
        snprintf(r->reason, sizeof(r->reason),
                 "the heartbeat table was not part of the restore: its last beat before "
                 "the incident (%s) is still there, in the same table on the same server, "
                 "so it says nothing about the restored data", last);
        break;
    case LB_HB_NONE_SURVIVED:
        snprintf(r->reason, sizeof(r->reason), "%s",
                 r->now.table_exists ? "no heartbeat from before the incident survived "
                                       "the restore (" LB_HEARTBEAT_TABLE " holds none)"
                                     : "no heartbeat survived the restore ("
                                       LB_HEARTBEAT_TABLE " is gone)");
        break;
    case LB_HB_NO_BEAT_BEFORE:
        snprintf(r->reason, sizeof(r->reason),
                 "the heartbeat committed no beat before the incident: start it before "
                 "the first fault");
        break;
    }
}

int lb_heartbeat_measure(struct lb_heartbeat *hb, struct lb_pg *c, int64_t incident_ms,
                         int64_t deadline_ms, struct lb_heartbeat_rpo *out,
                         struct lb_err *err)
{
    struct lb_pg_result r = {0};
    struct lb_heartbeat_stats st;
    char cutoff[32];
    const char *params[1] = {cutoff};
    int64_t cutoff_us;
    int rc;

    memset(out, 0, sizeof(*out));
    out->incident_ms = incident_ms;
    out->newest_ms = out->rpo_ms = -1;
    out->origin = hb->origin;
    out->now.table_oid = out->now.server_started_us = out->now.newest_before_us = -1;
    lb_heartbeat_stats(hb, &st);
    out->last_committed_us = lb_heartbeat_last_before(hb, incident_ms, NULL);

    rc = read_origin(c, deadline_ms, &out->now, err);
    if (rc < 0)
        goto out;
    if (out->now.table_exists) {
        /* "Before the incident" on the server's clock; a beat the writer saw
         * acknowledged by then is before it whatever the offset's error. */
        cutoff_us = (incident_ms + st.clock_offset_ms) * 1000;
        if (out->last_committed_us >= cutoff_us)
            cutoff_us = out->last_committed_us + 1;
        snprintf(cutoff, sizeof(cutoff), "%lld", (long long)cutoff_us);
        rc = lb_pg_query(c, SURVIVORS_SQL, 1, params, deadline_ms, &r, err);
        if (rc < 0) {
            /* Dropped between the two queries: nothing survived. */
            if (lb_pg_classify(err->sqlstate) != LB_PG_ERR_UNDEFINED)
                goto out;
            lb_err_clear(err);
            rc = 0;
            out->now.table_exists = 0;
        } else if (r.nrows == 1) {
            out->now.newest_before_us = value_or(lb_pg_value(&r, 0, 0), -1);
            out->now.rows_before = value_or(lb_pg_value(&r, 0, 1), 0);
        }
    }
    out->verdict = lb_heartbeat_judge(&out->origin, &out->now, out->last_committed_us);
    if (out->now.newest_before_us >= 0)
        out->newest_ms = out->now.newest_before_us / 1000 - st.clock_offset_ms;
    if (out->verdict == LB_HB_MEASURED) {
        out->rpo_ms = incident_ms - out->newest_ms;
        if (out->rpo_ms < 0)
            out->rpo_ms = 0;
        out->beats_lost = lb_heartbeat_count_between(hb, out->now.newest_before_us,
                                                     incident_ms);
    }
    explain(out);
out:
    lb_pg_result_free(&r);
    return rc;
}

/* ---- write load --------------------------------------------------------- */

/* A transaction never waits longer than this. */
#define LOAD_TX_WAIT_MS 5000
/* After a failure, the next attempt waits at least this long: a server
 * that is down is not hammered at the asked rate. */
#define LOAD_RETRY_MS 100

static const char LOAD_CREATE_SQL[] =
    "CREATE TABLE IF NOT EXISTS " LB_LOAD_TABLE " ("
    " id bigserial,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " run_id text,"
    " payload text)";

static const char LOAD_INSERT_SQL[] =
    "INSERT INTO " LB_LOAD_TABLE " (run_id, payload) VALUES ($1, md5(random()::text))"
    " RETURNING id";

struct commit {
    int64_t id;
    int64_t ack_ms;     /* local wall clock */
};

struct lb_load {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_live;
    /* set before the thread starts, read-only after */
    const struct lb_env *env;
    char *run_id;
    double tps;
    /* the writer's target; swapped by the writer under mu */
    struct lb_env_target *target, *pending;
    /* under mu */
    int stop;
    int attempts;
    struct commit *commits;
    size_t ncommits, cap;
    int64_t failed, connects, refusals;
    int64_t started_ms, stopped_ms;
    char last_error[256];
};

static void load_failure(struct lb_load *l, const struct lb_err *e, int refused)
{
    pthread_mutex_lock(&l->mu);
    l->failed++;
    l->refusals += refused;
    l->attempts++;
    copy_text(l->last_error, sizeof(l->last_error), e->msg);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* One transaction: (re)connect and prove the target if needed, insert one
 * row. Returns 1 when it committed. */
static int load_once(struct lb_load *l, struct lb_pg **cp)
{
    struct lb_err e = {0};
    const char *params[1] = {l->run_id};
    int64_t deadline = lb_mono_ms() + LOAD_TX_WAIT_MS;
    int fresh = 0, refused = 0, switched;
    char *v = NULL;
    int64_t id;

    pthread_mutex_lock(&l->mu);
    switched = adopt_pending(&l->target, &l->pending);
    pthread_mutex_unlock(&l->mu);
    if (switched) {
        lb_pg_close(*cp);
        *cp = NULL;
    }
    if (writer_connect(l->env, l->target, cp, deadline, &fresh, &refused, &e) < 0) {
        load_failure(l, &e, refused);
        return 0;
    }
    if (fresh) {
        pthread_mutex_lock(&l->mu);
        l->connects++;
        pthread_mutex_unlock(&l->mu);
    }
    if (lb_pg_scalar(*cp, LOAD_INSERT_SQL, 1, params, deadline, &v, &e) < 0) {
        drop_if_broken(cp, &e);
        load_failure(l, &e, 0);
        return 0;
    }
    id = value_or(v, -1);
    free(v);
    pthread_mutex_lock(&l->mu);
    if (l->ncommits == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->commits = lb_xrealloc(l->commits, l->cap * sizeof(*l->commits));
    }
    l->commits[l->ncommits].id = id;
    l->commits[l->ncommits].ack_ms = lb_wall_ms();
    l->ncommits++;
    l->attempts++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 1;
}

static void load_wait_until(struct lb_load *l, int64_t mono_ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(mono_ms / 1000);
    ts.tv_nsec = (long)(mono_ms % 1000) * 1000000L;
    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

static void *load_main(void *arg)
{
    struct lb_load *l = arg;
    struct lb_pg *c = NULL;
    double period = 1000.0 / l->tps;
    double next = (double)lb_mono_ms();

    for (;;) {
        int stop, ok;
        int64_t due = (int64_t)next, now;
        pthread_mutex_lock(&l->mu);
        while (!l->stop && lb_mono_ms() < due)
            load_wait_until(l, due);
        stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        ok = load_once(l, &c);
        now = lb_mono_ms();
        next += period;
        if (!ok && next < (double)(now + LOAD_RETRY_MS))
            next = (double)(now + LOAD_RETRY_MS);
        /* Steady rate: time lost to an outage is not made up in a burst. */
        if (next < (double)(now - 1000))
            next = (double)now;
    }
    lb_pg_close(c);
    return NULL;
}

void lb_load_free(struct lb_load *l)
{
    if (!l)
        return;
    lb_load_stop(l);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->commits);
    target_free(l->target);
    target_free(l->pending);
    free(l->run_id);
    free(l);
}

int lb_load_start(const struct lb_load_opts *o, struct lb_load **out, struct lb_err *err)
{
    struct lb_load *l = NULL;
    pthread_condattr_t ca;
    int rc = 0;

    *out = NULL;
    if (!o || !o->conn || !o->env || !o->target || !(o->conninfo || o->target->conninfo))
        return lb_err_set(err, LB_EINVAL,
                          "load: a connection, the environment and the target are needed");
    if (!(o->tps > 0 && o->tps <= LB_LOAD_MAX_TPS))
        return lb_err_set(err, LB_EINVAL, "load: tps must be above 0 and at most %.0f",
                          LB_LOAD_MAX_TPS);
    l = lb_xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    l->env = o->env;
    l->run_id = lb_xstrdup(o->run_id);
    l->tps = o->tps;
    l->target = target_copy(o->target, o->conninfo);
    l->stopped_ms = -1;

    rc = lb_pg_query(o->conn, LOAD_CREATE_SQL, 0, NULL, o->deadline_ms, NULL, err);
    if (rc < 0) {
        lb_err_prefix(err, "creating " LB_LOAD_TABLE);
        goto out;
    }
    l->started_ms = lb_wall_ms();
    if (pthread_create(&l->thread, NULL, load_main, l) != 0) {
        rc = lb_err_set(err, LB_EIO, "load: cannot start the writer thread: %s",
                        strerror(errno));
        goto out;
    }
    l->thread_live = 1;
    pthread_mutex_lock(&l->mu);
    while (l->attempts == 0 && lb_mono_ms() < o->deadline_ms)
        load_wait_until(l, o->deadline_ms == LB_NO_DEADLINE ? lb_mono_ms() + 1000
                                                            : o->deadline_ms);
    if (l->ncommits == 0)
        rc = l->attempts ? lb_err_set(err, LB_EDB, "load: first transaction failed: %s",
                                      l->last_error)
                         : lb_err_set(err, LB_ETIMEOUT,
                                      "load: no first transaction before the deadline");
    pthread_mutex_unlock(&l->mu);
    if (rc < 0)
        goto out;
    *out = l;
    l = NULL;
out:
    lb_load_free(l);
    return rc;
}

void lb_load_retarget(struct lb_load *l, const struct lb_env_target *target,
                      const char *conninfo)
{
    struct lb_env_target *t;
    if (!l || !target)
        return;
    t = target_copy(target, conninfo);
    pthread_mutex_lock(&l->mu);
    target_free(l->pending);
    if (l->thread_live && !l->stop) {
        l->pending = t;
    } else {
        l->pending = NULL;
        target_free(l->target);
        l->target = t;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void lb_load_target_name(struct lb_load *l, char *out, size_t outsz)
{
    pthread_mutex_lock(&l->mu);
    copy_text(out, outsz, l->pending ? l->pending->name : l->target ? l->target->name : "");
    pthread_mutex_unlock(&l->mu);
}

void lb_load_stop(struct lb_load *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_live) {
        pthread_join(l->thread, NULL);
        pthread_mutex_lock(&l->mu);
        l->thread_live = 0;
        l->stopped_ms = lb_wall_ms();
        pthread_mutex_unlock(&l->mu);
    }
}

void lb_load_stats(struct lb_load *l, struct lb_load_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&l->mu);
    out->running = l->thread_live && !l->stop;
    out->tps = l->tps;
    out->committed = (int64_t)l->ncommits;
    out->failed = l->failed;
    out->connects = l->connects;
    out->refusals = l->refusals;
    out->started_ms = l->started_ms;
    out->stopped_ms = l->stopped_ms;
    copy_text(out->last_error, sizeof(out->last_error), l->last_error);
    pthread_mutex_unlock(&l->mu);
}

int64_t lb_load_committed_before(struct lb_load *l, int64_t before_ms, int64_t *max_id)
{
    int64_t n = 0, top = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->ncommits; i++) {
        if (l->commits[i].ack_ms > before_ms)
            continue;
        n++;
        if (l->commits[i].id > top)
            top = l->commits[i].id;
    }
    pthread_mutex_unlock(&l->mu);
    if (max_id)
        *max_id = top;
    return n;
}
