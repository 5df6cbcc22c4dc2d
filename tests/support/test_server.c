/* Start, feed and read lb_http_test_server for the unit tests. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifeboat/util.h"
#include "test_server.h"

extern char **environ;

int lb_test_server_init(struct lb_test_server *s)
{
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/lb-http-test-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->log, sizeof(s->log), "%s/requests.jsonl", s->dir);
    return 0;
}

const char *lb_test_server_file(struct lb_test_server *s, const char *name, const char *content)
{
    struct lb_err err = {0};
    char *path = lb_path_join(s->dir, name);

    if (lb_file_write(path, content, strlen(content), &err) < 0) {
        free(path);
        return NULL;
    }
    s->files = lb_xrealloc(s->files, (size_t)(s->nfiles + 1) * sizeof(char *));
    s->files[s->nfiles++] = path;
    return path;
}

int lb_test_server_start(struct lb_test_server *s, const char *const *routes)
{
    const char *argv[64];
    char port_file[128];
    int n = 0;
    int64_t until;

    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    argv[n++] = LB_HTTP_TEST_SERVER;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n++] = "--log";
    argv[n++] = s->log;
    argv[n++] = "--max-seconds";
    argv[n++] = "120";
    for (int i = 0; routes && routes[i] && n < 60; i++) {
        argv[n++] = "--route";
        argv[n++] = routes[i];
    }
    argv[n] = NULL;
    if (posix_spawn(&s->pid, LB_HTTP_TEST_SERVER, NULL, NULL, (char *const *)argv, environ))
        return -1;
    until = lb_mono_ms() + 10000;
    while (lb_mono_ms() < until) {
        char *text = NULL;
        size_t len = 0;
        struct lb_err err = {0};
        int64_t port;
        if (lb_file_read(port_file, &text, &len, &err) == 0) {
            text[strcspn(text, "\n")] = '\0';
            if (lb_parse_int64(text, &port) == 0) {
                s->port = (int)port;
                snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
                free(text);
                return 0;
            }
        }
        free(text);
        usleep(10000);
    }
    return -1;
}

void lb_test_server_stop(struct lb_test_server *s)
{
    char path[128];

    if (s->pid > 0) {
        int status;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &status, 0);
        s->pid = -1;
    }
    for (int i = 0; i < s->nfiles; i++) {
        unlink(s->files[i]);
        free(s->files[i]);
    }
    free(s->files);
    s->files = NULL;
    s->nfiles = 0;
    if (s->dir[0]) {
        unlink(s->log);
        snprintf(path, sizeof(path), "%s/port", s->dir);
        unlink(path);
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
}

cJSON *lb_test_server_requests(const struct lb_test_server *s)
{
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL, *line, *next;
    size_t len = 0;
    struct lb_err err = {0};

    if (lb_file_read(s->log, &text, &len, &err) < 0)
        return arr;
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        cJSON *item = cJSON_Parse(line);
        if (item)
            cJSON_AddItemToArray(arr, item);
    }
    free(text);
    return arr;
}

int lb_test_server_count(const struct lb_test_server *s)
{
    cJSON *arr = lb_test_server_requests(s);
    int n = cJSON_GetArraySize(arr);
    cJSON_Delete(arr);
    return n;
}

int lb_test_server_wait(const struct lb_test_server *s, int n, int ms)
{
    int64_t until = lb_mono_ms() + ms;
    int have = lb_test_server_count(s);

    while (have < n && lb_mono_ms() < until) {
        usleep(10000);
        have = lb_test_server_count(s);
    }
    return have;
}
