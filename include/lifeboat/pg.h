/*
 * pg: the PostgreSQL driver. Connections with deadlines, parameterised
 * queries that can be cancelled (PQsendQueryParams + poll + PQcancel),
 * results copied out of libpq, identifier escaping, conninfo redaction.
 *
 * Knows nothing of Lua, the store or the engine. The only module that
 * includes libpq-fe.h. Every wait honours a monotonic deadline and the
 * process interrupt flag.
 */
#ifndef LIFEBOAT_PG_H
#define LIFEBOAT_PG_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

struct lb_pg;   /* a connection (opaque) */

/* Value kinds, from the column type, for typed conversion by callers. */
enum lb_pg_kind {
    LB_PG_TEXT = 0,   /* everything else: numeric, text, timestamps, json */
    LB_PG_INT,        /* int2, int4, int8, oid */
    LB_PG_FLOAT,      /* float4, float8 */
    LB_PG_BOOL,
};

/* A query result, fully copied out of libpq: safe after the connection closes. */
struct lb_pg_result {
    int nrows;
    int ncols;
    char **colnames;          /* ncols */
    enum lb_pg_kind *kinds;   /* ncols */
    char **values;            /* nrows * ncols, row-major; NULL for SQL NULL */
    int64_t affected;         /* PQcmdTuples, or -1 if none */
    char *command;            /* PQcmdStatus, e.g. "DELETE 42" */
};

/* Borrowed value (NULL for SQL NULL). */
const char *lb_pg_value(const struct lb_pg_result *r, int row, int col);
void lb_pg_result_free(struct lb_pg_result *r);

/*
 * Connect. `conninfo` is anything libpq accepts. `application_name` is set
 * to "lifeboat" unless the conninfo names one. Returns 0 or LB_EDB/
 * LB_ETIMEOUT/LB_EINTR; the error message never contains a password.
 */
int lb_pg_connect(const char *conninfo, int64_t deadline_ms, struct lb_pg **out,
                  struct lb_err *err);
/* NULL is a no-op. */
void lb_pg_close(struct lb_pg *c);

/*
 * Run one statement with text parameters (values[i] NULL = SQL NULL). Waits
 * until `deadline_ms` (monotonic) or an interrupt, then cancels the query
 * server-side and returns LB_ETIMEOUT / LB_EINTR. On a server error returns
 * LB_EDB with err->sqlstate. `out` may be NULL when rows are not wanted;
 * otherwise caller frees with lb_pg_result_free.
 */
int lb_pg_query(struct lb_pg *c, const char *sql, int nparams,
                const char *const *values, int64_t deadline_ms,
                struct lb_pg_result *out, struct lb_err *err);
/* Convenience: a query expected to return one value (row 0, col 0).
 * *out is a malloc'ed copy or NULL for SQL NULL / no rows. */
int lb_pg_scalar(struct lb_pg *c, const char *sql, int nparams,
                 const char *const *values, int64_t deadline_ms, char **out,
                 struct lb_err *err);
/* Run several statements with no parameters and no wanted rows (PQsendQuery).
 * Stops at the first error (LB_EDB with its SQLSTATE).
 * After a timeout or interrupt the query is cancelled and its results
 * drained (err->sqlstate "57014"); the connection stays usable unless the
 * server did not answer the cancel within 5 s (then lb_pg_ok() is 0). A
 * lost connection is LB_EDB with sqlstate "08006". */
int lb_pg_exec_script(struct lb_pg *c, const char *sql, int64_t deadline_ms,
                      struct lb_err *err);

/* Quoted identifier ("inventory" → "\"inventory\""); handles "schema.name"
 * when split=1 by quoting each part (split on the first '.' outside double
 * quotes; a part already written as a quoted identifier is kept as is).
 * c may be NULL: the name is then quoted by doubling '"' (right for the
 * UTF-8 encodings lifeboat uses). Caller frees. NULL on failure. */
char *lb_pg_quote_ident(struct lb_pg *c, const char *name, int split);

/* What libpq reports after connecting (borrowed, valid while connected). */
const char *lb_pg_host(const struct lb_pg *c);
const char *lb_pg_port(const struct lb_pg *c);
const char *lb_pg_db(const struct lb_pg *c);
const char *lb_pg_user(const struct lb_pg *c);
int lb_pg_server_version(const struct lb_pg *c);
/* 1 if the connection is still usable. */
int lb_pg_ok(const struct lb_pg *c);
/* 1 if a transaction is open (or failed and not yet rolled back). */
int lb_pg_in_transaction(const struct lb_pg *c);

/* Notices (e.g. "drop cascades to constraint ...") received since the last
 * call; returns a malloc'ed newline-separated text, or NULL if none. */
char *lb_pg_take_notices(struct lb_pg *c);

/*
 * Conninfo helpers, parsed with PQconninfoParse (URIs included).
 * redact: every option libpq marks secret (dispchar '*') becomes "****".
 * split_password: the same conninfo without any password, in key=value
 * form, for a child tool's argv; *password gets the password or NULL.
 * get: value of one keyword, or NULL. All results: caller frees.
 */
char *lb_pg_conninfo_redact(const char *conninfo);
int lb_pg_conninfo_split_password(const char *conninfo, char **without,
                                  char **password, struct lb_err *err);
char *lb_pg_conninfo_get(const char *conninfo, const char *keyword);
/* Return conninfo with one keyword replaced or added (e.g. dbname); value
 * NULL removes it. NULL if conninfo does not parse or libpq does not know
 * the keyword.
 * Results of redact/split_password/with are in key=value form, in libpq's
 * option order, values single-quoted (with \\ and \' escaped) only where
 * needed. redact of a text libpq cannot parse falls back to
 * lb_redact_text(NULL, conninfo). */
char *lb_pg_conninfo_with(const char *conninfo, const char *keyword,
                          const char *value);

/* Broad error classes of a SQLSTATE. */
enum lb_pg_errkind {
    LB_PG_ERR_OTHER = 0,
    LB_PG_ERR_CONNECTION,      /* class 08, 57P01..57P03 */
    LB_PG_ERR_CANCELED,        /* 57014 */
    LB_PG_ERR_UNDEFINED,       /* 42P01 undefined table, 42883, 42703 */
    LB_PG_ERR_PERMISSION,      /* 42501 */
    LB_PG_ERR_CONSTRAINT,      /* class 23 */
    LB_PG_ERR_RETRY,           /* 40001, 40P01 */
};
enum lb_pg_errkind lb_pg_classify(const char *sqlstate);

#endif
