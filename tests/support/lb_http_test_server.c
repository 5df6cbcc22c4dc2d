/*
 * A small real HTTP/1.1 server for the tests: listens on 127.0.0.1 (port
 * chosen by the kernel), writes that port to a file, logs every request it
 * receives as one JSON line, and answers each path as told on its command
 * line. Single-threaded around poll(2); one request per connection.
 *
 *   lb_http_test_server --port-file F --log F [--route PATH=SPEC[,SPEC...]]...
 *                       [--max-seconds N]
 *
 * PATH is exact (the query is ignored) or a prefix ending in '*'. The SPECs
 * answer successive requests to PATH; the last one repeats. A SPEC is
 *   STATUS            that status, body "ok\n"
 *   STATUS:@FILE      that status, body from FILE (application/json if FILE
 *                     ends in .json, else text/plain)
 *   hang              read the request, never answer, keep the connection
 *   close             read the request, close without answering
 * Unrouted paths get 200 "ok\n". Log lines:
 *   {"seq":1,"method":"POST","path":"/x","query":"a=b","headers":{...},
 *    "body":"...","answer":"500"}
 * with header names in lower case (repeats joined with ", "). The server
 * exits on SIGTERM/SIGINT, or after --max-seconds (default 300) so that a
 * test that dies cannot leave it behind for long.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lifeboat/util.h"

#define MAX_CONNS 64
#define MAX_ROUTES 32
#define MAX_SPECS 16
#define MAX_REQUEST (8 * 1024 * 1024)

struct route {
    char *path;
    int prefix;
    char *specs[MAX_SPECS];
    int nspecs;
    int hits;
};

struct conn {
    int fd;
    struct lb_buf in;
    int hanging;
    int continued;      /* sent "100 Continue" */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "lb_http_test_server: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int parse_route(const char *arg, struct route *r)
{
    const char *eq = strchr(arg, '=');
    char *specs, *p;

    if (!eq || eq == arg)
        return -1;
    memset(r, 0, sizeof(*r));
    r->path = lb_xstrndup(arg, (size_t)(eq - arg));
    if (r->path[strlen(r->path) - 1] == '*') {
        r->prefix = 1;
        r->path[strlen(r->path) - 1] = '\0';
    }
    specs = lb_xstrdup(eq + 1);
    p = specs;
    while (p && *p && r->nspecs < MAX_SPECS) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        r->specs[r->nspecs++] = lb_xstrdup(p);
        p = comma ? comma + 1 : NULL;
    }
    free(specs);
    return r->nspecs ? 0 : -1;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* The spec that answers this request to `path`. */
static const char *pick(struct route *routes, int nroutes, const char *path)
{
    for (int i = 0; i < nroutes; i++) {
        struct route *r = &routes[i];
        int match = r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0
                              : strcmp(path, r->path) == 0;
        if (match) {
            int k = r->hits < r->nspecs ? r->hits : r->nspecs - 1;
            r->hits++;
            return r->specs[k];
        }
    }
    return "200";
}

/* Send the answer a spec describes; returns 1 to keep the connection
 * (hang), 0 to close it. */
static int answer(int fd, const char *spec)
{
    struct lb_buf out = {0};
    char *body = NULL;
    size_t blen = 0;
    const char *ctype = "text/plain";
    const char *at;
    int64_t status = 200;
    struct lb_err err = {0};

    if (strcmp(spec, "hang") == 0)
        return 1;
    if (strcmp(spec, "close") == 0)
        return 0;
    at = strstr(spec, ":@");
    {
        char num[16];
        size_t n = at ? (size_t)(at - spec) : strlen(spec);
        snprintf(num, sizeof(num), "%.*s", (int)(n < 15 ? n : 15), spec);
        if (lb_parse_int64(num, &status) < 0 || status < 100 || status > 599)
            status = 500;
    }
    if (at) {
        if (lb_file_read(at + 2, &body, &blen, &err) < 0) {
            body = lb_xstrdup("no such body file\n");
            blen = strlen(body);
            status = 500;
        } else if (lb_str_ends(at + 2, ".json")) {
            ctype = "application/json";
        }
    } else {
        body = lb_xstrdup("ok\n");
        blen = 3;
    }
    lb_buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n",
                  (int)status, reason((int)status), ctype, blen);
    lb_buf_add(&out, body, blen);
    write_all(fd, out.data, out.len);
    lb_buf_free(&out);
    free(body);
    return 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * If c->in holds a whole request, log and answer it: returns 1 when the
 * connection stays open (hang), 0 when it is done, -1 when more bytes are
 * needed.
 */
static int serve(struct conn *c, struct route *routes, int nroutes, FILE *log, int *seq)
{
    char *end = strstr(c->in.data ? c->in.data : "", "\r\n\r\n");
    size_t head_len, content_len = 0;
    char *line, *next, *sp1, *sp2, *q, *path, *query;
    cJSON *root, *headers;
    int keep;

    if (end == NULL)
        return -1;
    head_len = (size_t)(end - c->in.data) + 4;
    /* headers first: Content-Length and Expect decide whether we wait */
    headers = cJSON_CreateObject();
    line = lb_xstrndup(c->in.data, head_len);
    next = strstr(line, "\r\n");
    *next = '\0';
    next += 2;
    int expect_continue = 0;
    while (*next && strncmp(next, "\r\n", 2) != 0) {
        char *eol = strstr(next, "\r\n");
        char *colon;
        *eol = '\0';
        colon = strchr(next, ':');
        if (colon) {
            char *v = colon + 1;
            *colon = '\0';
            for (char *k = next; *k; k++)
                *k = (char)lower((unsigned char)*k);
            while (*v == ' ' || *v == '\t')
                v++;
            cJSON *prev = cJSON_GetObjectItemCaseSensitive(headers, next);
            if (prev && cJSON_IsString(prev)) {
                char *joined = lb_xasprintf("%s, %s", prev->valuestring, v);
                cJSON_ReplaceItemInObjectCaseSensitive(headers, next, cJSON_CreateString(joined));
                free(joined);
            } else {
                cJSON_AddStringToObject(headers, next, v);
            }
            if (strcmp(next, "content-length") == 0) {
                int64_t n = 0;
                if (lb_parse_int64(v, &n) == 0 && n >= 0 && n < MAX_REQUEST)
                    content_len = (size_t)n;
            } else if (strcmp(next, "expect") == 0 && strcmp(v, "100-continue") == 0) {
                expect_continue = 1;
            }
        }
        next = eol + 2;
    }
    if (c->in.len < head_len + content_len) {
        if (expect_continue && !c->continued) {
            write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            c->continued = 1;
        }
        cJSON_Delete(headers);
        free(line);
        return -1;
    }
    /* request line: METHOD SP TARGET SP VERSION */
    sp1 = strchr(line, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1)
        *sp1 = '\0';
    if (sp2)
        *sp2 = '\0';
    path = sp1 ? sp1 + 1 : (char *)"";
    q = strchr(path, '?');
    query = q ? q + 1 : NULL;
    if (q)
        *q = '\0';

    const char *spec = pick(routes, nroutes, path);
    root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "seq", ++*seq);
    cJSON_AddStringToObject(root, "method", line);
    cJSON_AddStringToObject(root, "path", path);
    cJSON_AddStringToObject(root, "query", query ? query : "");
    cJSON_AddItemToObject(root, "headers", headers);
    {
        char *body = lb_xstrndup(c->in.data + head_len, content_len);
        cJSON_AddStringToObject(root, "body", body);
        free(body);
    }
    cJSON_AddStringToObject(root, "answer", spec);
    {
        char *text = cJSON_PrintUnformatted(root);
        fprintf(log, "%s\n", text);
        fflush(log);
        cJSON_free(text);
    }
    cJSON_Delete(root);
    free(line);
    keep = answer(c->fd, spec);
    return keep;
}

static void write_port_file(const char *path, int port)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        die(tmp);
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        die(path);
}

static void close_conn(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    lb_buf_free(&c->in);
    c->hanging = 0;
    c->continued = 0;
}

int main(int argc, char **argv)
{
    struct route routes[MAX_ROUTES];
    struct conn conns[MAX_CONNS];
    const char *port_file = NULL, *log_path = NULL;
    int nroutes = 0, seq = 0, lfd, one = 1;
    int64_t max_ms = 300 * 1000, start = lb_mono_ms();
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    FILE *log;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_path = argv[++i];
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc && nroutes < MAX_ROUTES) {
            if (parse_route(argv[++i], &routes[nroutes++]) < 0) {
                fprintf(stderr, "lb_http_test_server: bad route '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            int64_t s;
            if (lb_parse_int64(argv[++i], &s) < 0 || s <= 0) {
                fprintf(stderr, "lb_http_test_server: bad --max-seconds\n");
                return 2;
            }
            max_ms = s * 1000;
        } else {
            fprintf(stderr, "usage: lb_http_test_server --port-file F --log F "
                            "[--route PATH=SPEC[,SPEC...]]... [--max-seconds N]\n");
            return 2;
        }
    }
    if (!port_file || !log_path) {
        fprintf(stderr, "lb_http_test_server: --port-file and --log are required\n");
        return 2;
    }
    log = fopen(log_path, "a");
    if (!log)
        die(log_path);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 64) < 0)
        die("bind");
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0)
        die("getsockname");
    write_port_file(port_file, ntohs(addr.sin_port));

    for (int i = 0; i < MAX_CONNS; i++) {
        conns[i].fd = -1;
        lb_buf_init(&conns[i].in);
        conns[i].hanging = conns[i].continued = 0;
    }
    while (!stop_flag && lb_mono_ms() - start < max_ms) {
        struct pollfd pfd[MAX_CONNS + 1];
        int map[MAX_CONNS + 1], n = 0;

        pfd[n].fd = lfd;
        pfd[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            pfd[n].fd = conns[i].fd;
            pfd[n].events = POLLIN;
            map[n++] = i;
        }
        if (poll(pfd, (nfds_t)n, 200) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAX_CONNS && fd >= 0; i++)
                if (conns[i].fd < 0) {
                    slot = i;
                    break;
                }
            if (fd >= 0 && slot < 0)
                close(fd);
            else if (fd >= 0)
                conns[slot].fd = fd;
        }
        for (int k = 1; k < n; k++) {
            struct conn *c = &conns[map[k]];
            char buf[65536];
            ssize_t r;

            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = read(c->fd, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close_conn(c);
                continue;
            }
            if (c->hanging)
                continue;   /* a hung exchange ignores anything more */
            lb_buf_add(&c->in, buf, (size_t)r);
            if (c->in.len > MAX_REQUEST) {
                close_conn(c);
                continue;
            }
            int st = serve(c, routes, nroutes, log, &seq);
            if (st == 1)
                c->hanging = 1;
            else if (st == 0)
                close_conn(c);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            close_conn(&conns[i]);
    close(lfd);
    fclose(log);
    for (int i = 0; i < nroutes; i++) {
        free(routes[i].path);
        for (int k = 0; k < routes[i].nspecs; k++)
            free(routes[i].specs[k]);
    }
    return 0;
}
