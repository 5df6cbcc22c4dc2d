/*
 * proc: posix_spawn a child in its own process group, capture bounded
 * output, enforce a deadline and the interrupt flag by killing the group.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np, pipe2 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifeboat/proc.h"

extern char **environ;

#define DEFAULT_HEAD (4u * 1024u)
#define DEFAULT_TAIL (16u * 1024u)
#define DEFAULT_GRACE_MS 2000
#define POLL_MS 100
/* After the child is reaped, how long to keep reading output that
 * grandchildren may still be writing into the inherited pipe. */
#define DRAIN_MS 200

/* Captured output: the first `head_limit` bytes, the last `tail_limit`. */
struct capture {
    struct lb_buf head;
    struct lb_buf tail;
    size_t head_limit;
    size_t tail_limit;
    size_t total;
};

static void capture_add(struct capture *c, const char *p, size_t n)
{
    c->total += n;
    if (c->head.len < c->head_limit) {
        size_t take = c->head_limit - c->head.len;
        if (take > n)
            take = n;
        lb_buf_add(&c->head, p, take);
        p += take;
        n -= take;
    }
    if (n == 0)
        return;
    lb_buf_add(&c->tail, p, n);
    /* Trim in batches, not on every read. */
    if (c->tail.len > 2 * c->tail_limit + 65536)
        lb_buf_keep_tail(&c->tail, c->tail_limit);
}

static char *capture_finish(struct capture *c)
{
    struct lb_buf out = {0};
    size_t omitted;

    lb_buf_keep_tail(&c->tail, c->tail_limit);
    omitted = c->total - c->head.len - c->tail.len;
    lb_buf_add(&out, c->head.data != NULL ? c->head.data : "", c->head.len);
    if (omitted > 0)
        lb_buf_printf(&out, "\n[... %zu bytes omitted ...]\n", omitted);
    lb_buf_add(&out, c->tail.data != NULL ? c->tail.data : "", c->tail.len);
    return lb_buf_steal(&out);
}

/* Length of the NAME part of "NAME=value" (whole string if no '='). */
static size_t env_name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');

    return eq != NULL ? (size_t)(eq - entry) : strlen(entry);
}

/* environ minus the names env_add overrides, plus env_add. Borrowed strings
 * in a malloc'ed array; free only the array. */
static char **build_env(const char *const *env_add)
{
    size_t nenv = 0, nadd = 0, i, j, k = 0;
    char **envp;

    for (i = 0; environ != NULL && environ[i] != NULL; i++)
        nenv++;
    for (i = 0; env_add != NULL && env_add[i] != NULL; i++)
        nadd++;
    envp = lb_xcalloc(nenv + nadd + 1, sizeof(char *));
    for (i = 0; i < nenv; i++) {
        size_t len = env_name_len(environ[i]);
        int overridden = 0;
        for (j = 0; j < nadd && !overridden; j++)
            overridden = env_name_len(env_add[j]) == len &&
                         strncmp(env_add[j], environ[i], len) == 0;
        if (!overridden)
            envp[k++] = environ[i];
    }
    for (j = 0; j < nadd; j++)
        envp[k++] = (char *)env_add[j];
    envp[k] = NULL;
    return envp;
}

/* argv, with "runuser -u USER --" in front when running as another user. */
static char **build_argv(const struct lb_proc_opts *opts)
{
    size_t n = 0, i, k = 0;
    char **argv;
    int wrap = opts->run_as != NULL && lb_proc_is_root();

    while (opts->argv[n] != NULL)
        n++;
    argv = lb_xcalloc(n + 5, sizeof(char *));
    if (wrap) {
        argv[k++] = (char *)"runuser";
        argv[k++] = (char *)"-u";
        argv[k++] = (char *)opts->run_as;
        argv[k++] = (char *)"--";
    }
    for (i = 0; i < n; i++)
        argv[k++] = (char *)opts->argv[i];
    argv[k] = NULL;
    return argv;
}

/* Move a pipe end above the standard descriptors so dup2 onto 1/2 always
 * clears close-on-exec (it would not if the fd already were 1 or 2). */
static int above_stdio(int fd)
{
    int moved;

    if (fd > 2)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

/* posix_spawn the child; *pid and *rfd (read end of the output pipe) on success. */
static int spawn_child(const struct lb_proc_opts *opts, char **argv, char **envp, pid_t *pid,
                       int *rfd, struct lb_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t sigdef, empty;
    int fds[2] = {-1, -1};
    int fa_init = 0, attr_init = 0;
    int rc = 0, e = 0;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = lb_err_set(err, LB_EPROC, "%s: pipe: %s", argv[0], strerror(errno));
        goto out;
    }
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        rc = lb_err_set(err, LB_EPROC, "%s: pipe: %s", argv[0], strerror(errno));
        goto out;
    }

    e = posix_spawn_file_actions_init(&fa);
    if (e != 0)
        goto spawn_error;
    fa_init = 1;
    e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (e == 0 && opts->stdout_path != NULL)
        e = posix_spawn_file_actions_addopen(&fa, 1, opts->stdout_path,
                                             O_WRONLY | O_CREAT | O_TRUNC, 0644);
    else if (e == 0)
        e = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (e == 0)
        e = posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    if (e == 0)
        e = posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (e == 0)
        e = posix_spawn_file_actions_addclose(&fa, fds[1]);
    /* After the opens: a relative stdout_path is relative to our cwd. */
    if (e == 0 && opts->cwd != NULL)
        e = posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
    if (e != 0)
        goto spawn_error;

    e = posix_spawnattr_init(&attr);
    if (e != 0)
        goto spawn_error;
    attr_init = 1;
    sigemptyset(&empty);
    sigemptyset(&sigdef);
    sigaddset(&sigdef, SIGINT);
    sigaddset(&sigdef, SIGTERM);
    sigaddset(&sigdef, SIGPIPE);
    sigaddset(&sigdef, SIGCHLD);
    sigaddset(&sigdef, SIGHUP);
    sigaddset(&sigdef, SIGQUIT);
    e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETSIGMASK);
    if (e == 0)
        e = posix_spawnattr_setpgroup(&attr, 0);
    if (e == 0)
        e = posix_spawnattr_setsigdefault(&attr, &sigdef);
    if (e == 0)
        e = posix_spawnattr_setsigmask(&attr, &empty);
    if (e != 0)
        goto spawn_error;

    e = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp);
    if (e != 0) {
        if (opts->stdout_path != NULL || opts->cwd != NULL)
            rc = lb_err_set(err, LB_EPROC, "cannot run %s: %s (cwd %s, stdout %s)", argv[0],
                            strerror(e), opts->cwd != NULL ? opts->cwd : ".",
                            opts->stdout_path != NULL ? opts->stdout_path : "captured");
        else
            rc = lb_err_set(err, LB_EPROC, "cannot run %s: %s", argv[0], strerror(e));
        goto out;
    }
    *rfd = fds[0];
    fds[0] = -1;
    goto out;

spawn_error:
    rc = lb_err_set(err, LB_EPROC, "cannot run %s: posix_spawn setup: %s", argv[0],
                    strerror(e));
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return rc;
}

static void fill_status(struct lb_proc_result *res, int st)
{
    if (WIFEXITED(st)) {
        res->exited = 1;
        res->status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        res->signal = WTERMSIG(st);
    }
}

int lb_proc_run(const struct lb_proc_opts *opts, struct lb_proc_result *res,
                struct lb_err *err)
{
    struct capture cap = {0};
    char **argv = NULL;
    char **envp = NULL;
    char *shown = NULL;
    pid_t pid = -1;
    int rfd = -1;
    int reaped = 0;
    int64_t start = lb_mono_ms();
    int64_t deadline, term_at = 0, drain_until = 0;
    int grace;
    int killing = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
    int rc = 0;

    memset(res, 0, sizeof(*res));
    res->status = -1;
    if (opts == NULL || opts->argv == NULL || opts->argv[0] == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "run: empty argv");
        goto out;
    }
    cap.head_limit = opts->head_limit ? opts->head_limit : DEFAULT_HEAD;
    cap.tail_limit = opts->tail_limit ? opts->tail_limit : DEFAULT_TAIL;
    deadline = opts->deadline_ms;
    grace = opts->grace_ms > 0 ? opts->grace_ms : DEFAULT_GRACE_MS;

    if (lb_interrupted()) {
        /* Never start a command after the operator asked to stop. */
        res->interrupted = 1;
        rc = lb_err_set(err, LB_EINTR, "%s: interrupted before it started", opts->argv[0]);
        goto out;
    }

    /* posix_spawn reports a failed exec or chdir itself on glibc, but not
     * everywhere (valgrind, older libcs): check first for a clear message. */
    if (opts->run_as == NULL || !lb_proc_is_root()) {
        char *found = lb_proc_which(opts->argv[0]);
        if (found == NULL) {
            rc = lb_err_set(err, LB_EPROC, "cannot run %s: No such file or directory in PATH",
                            opts->argv[0]);
            goto out;
        }
        free(found);
    }
    if (opts->cwd != NULL) {
        struct stat st;
        const char *why = NULL;
        if (stat(opts->cwd, &st) != 0)
            why = strerror(errno);
        else if (!S_ISDIR(st.st_mode))
            why = "not a directory";
        if (why != NULL) {
            rc = lb_err_set(err, LB_EPROC, "cannot run %s: working directory %s: %s",
                            opts->argv[0], opts->cwd, why);
            goto out;
        }
    }

    argv = build_argv(opts);
    envp = build_env(opts->env_add);
    rc = spawn_child(opts, argv, envp, &pid, &rfd, err);
    if (rc != 0)
        goto out;

    for (;;) {
        int64_t now = lb_mono_ms();
        int timeout = POLL_MS;
        struct pollfd pfd;

        if (!reaped) {
            int st = 0;
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid || (w < 0 && errno == ECHILD)) {
                reaped = 1;
                if (w == pid)
                    fill_status(res, st);
                drain_until = now + DRAIN_MS;
                /* The leader is gone; stragglers of a killed group go now. */
                if (killing == 1) {
                    kill(-pid, SIGKILL);
                    killing = 2;
                }
            }
        }
        if (reaped && (rfd < 0 || now >= drain_until))
            break;

        if (!reaped && killing == 0) {
            if (now >= deadline)
                res->timed_out = 1;
            else if (lb_interrupted())
                res->interrupted = 1;
            if (res->timed_out || res->interrupted) {
                kill(-pid, SIGTERM);
                killing = 1;
                term_at = now;
            }
        }
        if (!reaped && killing == 1 && now - term_at >= grace) {
            kill(-pid, SIGKILL);
            killing = 2;
        }

        if (killing == 0 && deadline != LB_NO_DEADLINE && deadline - now < timeout)
            timeout = (int)(deadline - now > 0 ? deadline - now : 0);
        if (reaped && drain_until - now < timeout)
            timeout = (int)(drain_until - now);
        if (rfd < 0) {
            /* Output closed but the child still runs: check on it often. */
            if (timeout > 10)
                timeout = 10;
            poll(NULL, 0, timeout);
            continue;
        }
        pfd.fd = rfd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, timeout) > 0) {
            char chunk[65536];
            ssize_t n = read(rfd, chunk, sizeof(chunk));
            if (n > 0) {
                capture_add(&cap, chunk, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(rfd);
                rfd = -1;
            }
        }
    }

    res->duration_ms = lb_mono_ms() - start;
    shown = lb_proc_argv_string(opts->argv);
    if (res->timed_out) {
        char took[32];
        lb_duration_format(res->duration_ms, took, sizeof(took));
        rc = lb_err_set(err, LB_ETIMEOUT, "%s: timed out, killed after %s", shown, took);
    } else if (res->interrupted) {
        rc = lb_err_set(err, LB_EINTR, "%s: interrupted, killed", shown);
    }
out:
    if (opts != NULL && opts->argv != NULL && opts->argv[0] != NULL) {
        res->output_bytes = cap.total;
        res->output = capture_finish(&cap);
    }
    if (rfd >= 0)
        close(rfd);
    lb_buf_free(&cap.head);
    lb_buf_free(&cap.tail);
    free(shown);
    free(argv);
    free(envp);
    return rc;
}

void lb_proc_result_free(struct lb_proc_result *res)
{
    if (res == NULL)
        return;
    free(res->output);
    res->output = NULL;
}

int lb_proc_is_root(void)
{
    return geteuid() == 0;
}

/* Characters that never need quoting for display. */
static int plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_@%+=:,./-", c) != NULL;
}

char *lb_proc_argv_string(const char *const *argv)
{
    struct lb_buf b = {0};
    size_t i;

    for (i = 0; argv != NULL && argv[i] != NULL; i++) {
        const char *a = argv[i];
        const char *p;
        int plain = *a != '\0';

        for (p = a; *p != '\0' && plain; p++)
            plain = plain_char(*p);
        if (i > 0)
            lb_buf_addc(&b, ' ');
        if (plain) {
            lb_buf_adds(&b, a);
            continue;
        }
        lb_buf_addc(&b, '\'');
        for (p = a; *p != '\0'; p++) {
            if (*p == '\'')
                lb_buf_adds(&b, "'\\''");
            else
                lb_buf_addc(&b, *p);
        }
        lb_buf_addc(&b, '\'');
    }
    return lb_buf_steal(&b);
}

char *lb_proc_which(const char *name)
{
    const char *path, *p;

    if (name == NULL || *name == '\0')
        return NULL;
    if (strchr(name, '/') != NULL)
        return lb_xstrdup(name);
    path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    p = path;
    for (;;) {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char *cand = n == 0 ? lb_xasprintf("./%s", name)
                            : lb_xasprintf("%.*s/%s", (int)n, p, name);
        struct stat st;

        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        if (end == NULL)
            break;
        p = end + 1;
    }
    return NULL;
}
