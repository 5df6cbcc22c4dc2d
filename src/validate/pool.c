/*
 * validate/pool: one snapshot shared by several connections, and the
 * threads that spread work over them. The caller's connection exports its
 * snapshot; each worker proves it reaches the same server and database
 * before it imports it, so that every worker reads exactly what the
 * caller's connection would.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifeboat/pg.h"
#include "validate_int.h"

/* The same pinned settings as lb_validate_begin, after the snapshot import
 * (SET TRANSACTION SNAPSHOT must come before any query). */
static const char WORKER_SETTINGS_SQL[] =
    "SET LOCAL search_path = pg_catalog;"
    "SET LOCAL TimeZone = 'UTC';"
    "SET LOCAL DateStyle = 'ISO, YMD';"
    "SET LOCAL IntervalStyle = 'postgres';"
    "SET LOCAL extra_float_digits = 1;"
    "SET LOCAL bytea_output = 'hex';"
    "SET LOCAL lc_monetary = 'C';";

static const char IDENTITY_SQL[] =
    "SELECT (SELECT s.system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system() s),"
    " pg_catalog.current_database()::pg_catalog.text";

int pool_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (n > 256 ? 256 : (int)n) : 1;
}

/* A snapshot id as the server prints it: hex digits and dashes. It cannot
 * be a parameter (SET TRANSACTION SNAPSHOT takes a literal), so it is
 * checked before it goes into the statement. */
static int snapshot_id_ok(const char *s)
{
    size_t n = 0;

    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++, n++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'F') ||
              (*s >= 'a' && *s <= 'f') || *s == '-'))
            return 0;
    }
    return n < 64;
}

static int identity_of(struct lb_pg *c, int64_t deadline, char **sysid, char **db,
                       struct lb_err *err)
{
    struct lb_pg_result r = {0};
    int rc;

    *sysid = *db = NULL;
    rc = lb_pg_query(c, IDENTITY_SQL, 0, NULL, deadline, &r, err);
    if (rc != 0)
        return lb_err_prefix(err, "read the server's identity");
    if (r.nrows != 1 || lb_pg_value(&r, 0, 0) == NULL) {
        lb_pg_result_free(&r);
        return lb_err_set(err, LB_ESAFETY, "the server did not report its system_identifier");
    }
    *sysid = lb_xstrdup(lb_pg_value(&r, 0, 0));
    *db = lb_xstrdup(lb_pg_value(&r, 0, 1));
    lb_pg_result_free(&r);
    return 0;
}

/* Connect one worker and put it into the snapshot. */
static int open_worker(const char *conninfo, const char *sysid, const char *db,
                       const char *snapshot, int64_t deadline, struct lb_pg **out,
                       struct lb_err *err)
{
    struct lb_pg *w = NULL;
    char *wsys = NULL, *wdb = NULL, *sql = NULL;
    int rc;

    *out = NULL;
    rc = lb_pg_connect(conninfo, deadline, &w, err);
    if (rc != 0)
        goto out;
    rc = identity_of(w, deadline, &wsys, &wdb, err);
    if (rc != 0)
        goto out;
    if (strcmp(wsys, sysid) != 0) {
        rc = lb_err_set(err, LB_ESAFETY,
                        "a worker connection reached system_identifier %s, not %s: refusing to "
                        "spread the work over another server", wsys, sysid);
        goto out;
    }
    if (strcmp(wdb, db) != 0) {
        rc = lb_err_set(err, LB_ESAFETY,
                        "a worker connection reached database %s, not %s", wdb, db);
        goto out;
    }
    sql = lb_xasprintf("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                       "SET TRANSACTION SNAPSHOT '%s';%s", snapshot, WORKER_SETTINGS_SQL);
    rc = lb_pg_exec_script(w, sql, deadline, err);
    if (rc != 0) {
        lb_err_prefix(err, "import the snapshot");
        goto out;
    }
    *out = w;
    w = NULL;
out:
    lb_pg_close(w);
    free(wsys);
    free(wdb);
    free(sql);
    if (rc != 0)
        lb_err_prefix(err, "worker connection");
    return rc;
}

int pool_open(struct lb_pg *c, const char *conninfo, int want, size_t max_useful,
              int64_t deadline, struct vpool *p, struct lb_err *err)
{
    char *snapshot = NULL, *sysid = NULL, *db = NULL;
    int rc, i;

    memset(p, 0, sizeof(*p));
    p->deadline = deadline;
    if (want <= 0)
        want = pool_cpus();
    if (conninfo == NULL)
        want = 1;
    if (max_useful < 1)
        max_useful = 1;
    if ((size_t)want > max_useful)
        want = (int)max_useful;
    p->conns = lb_xcalloc((size_t)want, sizeof(*p->conns));
    rc = lb_validate_begin(c, deadline, err);
    if (rc != 0) {
        free(p->conns);
        p->conns = NULL;
        return rc;
    }
    p->conns[0] = c;
    p->n = 1;
    p->own_txn = 1;
    if (want == 1)
        return 0;

    rc = lb_pg_scalar(c, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL, deadline,
                      &snapshot, err);
    if (rc == 0 && !snapshot_id_ok(snapshot))
        rc = lb_err_set(err, LB_EDB, "unexpected snapshot id");
    if (rc != 0) {
        lb_err_prefix(err, "export the snapshot");
        goto out;
    }
    rc = identity_of(c, deadline, &sysid, &db, err);
    if (rc != 0)
        goto out;
    for (i = 1; i < want; i++) {
        rc = open_worker(conninfo, sysid, db, snapshot, deadline, &p->conns[i], err);
        if (rc != 0)
            goto out;
        p->n++;
    }
out:
    free(snapshot);
    free(sysid);
    free(db);
    if (rc != 0)
        pool_close(p, 0, NULL);
    return rc;
}

int pool_close(struct vpool *p, int commit, struct lb_err *err)
{
    int rc = 0, i;

    if (p->conns == NULL)
        return 0;
    /* Workers first: the exporting transaction must outlive the imports. */
    for (i = 1; i < p->n; i++) {
        lb_validate_end(p->conns[i], 0, p->deadline, NULL);
        lb_pg_close(p->conns[i]);
    }
    if (p->own_txn && p->n > 0)
        rc = lb_validate_end(p->conns[0], commit, p->deadline, err);
    free(p->conns);
    memset(p, 0, sizeof(*p));
    return rc;
}

/* ---- threads ------------------------------------------------------------ */

struct run_state {
    pthread_mutex_t mu;
    size_t next, n;
    int failed;
    int rc;
    struct lb_err err;
    pool_fn fn;
    void *ctx;
};

struct run_thread {
    struct run_state *st;
    struct lb_pg *conn;
};

static void *run_main(void *arg)
{
    struct run_thread *t = arg;
    struct run_state *st = t->st;

    for (;;) {
        struct lb_err e = {0};
        size_t i;
        int rc;

        pthread_mutex_lock(&st->mu);
        if (st->failed || st->next >= st->n) {
            pthread_mutex_unlock(&st->mu);
            break;
        }
        i = st->next++;
        pthread_mutex_unlock(&st->mu);

        rc = st->fn(st->ctx, t->conn, i, &e);
        if (rc != 0) {
            pthread_mutex_lock(&st->mu);
            if (!st->failed) {
                st->failed = 1;
                st->rc = rc;
                st->err = e;
            }
            pthread_mutex_unlock(&st->mu);
            break;
        }
    }
    return NULL;
}

int pool_run(struct vpool *p, size_t n, pool_fn fn, void *ctx, struct lb_err *err)
{
    struct run_state st;
    struct run_thread *threads;
    pthread_t *ids;
    int *started;
    int i, nthreads;

    if (n == 0)
        return 0;
    memset(&st, 0, sizeof(st));
    pthread_mutex_init(&st.mu, NULL);
    st.n = n;
    st.fn = fn;
    st.ctx = ctx;
    nthreads = p->n;
    if ((size_t)nthreads > n)
        nthreads = (int)n;
    threads = lb_xcalloc((size_t)nthreads, sizeof(*threads));
    ids = lb_xcalloc((size_t)nthreads, sizeof(*ids));
    started = lb_xcalloc((size_t)nthreads, sizeof(*started));
    /* Thread 0 is this one: a pool of one runs without threads. */
    for (i = 1; i < nthreads; i++) {
        threads[i].st = &st;
        threads[i].conn = p->conns[i];
        started[i] = pthread_create(&ids[i], NULL, run_main, &threads[i]) == 0;
    }
    threads[0].st = &st;
    threads[0].conn = p->conns[0];
    run_main(&threads[0]);
    for (i = 1; i < nthreads; i++)
        if (started[i])
            pthread_join(ids[i], NULL);
    /* A thread that could not start leaves its share to the others, which
     * have already taken every item by now. */
    pthread_mutex_destroy(&st.mu);
    free(threads);
    free(ids);
    free(started);
    if (st.failed) {
        if (err != NULL)
            *err = st.err;
        return st.rc;
    }
    return 0;
}
