/*
 * exec: server-side tools run as the servers' OS user, recorded for the
 * step, and the file-tree work around physical backups (fresh data
 * directories, copies, ownership, removal).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lifeboat/proc.h"
#include "backup_int.h"

#define SERVER_OS_USER "postgres"
/* Output kept of a tool run, for the step's record (a TOC or a schema goes
 * to a file, never through this capture). */
#define EXEC_HEAD_LIMIT (4u * 1024u)
#define EXEC_TAIL_LIMIT (16u * 1024u)

const char *lb_bk_run_as(const char *run_as)
{
    if (run_as != NULL)
        return run_as;
    return lb_proc_is_root() ? SERVER_OS_USER : NULL;
}

void lb_bk_argv_add(struct lb_bk_argv *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = lb_xrealloc(a->v, a->cap * sizeof(char *));
    }
    a->v[a->n++] = lb_xstrdup(s);
    a->v[a->n] = NULL;
}

void lb_bk_argv_addf(struct lb_bk_argv *a, const char *fmt, ...)
{
    struct lb_buf b = {0};
    va_list ap;

    va_start(ap, fmt);
    lb_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    lb_bk_argv_add(a, b.data != NULL ? b.data : "");
    lb_buf_free(&b);
}

void lb_bk_argv_free(struct lb_bk_argv *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}

char *lb_bk_file_tail(const char *path, int n)
{
    struct lb_buf b = {0};
    struct lb_err e = {0};
    char *text = NULL;
    size_t len = 0;
    const char *p, *end;
    int got = 0;

    if (path == NULL || lb_file_read(path, &text, &len, &e) != 0)
        return lb_xstrdup("");
    end = text + len;
    p = end;
    /* Walk back over n non-empty lines. */
    while (p > text && got < n) {
        const char *line_end = p;

        while (line_end > text && (line_end[-1] == '\n' || line_end[-1] == '\r'))
            line_end--;
        p = line_end;
        while (p > text && p[-1] != '\n')
            p--;
        if (line_end > p)
            got++;
        if (p == text)
            break;
    }
    for (; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

        if (l > 0) {
            if (b.len > 0)
                lb_buf_adds(&b, " | ");
            lb_buf_add(&b, p, l);
        }
        p += l + (nl != NULL ? 1 : 0);
    }
    free(text);
    return b.data != NULL ? lb_buf_steal(&b) : lb_xstrdup("");
}

int lb_bk_exec_output(const struct lb_bk_exec *x, struct lb_tool_run *run, char **output,
                      struct lb_err *err)
{
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    struct lb_tool_run scratch = {0};
    const char *tool = strrchr(x->argv[0], '/') ? strrchr(x->argv[0], '/') + 1 : x->argv[0];
    char *tail = NULL;
    int rc;

    if (run == NULL)
        run = &scratch;
    if (output != NULL)
        *output = NULL;
    po.argv = x->argv;
    po.env_add = x->env_add;
    po.cwd = x->keep_cwd ? NULL : "/";
    po.run_as = x->run_as;
    po.stdout_path = x->stdout_path;
    po.deadline_ms = x->deadline_ms;
    po.head_limit = EXEC_HEAD_LIMIT;
    po.tail_limit = EXEC_TAIL_LIMIT;
    rc = lb_proc_run(&po, &res, err);
    free(run->cmdline);
    free(run->output);
    run->cmdline = lb_proc_argv_string(x->argv);
    run->output = lb_xstrdup(res.output != NULL ? res.output : "");
    run->exit_status = res.exited ? res.status : -1;
    run->duration_ms += res.duration_ms;
    run->timed_out = res.timed_out;
    run->interrupted = res.interrupted;
    if (rc != 0) {
        lb_err_prefix(err, "%s", tool);
        goto out;
    }
    if (!res.exited || res.status != 0) {
        tail = lb_str_last_line(res.output);
        if (res.exited)
            rc = lb_err_set(err, LB_EPROC, "%s exited with status %d%s%s", tool, res.status,
                            tail[0] != '\0' ? ": " : "", tail);
        else
            rc = lb_err_set(err, LB_EPROC, "%s was killed by signal %d", tool, res.signal);
    }
out:
    if (output != NULL)
        *output = lb_xstrdup(res.output != NULL ? res.output : "");
    free(tail);
    lb_proc_result_free(&res);
    lb_tool_run_free(&scratch);
    return rc;
}

int lb_bk_exec(const struct lb_bk_exec *x, struct lb_tool_run *run, struct lb_err *err)
{
    return lb_bk_exec_output(x, run, NULL, err);
}

int lb_bk_user_ids(const char *user, uid_t *uid, gid_t *gid, struct lb_err *err)
{
    struct passwd *pw;

    if (user == NULL) {
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    pw = getpwnam(user);
    if (pw == NULL)
        return lb_err_set(err, LB_EINVAL, "there is no '%s' OS user (install postgresql)", user);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int lb_bk_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

int lb_bk_fresh_dir(const char *path, const char *user, int *created, struct lb_err *err)
{
    struct stat st;
    uid_t uid = 0;
    gid_t gid = 0;
    int rc;

    *created = 0;
    if (lstat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || !lb_bk_dir_empty(path))
            return lb_err_set(err, LB_EINVAL, "%s exists and is not an empty directory", path);
    } else if (errno != ENOENT) {
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    } else {
        if (mkdir(path, 0700) != 0)
            return lb_err_set(err, LB_EIO, "mkdir %s: %s", path, strerror(errno));
        *created = 1;
    }
    if (chmod(path, 0700) != 0)
        return lb_err_set(err, LB_EIO, "chmod %s: %s", path, strerror(errno));
    rc = lb_bk_user_ids(user, &uid, &gid, err);
    if (rc == 0 && user != NULL && lb_proc_is_root() && chown(path, uid, gid) != 0)
        rc = lb_err_set(err, LB_EIO, "chown %s: %s", path, strerror(errno));
    return rc;
}

void lb_bk_discard(const char *path, int created, const char *user)
{
    struct lb_err ignored = {0};
    char *tmp;
    int again = 0;

    if (created) {
        lb_rmtree(path, &ignored);
        return;
    }
    tmp = lb_xasprintf("%s.discarded", path);
    if (rename(path, tmp) == 0 && lb_rmtree(tmp, &ignored) == 0)
        lb_bk_fresh_dir(path, user, &again, &ignored);
    free(tmp);
}

/* lchown every entry below (and including) path. */
static int chown_walk(const char *path, uid_t uid, gid_t gid, struct lb_err *err)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st) != 0)
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    if (lchown(path, uid, gid) != 0)
        return lb_err_set(err, LB_EIO, "chown %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return 0;
    d = opendir(path);
    if (d == NULL)
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *child;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        child = lb_path_join(path, e->d_name);
        rc = chown_walk(child, uid, gid, err);
        free(child);
    }
    closedir(d);
    return rc;
}

int lb_bk_chown_tree(const char *path, const char *user, struct lb_err *err)
{
    uid_t uid = 0;
    gid_t gid = 0;
    int rc;

    if (user == NULL || !lb_proc_is_root())
        return 0;
    rc = lb_bk_user_ids(user, &uid, &gid, err);
    if (rc == 0)
        rc = chown_walk(path, uid, gid, err);
    return rc;
}

static int copy_file(const char *from, const char *to, mode_t mode, int64_t *bytes,
                     struct lb_err *err)
{
    char buf[1 << 16];
    int in = -1, out = -1;
    int rc = 0;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = lb_err_set(err, LB_EIO, "%s: %s", from, strerror(errno));
        goto out;
    }
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        rc = lb_err_set(err, LB_EIO, "%s: %s", to, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        ssize_t off = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = lb_err_set(err, LB_EIO, "%s: %s", from, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        while (off < n) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = lb_err_set(err, LB_EIO, "%s: %s", to, strerror(errno));
                goto out;
            }
            off += w;
        }
        *bytes += n;
    }
out:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = lb_err_set(err, LB_EIO, "%s: %s", to, strerror(errno));
    return rc;
}

int lb_bk_copy_tree(const char *from, const char *to, int64_t deadline_ms, int64_t *bytes,
                    struct lb_err *err)
{
    DIR *d = NULL;
    struct dirent *e;
    char *src = NULL, *dst = NULL;
    int rc = 0;

    d = opendir(from);
    if (d == NULL)
        return lb_err_set(err, LB_EIO, "%s: %s", from, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (lb_interrupted()) {
            rc = lb_err_set(err, LB_EINTR, "copying %s: interrupted", from);
            goto out;
        }
        if (lb_deadline_left(deadline_ms) == 0) {
            rc = lb_err_set(err, LB_ETIMEOUT, "copying %s: deadline passed", from);
            goto out;
        }
        src = lb_path_join(from, e->d_name);
        dst = lb_path_join(to, e->d_name);
        if (lstat(src, &st) != 0) {
            rc = lb_err_set(err, LB_EIO, "%s: %s", src, strerror(errno));
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(dst, st.st_mode & 0777) != 0 && errno != EEXIST) {
                rc = lb_err_set(err, LB_EIO, "mkdir %s: %s", dst, strerror(errno));
                goto out;
            }
            rc = lb_bk_copy_tree(src, dst, deadline_ms, bytes, err);
        } else if (S_ISLNK(st.st_mode)) {
            char link[4096];
            ssize_t n = readlink(src, link, sizeof(link) - 1);

            if (n < 0) {
                rc = lb_err_set(err, LB_EIO, "readlink %s: %s", src, strerror(errno));
                goto out;
            }
            link[n] = '\0';
            if (symlink(link, dst) != 0)
                rc = lb_err_set(err, LB_EIO, "symlink %s: %s", dst, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(src, dst, st.st_mode, bytes, err);
        }
        if (rc != 0)
            goto out;
        free(src);
        free(dst);
        src = dst = NULL;
    }
out:
    free(src);
    free(dst);
    closedir(d);
    return rc;
}

int lb_bk_append(const char *path, const char *text, const char *user, struct lb_err *err)
{
    size_t len = strlen(text);
    int fd, rc = 0;
    uid_t uid = 0;
    gid_t gid = 0;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    if (write(fd, text, len) != (ssize_t)len)
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    if (rc == 0 && user != NULL && lb_proc_is_root()) {
        rc = lb_bk_user_ids(user, &uid, &gid, err);
        if (rc == 0 && chown(path, uid, gid) != 0)
            rc = lb_err_set(err, LB_EIO, "chown %s: %s", path, strerror(errno));
    }
    return rc;
}

/* A GUC name: letters, digits, '_' and '.' (custom options). */
static int guc_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

int lb_bk_conf_settings(struct lb_buf *b, const char *const *pairs, struct lb_err *err)
{
    size_t i;

    for (i = 0; pairs != NULL && pairs[i] != NULL; i += 2) {
        if (!guc_name(pairs[i]))
            return lb_err_set(err, LB_EINVAL, "'%s' is not a server setting name", pairs[i]);
        if (pairs[i + 1] == NULL)
            return lb_err_set(err, LB_EINVAL, "setting %s has no value", pairs[i]);
        if (strpbrk(pairs[i + 1], "\n\r") != NULL)
            return lb_err_set(err, LB_EINVAL, "the value of setting %s holds a line break",
                              pairs[i]);
        lb_buf_printf(b, "%s = ", pairs[i]);
        lb_buf_add_conf_string(b, pairs[i + 1]);
        lb_buf_addc(b, '\n');
    }
    return 0;
}

void lb_bk_stamp(int64_t wall_ms, char *out, size_t outsz)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, outsz, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

void lb_bk_seconds_left(int64_t deadline_ms, int cap, char *out, size_t outsz)
{
    int64_t s = cap;

    if (deadline_ms != LB_NO_DEADLINE) {
        s = (lb_deadline_left(deadline_ms) + 999) / 1000;
        if (s < 1)
            s = 1;
        if (s > cap)
            s = cap;
    }
    snprintf(out, outsz, "%lld", (long long)s);
}
