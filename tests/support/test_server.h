/*
 * Tests' handle on lb_http_test_server (lb_http_test_server.c): start it as
 * a child process on 127.0.0.1, hand it body files, read back the requests
 * it logged, stop it. Linked into the unit tests that speak HTTP.
 */
#ifndef LIFEBOAT_TEST_SERVER_H
#define LIFEBOAT_TEST_SERVER_H

#include <sys/types.h>

#include <cjson/cJSON.h>

struct lb_test_server {
    pid_t pid;
    int port;
    char dir[64];          /* scratch directory: log, port file, bodies */
    char url[64];          /* "http://127.0.0.1:PORT" */
    char log[128];
    char **files; int nfiles;
};

/* Create the scratch directory. Returns 0 or -1. */
int lb_test_server_init(struct lb_test_server *s);
/* Write a body file into the scratch directory; returns its path (owned by s). */
const char *lb_test_server_file(struct lb_test_server *s, const char *name, const char *content);
/* Start the server with NULL-ended "PATH=SPEC[,SPEC...]" routes (may be NULL).
 * Waits until it listens. Returns 0 or -1. */
int lb_test_server_start(struct lb_test_server *s, const char *const *routes);
/* Stop it (SIGTERM, wait) and remove the scratch directory. Idempotent. */
void lb_test_server_stop(struct lb_test_server *s);
/* The requests logged so far, as a JSON array. Caller cJSON_Deletes. */
cJSON *lb_test_server_requests(const struct lb_test_server *s);
int lb_test_server_count(const struct lb_test_server *s);
/* Wait until at least n requests were logged or ms passed; returns the count. */
int lb_test_server_wait(const struct lb_test_server *s, int n, int ms);

#endif
