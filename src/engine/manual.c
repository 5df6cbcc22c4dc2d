/*
 * Manual steps: a drill waits for a human. The wait is a row in the store
 * (so `lifeboat ack` from another shell can close it, and the record shows
 * who acknowledged and when); on a terminal the operator may also type
 * "done". The time people took is the step's time; nobody answering in
 * time is a gap about people, not about the restore.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lifeboat/engine.h"
#include "lifeboat/store.h"

#define DEFAULT_POLL_MS 500
#define TTY_SLICE_MS 100
#define LINE_MAX_BYTES 256

/* The user acknowledging from this process. */
static void whoami(char *out, size_t outsz)
{
    const char *user = getenv("SUDO_USER");
    if (user == NULL || user[0] == '\0')
        user = getenv("USER");
    if (user == NULL || user[0] == '\0')
        user = getenv("LOGNAME");
    if (user == NULL || user[0] == '\0') {
        struct passwd *pw = getpwuid(geteuid());
        user = pw != NULL ? pw->pw_name : "unknown";
    }
    snprintf(out, outsz, "%s", user);
}

/* "10m", "2h", "90s" when exact, else lb_duration_format. */
static void compact(int64_t ms, char *out, size_t outsz)
{
    if (ms > 0 && ms % 3600000 == 0)
        snprintf(out, outsz, "%lldh", (long long)(ms / 3600000));
    else if (ms > 0 && ms % 60000 == 0)
        snprintf(out, outsz, "%lldm", (long long)(ms / 60000));
    else if (ms > 0 && ms % 1000 == 0)
        snprintf(out, outsz, "%llds", (long long)(ms / 1000));
    else
        lb_duration_format(ms, out, outsz);
}

/* Write all of a text to the terminal; a terminal that went away is not an
 * error of the drill (the store still takes `lifeboat ack`). */
static void say(int fd, const char *text)
{
    size_t n = strlen(text), off = 0;
    while (fd >= 0 && off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* "done" (any case), surrounded by blanks or not. */
static int is_done(const char *line)
{
    size_t n;
    while (*line == ' ' || *line == '\t')
        line++;
    n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    return n == 4 && strncasecmp(line, "done", 4) == 0;
}

struct tty_state {
    int fd;            /* -1 once closed or absent */
    char line[LINE_MAX_BYTES];
    size_t len;
};

/* Read what the terminal has; 1 when the operator has typed "done". */
static int tty_read(struct tty_state *t, int out_fd)
{
    char buf[128];
    ssize_t n = read(t->fd, buf, sizeof buf);
    if (n < 0)
        return 0;   /* EINTR, EAGAIN: the loop comes back */
    if (n == 0) {
        say(out_fd, "\n    (the terminal closed: waiting for `lifeboat ack`)\n");
        t->fd = -1;
        return 0;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (t->len < sizeof t->line - 1)
                t->line[t->len++] = buf[i];
            continue;
        }
        t->line[t->len] = '\0';
        t->len = 0;
        if (is_done(t->line))
            return 1;
        say(out_fd, "    type \"done\" when the step is done\ndone? ");
    }
    return 0;
}

/* Wait up to ms for the terminal (or just sleep when there is none). */
static int tty_wait(struct tty_state *t, int out_fd, int64_t ms)
{
    struct pollfd pfd;
    if (ms <= 0)
        return 0;
    if (t->fd < 0) {
        lb_sleep_ms(ms);
        return 0;
    }
    pfd.fd = t->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)ms) <= 0)
        return 0;
    if (pfd.revents & (POLLERR | POLLNVAL)) {
        t->fd = -1;
        return 0;
    }
    return tty_read(t, out_fd);
}

/* Close the wait with `state`; *acked when an ack got there first. */
static int close_wait(struct lb_store *store, int64_t id, const char *state, int *acked,
                      struct lb_ack_view *v, struct lb_err *err)
{
    int changed = 0;
    int rc = lb_store_ack_wait_end(store, id, state, NULL, NULL, NULL, lb_wall_ms(), &changed,
                                   err);
    *acked = 0;
    if (rc == 0 && !changed) {
        rc = lb_store_ack_wait_get(store, id, v, err);
        *acked = rc == 0 && v->state && strcmp(v->state, "acknowledged") == 0;
    }
    return rc;
}

int lb_manual_wait(struct lb_run *r, struct lb_store *store, const struct lb_manual_opts *o,
                   struct lb_manual_result *res, struct lb_err *err)
{
    struct lb_ack_view v = {0};
    struct tty_state tty = {.fd = o->tty_in};
    char host[256] = "", me[128], limit[32], line[1400];
    int64_t start = lb_mono_ms(), start_wall = lb_wall_ms(), deadline = o->deadline_ms;
    int64_t poll_ms = o->poll_ms > 0 ? o->poll_ms : DEFAULT_POLL_MS, next_poll = 0, id = -1;
    int step = lb_run_current_step(r), acked = 0, rc;

    memset(res, 0, sizeof *res);
    if (store == NULL)
        return lb_err_set(err, LB_ESTATE, "manual(): this build cannot reach the run's store "
                                          "(lb_run_store is missing from the engine)");
    if (o->prompt == NULL || o->prompt[0] == '\0')
        return lb_err_set(err, LB_EINVAL, "manual(): the prompt is empty");
    if (o->timeout_ms >= 0 && (deadline == LB_NO_DEADLINE || start + o->timeout_ms < deadline))
        deadline = start + o->timeout_ms;
    if (deadline != LB_NO_DEADLINE)
        compact(deadline - start > 0 ? deadline - start : 0, limit, sizeof limit);
    else
        snprintf(limit, sizeof limit, "no limit");
    gethostname(host, sizeof host - 1);
    whoami(me, sizeof me);

    rc = lb_store_ack_wait_begin(store, lb_run_id(r), step, o->prompt, start_wall,
                                 deadline == LB_NO_DEADLINE ? -1 : start_wall + (deadline - start),
                                 &id, err);
    if (rc != 0)
        return rc;
    snprintf(line, sizeof line, "manual step waits for a human (timeout %s): %s", limit,
             o->prompt);
    lb_run_log(r, line);
    if (tty.fd >= 0) {
        snprintf(line, sizeof line,
                 "\n*** MANUAL STEP (run %s, step %d): %s\n"
                 "    Type \"done\" when it is done, or from another shell: lifeboat ack %s %d\n"
                 "    Timeout: %s\ndone? ",
                 lb_run_id(r), step, o->prompt, lb_run_id(r), step, limit);
        say(o->tty_out, line);
    }

    for (;;) {
        int64_t now = lb_mono_ms(), slice;
        if (lb_interrupted()) {
            rc = close_wait(store, id, "interrupted", &acked, &v, err);
            if (rc == 0 && !acked)
                rc = lb_err_set(err, LB_EINTR, "interrupted while waiting for an "
                                               "acknowledgement: %s", o->prompt);
            break;
        }
        if (now >= next_poll) {
            int halted = 0;
            rc = lb_store_ack_wait_get(store, id, &v, err);
            if (rc != 0)
                break;
            if (v.state && strcmp(v.state, "acknowledged") == 0) {
                acked = 1;
                break;
            }
            rc = lb_store_halt_get(store, &halted, NULL, err);
            if (rc != 0)
                break;
            if (halted) {
                rc = close_wait(store, id, "halted", &acked, &v, err);
                if (rc == 0 && !acked)
                    rc = lb_err_set(err, LB_EHALT, "drills were halted while waiting for an "
                                                   "acknowledgement: %s", o->prompt);
                break;
            }
            next_poll = now + poll_ms;
        }
        if (deadline != LB_NO_DEADLINE && now >= deadline) {
            rc = close_wait(store, id, "timeout", &acked, &v, err);
            if (rc != 0 || acked)
                break;
            snprintf(line, sizeof line, "nobody acknowledged the page within %s", limit);
            rc = lb_run_gap(r, "major", "people", line, o->prompt, err);
            if (rc == 0)
                rc = lb_err_set(err, LB_ETIMEOUT, "nobody acknowledged the page within %s: %s",
                                limit, o->prompt);
            if (tty.fd >= 0)
                say(o->tty_out, "\n    timed out: nobody acknowledged in time\n");
            break;
        }
        slice = next_poll - now;
        if (deadline != LB_NO_DEADLINE && deadline - now < slice)
            slice = deadline - now;
        if (slice > TTY_SLICE_MS)
            slice = TTY_SLICE_MS;
        if (tty_wait(&tty, o->tty_out, slice)) {
            int changed = 0;
            rc = lb_store_ack_wait_end(store, id, "acknowledged", me, "tty", host,
                                       lb_wall_ms(), &changed, err);
            if (rc != 0)
                break;
            /* Unchanged: `lifeboat ack` got there first; either way it is done. */
            rc = lb_store_ack_wait_get(store, id, &v, err);
            if (rc == 0)
                acked = 1;
            break;
        }
    }
    if (acked) {
        rc = 0;
        res->waited_ms = lb_mono_ms() - start;
        snprintf(res->by, sizeof res->by, "%s", v.acked_by ? v.acked_by : "unknown");
        snprintf(res->via, sizeof res->via, "%s", v.acked_via ? v.acked_via : "?");
        lb_duration_format(res->waited_ms, limit, sizeof limit);
        snprintf(line, sizeof line, "acknowledged by %s (%s) after %s", res->by, res->via,
                 limit);
        lb_run_log(r, line);
        if (o->tty_in >= 0 && strcmp(res->via, "tty") != 0) {
            char said[1500];
            snprintf(said, sizeof said, "\n    %s\n", line);
            say(o->tty_out, said);
        }
        rc = lb_run_metric(r, "manual_wait", (double)res->waited_ms / 1000.0, "s", err);
    }
    lb_ack_view_clear(&v);
    return rc;
}
