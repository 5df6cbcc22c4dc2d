/*
 * Private to src/backup: running a server-side tool as the servers' OS
 * user and recording it, and the file-tree helpers the physical backup
 * layers share (copy, chown, remove, fresh directories).
 */
#ifndef LIFEBOAT_BACKUP_INT_H
#define LIFEBOAT_BACKUP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lifeboat/backup.h"
#include "lifeboat/util.h"

/* The OS user server-side tools run as: `run_as` when given, else
 * "postgres" when root, else NULL (ourselves). */
const char *lb_bk_run_as(const char *run_as);

/* A NULL-ended argv whose strings it owns. */
struct lb_bk_argv {
    char **v;
    size_t n, cap;
};
void lb_bk_argv_add(struct lb_bk_argv *a, const char *s);
void lb_bk_argv_addf(struct lb_bk_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lb_bk_argv_free(struct lb_bk_argv *a);

struct lb_bk_exec {
    const char *const *argv;
    const char *const *env_add;  /* NULL-ended or NULL */
    const char *run_as;          /* resolved already (lb_bk_run_as); NULL: self */
    const char *stdout_path;     /* optional (see proc.h) */
    int64_t deadline_ms;
    int keep_cwd;                /* run in our working directory (argv holds
                                    paths relative to it), not in "/" */
};
/*
 * Run a tool to completion from "/" (a directory every user may enter;
 * keep_cwd: from ours) and
 * record it in `run` (command line, status, output replaced; duration
 * added). 0 only for exit status 0; else LB_EPROC "<tool> exited with
 * status N: <last output line>", or LB_ETIMEOUT / LB_EINTR.
 */
int lb_bk_exec(const struct lb_bk_exec *x, struct lb_tool_run *run, struct lb_err *err);
/* Same, with the result's output kept in *output (caller frees; may be
 * NULL to not ask). */
int lb_bk_exec_output(const struct lb_bk_exec *x, struct lb_tool_run *run, char **output,
                      struct lb_err *err);

/* The last n non-empty lines of a file joined with " | " ("" if none);
 * caller frees. */
char *lb_bk_file_tail(const char *path, int n);

/* uid/gid of an OS user; LB_EINVAL when there is no such user. NULL user:
 * ourselves. */
int lb_bk_user_ids(const char *user, uid_t *uid, gid_t *gid, struct lb_err *err);
/* A new directory for a server (mode 0700, owned by `user`): it must not
 * exist, or be an empty directory. *created says whether we made it. */
int lb_bk_fresh_dir(const char *path, const char *user, int *created, struct lb_err *err);
/* Undo a failed fill of a directory lb_bk_fresh_dir gave: remove it when
 * `created`, else leave it empty again (and the user's). Errors ignored:
 * the caller reports the failure that led here. */
void lb_bk_discard(const char *path, int created, const char *user);
/* chown -R to `user` (no-op when user is NULL or we are not root). */
int lb_bk_chown_tree(const char *path, const char *user, struct lb_err *err);
/* Copy a directory tree (regular files, directories, symlinks as links)
 * into an existing directory `to`. Adds the bytes copied to *bytes. */
int lb_bk_copy_tree(const char *from, const char *to, int64_t deadline_ms, int64_t *bytes,
                    struct lb_err *err);
/* 1 if path is a directory holding nothing. */
int lb_bk_dir_empty(const char *path);
/* Append text to a file (created with mode 0600 when missing) and give it
 * to `user`. */
int lb_bk_append(const char *path, const char *text, const char *user, struct lb_err *err);

/* Append "name = 'value'" lines of a NULL-ended list of pairs; LB_EINVAL
 * for a name that is not a GUC name or a value holding a newline. */
int lb_bk_conf_settings(struct lb_buf *b, const char *const *pairs, struct lb_err *err);
/* A time as "YYYYmmddTHHMMSS.mmmZ" (for directory names). */
void lb_bk_stamp(int64_t wall_ms, char *out, size_t outsz);

/* Lines that clear every recovery target a copied postgresql.auto.conf
 * may hold (the last occurrence of a setting wins). */
extern const char *const lb_bk_recovery_resets;

/* Seconds left before a deadline as a decimal string for a tool's own
 * timeout option (at least 1, at most `cap`; cap when there is none). */
void lb_bk_seconds_left(int64_t deadline_ms, int cap, char *out, size_t outsz);

#endif
