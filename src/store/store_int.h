/*
 * Private to src/store: the handle and the small SQLite helpers shared by
 * the files of the module. Nothing outside src/store sees sqlite3.h.
 */
#ifndef LIFEBOAT_STORE_INT_H
#define LIFEBOAT_STORE_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <sqlite3.h>

#include "lifeboat/store.h"
#include "lifeboat/util.h"

struct lb_store {
    sqlite3 *db;
    char *path;
};

/* Record the handle's last SQLite error as "store: <what>: <why>", mapped
 * to an lb_rc (constraint -> LB_EINVAL, foreign key -> LB_ENOTFOUND,
 * busy -> LB_ETIMEOUT, cannot open -> LB_EIO, else LB_EDB). */
int lb_sq_err(struct lb_store *s, struct lb_err *err, const char *what);

/* Prepare one statement. */
int lb_sq_prepare(struct lb_store *s, const char *sql, sqlite3_stmt **out,
                  struct lb_err *err, const char *what);

/*
 * Bind parameters 1..n by type letters:
 *   s  const char * (NULL binds NULL)
 *   i  int
 *   l  int64_t
 *   o  int64_t, bound as NULL when negative ("-1 = unset" fields)
 *   d  double
 */
void lb_sq_bindv(sqlite3_stmt *st, const char *types, va_list ap);

/* Run a prepared statement that returns no rows; *changes (may be NULL)
 * gets the number of rows it changed. */
int lb_sq_done(struct lb_store *s, sqlite3_stmt *st, int *changes,
               struct lb_err *err, const char *what);

/* Prepare, bind, run and finalize one statement inside the caller's
 * transaction. */
int lb_sq_exec(struct lb_store *s, int *changes, struct lb_err *err,
               const char *what, const char *sql, const char *types, ...);

/* BEGIN IMMEDIATE (waits up to the busy timeout for the write lock). */
int lb_sq_begin(struct lb_store *s, struct lb_err *err);
int lb_sq_commit(struct lb_store *s, struct lb_err *err);
/* Roll back if a transaction is open; never fails. */
void lb_sq_rollback(struct lb_store *s);

/* Column readers: NULL text reads as NULL, NULL ints read as -1. */
char *lb_sq_col_str(sqlite3_stmt *st, int col);
int64_t lb_sq_col_i64(sqlite3_stmt *st, int col);
int lb_sq_col_int(sqlite3_stmt *st, int col);

/* Turn "latest", a full run id or a unique prefix into the run's full id
 * (*out malloc'ed). LB_ENOTFOUND / LB_EINVAL (ambiguous) otherwise (load.c). */
int lb_sq_resolve_run(struct lb_store *s, const char *id, char **out, struct lb_err *err);

/* Apply every migration newer than the file's user_version (schema.c). */
int lb_store_migrate(struct lb_store *s, struct lb_err *err);

/* This process as a writer: pid, host name, start time in clock ticks
 * after boot (field 22 of /proc/<pid>/stat; -1 if unknown). host is
 * written NUL-terminated into a buffer of hostsz bytes (writer.c). */
void lb_store_self_writer(long long *pid, char *host, size_t hostsz,
                          long long *start_time);

/* Mark every 'running' run whose writer on this host is gone as
 * 'interrupted' (writer.c). */
int lb_store_recover_interrupted(struct lb_store *s, struct lb_err *err);

#endif
