/*
 * pg: libpq connections and queries with deadlines and cancel. The only
 * file in lifeboat that includes libpq-fe.h (with conninfo.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lifeboat/pg.h"

#define POLL_MS 100
/* How long a cancelled query may take to give its results back. */
#define CANCEL_DRAIN_MS 5000

struct lb_pg {
    PGconn *conn;
    struct lb_buf notices;
    int broken; /* a cancelled query never finished: the session is unusable */
};

/* Collect server notices for lb_pg_take_notices. */
static void on_notice(void *arg, const char *message)
{
    struct lb_pg *c = arg;
    size_t n = strlen(message);

    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
        n--;
    lb_buf_add(&c->notices, message, n);
    lb_buf_addc(&c->notices, '\n');
}

/* A libpq message, trimmed and redacted, into err. */
static int set_pq_error(struct lb_err *err, int code, const char *sqlstate, const char *what,
                        const char *msg)
{
    char *trimmed = NULL, *clean = NULL;
    size_t n;

    trimmed = lb_xstrdup(msg != NULL && *msg != '\0' ? msg : "unknown error");
    n = strlen(trimmed);
    while (n > 0 && (trimmed[n - 1] == '\n' || trimmed[n - 1] == ' ' || trimmed[n - 1] == '\r'))
        trimmed[--n] = '\0';
    clean = lb_redact_text(NULL, trimmed);
    lb_err_set(err, code, "%s: %s", what, clean);
    if (err != NULL && sqlstate != NULL) {
        size_t len = strlen(sqlstate);
        if (len > sizeof(err->sqlstate) - 1)
            len = sizeof(err->sqlstate) - 1;
        memcpy(err->sqlstate, sqlstate, len);
        err->sqlstate[len] = '\0';
    }
    free(trimmed);
    free(clean);
    return code;
}

/* Wait until the socket is ready for `events` or POLL_MS passes. 0 or -1 (errno). */
static int wait_socket(int sock, short events, int64_t deadline)
{
    struct pollfd pfd;
    int64_t left = lb_deadline_left(deadline);
    int timeout = left < POLL_MS ? (int)left : POLL_MS;

    pfd.fd = sock;
    pfd.events = events;
    pfd.revents = 0;
    if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
        return -1;
    return 0;
}

int lb_pg_connect(const char *conninfo, int64_t deadline_ms, struct lb_pg **out,
                  struct lb_err *err)
{
    const char *keywords[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {conninfo, "lifeboat", NULL};
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    struct lb_pg *c = NULL;
    int rc = 0;

    *out = NULL;
    if (conninfo == NULL)
        return lb_err_set(err, LB_EINVAL, "connect: no connection string");
    c = lb_xcalloc(1, sizeof(*c));
    c->conn = PQconnectStartParams(keywords, values, 1);
    if (c->conn == NULL) {
        rc = lb_err_set(err, LB_ENOMEM, "connect: out of memory");
        goto out;
    }
    PQsetNoticeProcessor(c->conn, on_notice, c);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        rc = set_pq_error(err, LB_EDB, "08001", "connect", PQerrorMessage(c->conn));
        goto out;
    }
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            rc = set_pq_error(err, LB_EDB, "08001", "connect", PQerrorMessage(c->conn));
            goto out;
        }
        if (lb_interrupted()) {
            rc = lb_err_set(err, LB_EINTR, "connect: interrupted");
            goto out;
        }
        if (lb_deadline_left(deadline_ms) == 0) {
            rc = lb_err_set(err, LB_ETIMEOUT, "connect: timed out");
            goto out;
        }
        {
            struct pollfd pfd;
            int64_t left = lb_deadline_left(deadline_ms);
            int n;

            pfd.fd = PQsocket(c->conn);
            if (pfd.fd < 0) {
                /* Between two hosts of a multi-host conninfo: no socket to wait on. */
                st = PQconnectPoll(c->conn);
                continue;
            }
            pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
            pfd.revents = 0;
            n = poll(&pfd, 1, left < POLL_MS ? (int)left : POLL_MS);
            if (n < 0 && errno != EINTR) {
                rc = lb_err_set(err, LB_EDB, "connect: poll: %s", strerror(errno));
                goto out;
            }
            if (n <= 0)
                continue;
        }
        st = PQconnectPoll(c->conn);
    }
    *out = c;
    c = NULL;
out:
    lb_pg_close(c);
    return rc;
}

void lb_pg_close(struct lb_pg *c)
{
    if (c == NULL)
        return;
    if (c->conn != NULL)
        PQfinish(c->conn);
    lb_buf_free(&c->notices);
    free(c);
}

/* Set the "connection lost" error. */
static int lost(struct lb_pg *c, struct lb_err *err, const char *what)
{
    return set_pq_error(err, LB_EDB, "08006", what, PQerrorMessage(c->conn));
}

/* Ask the server to cancel the running query. */
static void send_cancel(struct lb_pg *c)
{
    char errbuf[256];
    PGcancel *cancel = PQgetCancel(c->conn);

    if (cancel == NULL)
        return;
    PQcancel(cancel, errbuf, sizeof(errbuf));
    PQfreeCancel(cancel);
}

/*
 * Wait until a result can be read without blocking. Returns 0, or
 * LB_ETIMEOUT / LB_EINTR (not yet cancelled), or LB_EDB if the connection is
 * lost. honour_stop = 0 while draining after a cancel.
 */
static int wait_ready(struct lb_pg *c, int64_t deadline, int honour_stop, struct lb_err *err)
{
    while (PQisBusy(c->conn)) {
        if (honour_stop && lb_interrupted())
            return LB_EINTR;
        if (lb_deadline_left(deadline) == 0)
            return LB_ETIMEOUT;
        if (wait_socket(PQsocket(c->conn), POLLIN, deadline) != 0)
            return lb_err_set(err, LB_EDB, "poll: %s", strerror(errno));
        if (!PQconsumeInput(c->conn))
            return lost(c, err, "connection lost");
    }
    return 0;
}

/* Throw away whatever results are left (after a cancel or an error). */
static void drain(struct lb_pg *c)
{
    int64_t deadline = lb_mono_ms() + CANCEL_DRAIN_MS;
    PGresult *r;

    for (;;) {
        if (wait_ready(c, deadline, 0, NULL) != 0) {
            c->broken = 1;
            return;
        }
        r = PQgetResult(c->conn);
        if (r == NULL)
            return;
        if (PQresultStatus(r) == PGRES_COPY_IN)
            PQputCopyEnd(c->conn, "COPY is not supported by lifeboat");
        PQclear(r);
    }
}

static enum lb_pg_kind kind_of(Oid oid)
{
    switch (oid) {
    case 20: case 21: case 23: case 26: return LB_PG_INT;
    case 700: case 701: return LB_PG_FLOAT;
    case 16: return LB_PG_BOOL;
    default: return LB_PG_TEXT;
    }
}

/* Copy a successful PGresult into out (strings duplicated: PQclear frees them). */
static void copy_result(const PGresult *r, struct lb_pg_result *out)
{
    const char *tuples = PQcmdTuples((PGresult *)r);
    int i, j;

    memset(out, 0, sizeof(*out));
    out->nrows = PQntuples(r);
    out->ncols = PQnfields(r);
    out->colnames = lb_xcalloc((size_t)out->ncols + 1, sizeof(char *));
    out->kinds = lb_xcalloc((size_t)out->ncols + 1, sizeof(enum lb_pg_kind));
    out->values = lb_xcalloc((size_t)out->nrows * (size_t)out->ncols + 1, sizeof(char *));
    for (j = 0; j < out->ncols; j++) {
        out->colnames[j] = lb_xstrdup(PQfname(r, j));
        out->kinds[j] = kind_of(PQftype(r, j));
    }
    for (i = 0; i < out->nrows; i++) {
        for (j = 0; j < out->ncols; j++) {
            if (!PQgetisnull(r, i, j))
                out->values[(size_t)i * (size_t)out->ncols + (size_t)j] =
                    lb_xstrndup(PQgetvalue(r, i, j), (size_t)PQgetlength(r, i, j));
        }
    }
    out->affected = -1;
    if (tuples != NULL && *tuples != '\0') {
        int64_t v;
        if (lb_parse_int64(tuples, &v) == 0)
            out->affected = v;
    }
    out->command = lb_xstrdup(PQcmdStatus((PGresult *)r));
}

/*
 * Collect the results of the query just sent. Keeps the last successful
 * result (into out if non-NULL), or the first error.
 */
static int collect(struct lb_pg *c, int64_t start, int64_t deadline, struct lb_pg_result *out,
                   struct lb_err *err)
{
    PGresult *keep = NULL;
    PGresult *r = NULL;
    int rc = 0;

    for (;;) {
        rc = wait_ready(c, deadline, 1, err);
        if (rc == LB_ETIMEOUT || rc == LB_EINTR) {
            int stop = rc;
            char took[32];
            lb_duration_format(lb_mono_ms() - start, took, sizeof(took));
            send_cancel(c);
            drain(c);
            if (stop == LB_ETIMEOUT)
                rc = lb_err_set(err, LB_ETIMEOUT, "query timed out after %s (cancelled)", took);
            else
                rc = lb_err_set(err, LB_EINTR, "query interrupted after %s (cancelled)", took);
            if (err != NULL)
                memcpy(err->sqlstate, "57014", 6);
            goto out;
        }
        if (rc != 0)
            goto out;
        r = PQgetResult(c->conn);
        if (r == NULL)
            break;
        switch (PQresultStatus(r)) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            if (keep == NULL || PQresultStatus(keep) != PGRES_FATAL_ERROR) {
                PQclear(keep);
                keep = r;
                r = NULL;
            }
            break;
        case PGRES_COPY_IN:
            PQputCopyEnd(c->conn, "COPY is not supported by lifeboat");
            break;
        case PGRES_COPY_OUT: {
            char *buf = NULL;
            while (PQgetCopyData(c->conn, &buf, 0) > 0) {
                PQfreemem(buf);
                buf = NULL;
            }
            break;
        }
        default:
            if (keep == NULL || PQresultStatus(keep) != PGRES_FATAL_ERROR) {
                PQclear(keep);
                keep = r;
                r = NULL;
            }
            break;
        }
        PQclear(r);
        r = NULL;
    }
    if (keep == NULL) {
        if (PQstatus(c->conn) != CONNECTION_OK)
            rc = lost(c, err, "connection lost");
        goto out;
    }
    if (PQresultStatus(keep) == PGRES_TUPLES_OK || PQresultStatus(keep) == PGRES_COMMAND_OK ||
        PQresultStatus(keep) == PGRES_EMPTY_QUERY) {
        if (out != NULL)
            copy_result(keep, out);
        goto out;
    }
    {
        const char *state = PQresultErrorField(keep, PG_DIAG_SQLSTATE);
        if (PQstatus(c->conn) != CONNECTION_OK)
            state = "08006";
        rc = set_pq_error(err, LB_EDB, state != NULL ? state : "", "query",
                          PQresultErrorMessage(keep));
        if (err != NULL && err->msg[0] != '\0') {
            /* "query: ERROR:  x" reads better as "query: x". */
            char *p = strstr(err->msg, ": ERROR:  ");
            if (p != NULL)
                memmove(p + 2, p + 10, strlen(p + 10) + 1);
        }
    }
out:
    PQclear(r);
    PQclear(keep);
    return rc;
}

/* Refuse to use a closed, lost or wedged connection. */
static int check_usable(struct lb_pg *c, struct lb_err *err)
{
    if (c == NULL || c->conn == NULL)
        return lb_err_set(err, LB_ESTATE, "query on a closed connection");
    if (c->broken)
        return lb_err_set(err, LB_ESTATE,
                          "connection unusable: a cancelled query never finished");
    if (PQstatus(c->conn) != CONNECTION_OK)
        return lost(c, err, "connection lost");
    return 0;
}

int lb_pg_query(struct lb_pg *c, const char *sql, int nparams, const char *const *values,
                int64_t deadline_ms, struct lb_pg_result *out, struct lb_err *err)
{
    int64_t start = lb_mono_ms();
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    rc = check_usable(c, err);
    if (rc != 0)
        return rc;
    if (!PQsendQueryParams(c->conn, sql, nparams, NULL, values, NULL, NULL, 0)) {
        if (PQstatus(c->conn) != CONNECTION_OK)
            return lost(c, err, "connection lost");
        return set_pq_error(err, LB_EDB, NULL, "query", PQerrorMessage(c->conn));
    }
    return collect(c, start, deadline_ms, out, err);
}

int lb_pg_scalar(struct lb_pg *c, const char *sql, int nparams, const char *const *values,
                 int64_t deadline_ms, char **out, struct lb_err *err)
{
    struct lb_pg_result r;
    int rc;

    *out = NULL;
    rc = lb_pg_query(c, sql, nparams, values, deadline_ms, &r, err);
    if (rc != 0)
        return rc;
    if (r.nrows > 0 && r.ncols > 0)
        *out = lb_xstrdup(lb_pg_value(&r, 0, 0));
    lb_pg_result_free(&r);
    return 0;
}

int lb_pg_exec_script(struct lb_pg *c, const char *sql, int64_t deadline_ms,
                      struct lb_err *err)
{
    int64_t start = lb_mono_ms();
    int rc = check_usable(c, err);

    if (rc != 0)
        return rc;
    if (!PQsendQuery(c->conn, sql)) {
        if (PQstatus(c->conn) != CONNECTION_OK)
            return lost(c, err, "connection lost");
        return set_pq_error(err, LB_EDB, NULL, "script", PQerrorMessage(c->conn));
    }
    return collect(c, start, deadline_ms, NULL, err);
}

const char *lb_pg_value(const struct lb_pg_result *r, int row, int col)
{
    if (r == NULL || row < 0 || col < 0 || row >= r->nrows || col >= r->ncols)
        return NULL;
    return r->values[(size_t)row * (size_t)r->ncols + (size_t)col];
}

void lb_pg_result_free(struct lb_pg_result *r)
{
    size_t i, n;

    if (r == NULL)
        return;
    n = (size_t)r->nrows * (size_t)r->ncols;
    for (i = 0; r->values != NULL && i < n; i++)
        free(r->values[i]);
    for (i = 0; r->colnames != NULL && i < (size_t)r->ncols; i++)
        free(r->colnames[i]);
    free(r->values);
    free(r->colnames);
    free(r->kinds);
    free(r->command);
    memset(r, 0, sizeof(*r));
}

/* One part of a name, quoted; an already quoted part is kept as written. */
static char *quote_part(PGconn *conn, const char *s, size_t n)
{
    struct lb_buf b = {0};
    size_t i;

    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        int ok = 1;
        for (i = 1; i + 1 < n && ok; i++) {
            if (s[i] == '"') {
                ok = i + 2 < n && s[i + 1] == '"';
                i++;
            }
        }
        if (ok)
            return lb_xstrndup(s, n);
    }
    if (conn != NULL) {
        char *q = PQescapeIdentifier(conn, s, n);
        char *copy;
        if (q == NULL)
            return NULL;
        copy = lb_xstrdup(q);
        PQfreemem(q);
        return copy;
    }
    lb_buf_addc(&b, '"');
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            lb_buf_addc(&b, '"');
        lb_buf_addc(&b, s[i]);
    }
    lb_buf_addc(&b, '"');
    return lb_buf_steal(&b);
}

char *lb_pg_quote_ident(struct lb_pg *c, const char *name, int split)
{
    PGconn *conn = c != NULL ? c->conn : NULL;
    const char *dot = NULL, *p;
    char *a = NULL, *b = NULL, *res = NULL;
    int quoted = 0;

    if (name == NULL || *name == '\0')
        return NULL;
    if (!split) {
        struct lb_buf q = {0};
        size_t i, n = strlen(name);

        if (conn != NULL) {
            char *e = PQescapeIdentifier(conn, name, n);
            if (e == NULL)
                return NULL;
            res = lb_xstrdup(e);
            PQfreemem(e);
            return res;
        }
        lb_buf_addc(&q, '"');
        for (i = 0; i < n; i++) {
            if (name[i] == '"')
                lb_buf_addc(&q, '"');
            lb_buf_addc(&q, name[i]);
        }
        lb_buf_addc(&q, '"');
        return lb_buf_steal(&q);
    }
    for (p = name; *p != '\0' && dot == NULL; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '.' && !quoted)
            dot = p;
    }
    if (dot == NULL || dot == name || dot[1] == '\0')
        return quote_part(conn, name, strlen(name));
    a = quote_part(conn, name, (size_t)(dot - name));
    b = quote_part(conn, dot + 1, strlen(dot + 1));
    if (a != NULL && b != NULL)
        res = lb_xasprintf("%s.%s", a, b);
    free(a);
    free(b);
    return res;
}

const char *lb_pg_host(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL ? PQhost(c->conn) : NULL;
}

const char *lb_pg_port(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL ? PQport(c->conn) : NULL;
}

const char *lb_pg_db(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL ? PQdb(c->conn) : NULL;
}

const char *lb_pg_user(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL ? PQuser(c->conn) : NULL;
}

int lb_pg_server_version(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL ? PQserverVersion(c->conn) : 0;
}

int lb_pg_ok(const struct lb_pg *c)
{
    return c != NULL && c->conn != NULL && !c->broken && PQstatus(c->conn) == CONNECTION_OK;
}

int lb_pg_in_transaction(const struct lb_pg *c)
{
    if (!lb_pg_ok(c))
        return 0;
    PGTransactionStatusType st = PQtransactionStatus(c->conn);
    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
}

char *lb_pg_take_notices(struct lb_pg *c)
{
    if (c == NULL || c->notices.len == 0)
        return NULL;
    if (c->notices.data[c->notices.len - 1] == '\n')
        c->notices.data[--c->notices.len] = '\0';
    return lb_buf_steal(&c->notices);
}

enum lb_pg_errkind lb_pg_classify(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return LB_PG_ERR_OTHER;
    if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
        strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0)
        return LB_PG_ERR_CONNECTION;
    if (strcmp(sqlstate, "57014") == 0)
        return LB_PG_ERR_CANCELED;
    if (strcmp(sqlstate, "42P01") == 0 || strcmp(sqlstate, "42883") == 0 ||
        strcmp(sqlstate, "42703") == 0)
        return LB_PG_ERR_UNDEFINED;
    if (strcmp(sqlstate, "42501") == 0)
        return LB_PG_ERR_PERMISSION;
    if (strncmp(sqlstate, "23", 2) == 0)
        return LB_PG_ERR_CONSTRAINT;
    if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
        return LB_PG_ERR_RETRY;
    return LB_PG_ERR_OTHER;
}
