/*
 * Unit tests of http (and of the Lua `http` module on top of it): real
 * requests to a real HTTP server on 127.0.0.1 (tests/support), a real TLS
 * server (openssl s_server) for certificate checks, and AWS's published
 * Signature V4 test vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lifeboat/engine.h"
#include "lifeboat/http.h"
#include "lifeboat/runner.h"
#include "lifeboat/store.h"
#include "lifeboat/util.h"
#include "test_server.h"

extern char **environ;

/* The TLS test's openssl s_server, killed by teardown even if the test fails. */
static pid_t tls_pid = -1;

static int setup(void **state)
{
    struct lb_test_server *s = calloc(1, sizeof(*s));
    assert_int_equal(lb_test_server_init(s), 0);
    lb_interrupt_reset();
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct lb_test_server *s = *state;
    lb_test_server_stop(s);
    free(s);
    lb_interrupt_reset();
    if (tls_pid > 0) {
        kill(tls_pid, SIGTERM);
        waitpid(tls_pid, NULL, 0);
        tls_pid = -1;
    }
    return 0;
}

static void start(struct lb_test_server *s, const char *const *routes)
{
    assert_int_equal(lb_test_server_start(s, routes), 0);
}

static char *url(const struct lb_test_server *s, const char *path)
{
    return lb_xasprintf("%s%s", s->url, path);
}

/* Request n of the server's log (0-based); the caller deletes `all`. */
static cJSON *logged(const struct lb_test_server *s, int n, cJSON **all)
{
    *all = lb_test_server_requests(s);
    cJSON *r = cJSON_GetArrayItem(*all, n);
    assert_non_null(r);
    return r;
}

static const char *field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *header(const cJSON *req, const char *name)
{
    return field(cJSON_GetObjectItemCaseSensitive(req, "headers"), name);
}

/* ---- the C API ------------------------------------------------------- */

static void test_http_get_returns_status_headers_and_body(void **state)
{
    struct lb_test_server *s = *state;
    const char *body = lb_test_server_file(s, "hello.json", "{\"rows\": 42}");
    char *route = lb_xasprintf("/hello=200:@%s", body);
    const char *routes[] = {route, NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};
    cJSON *all;

    start(s, routes);
    char *u = url(s, "/hello?x=1");
    struct lb_http_req req = {.url = u, .timeout_ms = 5000};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"rows\": 42}");
    assert_int_equal(resp.body_len, 12);
    assert_int_equal(resp.truncated, 0);
    assert_string_equal(lb_http_resp_header(&resp, "Content-Type"), "application/json");
    assert_true(lb_http_resp_is_json(&resp));
    assert_true(resp.duration_ms >= 0 && resp.duration_ms < 5000);

    cJSON *r = logged(s, 0, &all);
    assert_string_equal(field(r, "method"), "GET");
    assert_string_equal(field(r, "path"), "/hello");
    assert_string_equal(field(r, "query"), "x=1");
    assert_true(lb_str_starts(header(r, "user-agent"), "lifeboat/"));
    cJSON_Delete(all);
    lb_http_resp_free(&resp);
    free(u);
    free(route);
}

static void test_http_post_sends_the_body_and_headers(void **state)
{
    struct lb_test_server *s = *state;
    const char *headers[] = {"Content-Type: application/json", "X-Drill: yes", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};
    cJSON *all;

    start(s, NULL);
    char *u = url(s, "/in");
    struct lb_http_req req = {.url = u, .headers = headers, .body = "{\"a\":1}",
                              .timeout_ms = 5000};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_false(lb_http_resp_is_json(&resp));
    cJSON *r = logged(s, 0, &all);
    assert_string_equal(field(r, "method"), "POST");
    assert_string_equal(field(r, "body"), "{\"a\":1}");
    assert_string_equal(header(r, "content-type"), "application/json");
    assert_string_equal(header(r, "x-drill"), "yes");
    assert_string_equal(header(r, "content-length"), "7");
    assert_null(header(r, "expect"));
    cJSON_Delete(all);
    lb_http_resp_free(&resp);

    /* a large body goes without an Expect: 100-continue round trip */
    char *big = lb_xmalloc(200001);
    memset(big, 'x', 200000);
    big[200000] = '\0';
    struct lb_http_req put = {.url = u, .method = "PUT", .body = big, .timeout_ms = 5000};
    assert_int_equal(lb_http_request(&put, &resp, &err), 0);
    r = logged(s, 1, &all);
    assert_string_equal(field(r, "method"), "PUT");
    assert_int_equal(strlen(field(r, "body")), 200000);
    assert_null(header(r, "expect"));
    cJSON_Delete(all);
    lb_http_resp_free(&resp);
    free(big);
    free(u);
}

static void test_http_a_500_is_an_answer_not_an_error(void **state)
{
    struct lb_test_server *s = *state;
    const char *routes[] = {"/broken=500", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, routes);
    char *u = url(s, "/broken");
    struct lb_http_req req = {.url = u, .timeout_ms = 5000};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    assert_int_equal(resp.status, 500);
    lb_http_resp_free(&resp);
    free(u);
}

static void test_http_a_hung_server_times_out_within_the_timeout(void **state)
{
    struct lb_test_server *s = *state;
    const char *routes[] = {"/services/T000/B000/hook-secret=hang", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, routes);
    char *u = url(s, "/services/T000/B000/hook-secret");
    struct lb_http_req req = {.url = u, .body = "{}", .timeout_ms = 300};
    int64_t t0 = lb_mono_ms();
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 2000);
    assert_true(resp.duration_ms >= 250);
    assert_int_equal(resp.status, 0);
    /* the message names the origin, never the path (a webhook's path is its secret) */
    assert_non_null(strstr(err.msg, s->url));
    assert_null(strstr(err.msg, "hook-secret"));
    assert_int_equal(lb_test_server_wait(s, 1, 1000), 1);
    lb_http_resp_free(&resp);
    free(u);
}

static void test_http_the_deadline_wins_over_a_longer_timeout(void **state)
{
    struct lb_test_server *s = *state;
    const char *routes[] = {"/hang=hang", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, routes);
    char *u = url(s, "/hang");
    struct lb_http_req req = {.url = u, .timeout_ms = 20000,
                              .deadline_ms = lb_mono_ms() + 300};
    int64_t t0 = lb_mono_ms();
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_ETIMEOUT);
    assert_true(lb_mono_ms() - t0 < 2000);
    lb_http_resp_free(&resp);
    free(u);
}

static void test_http_a_passed_deadline_sends_nothing(void **state)
{
    struct lb_test_server *s = *state;
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, NULL);
    char *u = url(s, "/x");
    struct lb_http_req req = {.url = u, .deadline_ms = lb_mono_ms() - 1};
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_ETIMEOUT);
    assert_non_null(resp.body);
    usleep(100000);
    assert_int_equal(lb_test_server_count(s), 0);
    lb_http_resp_free(&resp);
    free(u);
}

static void *raise_later(void *arg)
{
    (void)arg;
    usleep(300000);
    lb_interrupt_raise();
    return NULL;
}

static void test_http_an_interrupt_stops_a_hung_request(void **state)
{
    struct lb_test_server *s = *state;
    const char *routes[] = {"/hang=hang", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};
    pthread_t th;

    start(s, routes);
    char *u = url(s, "/hang");
    struct lb_http_req req = {.url = u, .timeout_ms = 20000};
    int64_t t0 = lb_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, raise_later, NULL), 0);
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_EINTR);
    pthread_join(th, NULL);
    assert_true(lb_mono_ms() - t0 < 3000);
    lb_http_resp_free(&resp);
    free(u);
}

static void test_http_the_body_kept_is_bounded(void **state)
{
    struct lb_test_server *s = *state;
    char *big = lb_xmalloc(100001);
    memset(big, 'y', 100000);
    big[100000] = '\0';
    const char *path = lb_test_server_file(s, "big.txt", big);
    char *route = lb_xasprintf("/big=200:@%s", path);
    const char *routes[] = {route, NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, routes);
    char *u = url(s, "/big");
    struct lb_http_req req = {.url = u, .timeout_ms = 5000, .max_body = 1000};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    assert_int_equal(resp.body_len, 1000);
    assert_int_equal(strlen(resp.body), 1000);
    assert_int_equal(resp.body_total, 100000);
    assert_true(resp.truncated);
    lb_http_resp_free(&resp);
    free(u);
    free(route);
    free(big);
}

static void test_http_refuses_other_schemes_and_bad_headers(void **state)
{
    struct lb_test_server *s = *state;
    const char *bad_headers[] = {"X-A: 1\r\nX-Injected: 2", NULL};
    const char *no_colon[] = {"X-A 1", NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};

    start(s, NULL);
    struct lb_http_req file = {.url = "file:///etc/passwd"};
    assert_int_equal(lb_http_request(&file, &resp, &err), LB_EINVAL);
    lb_http_resp_free(&resp);

    char *u = url(s, "/x");
    struct lb_http_req inj = {.url = u, .headers = bad_headers};
    assert_int_equal(lb_http_request(&inj, &resp, &err), LB_EINVAL);
    lb_http_resp_free(&resp);
    struct lb_http_req nc = {.url = u, .headers = no_colon};
    assert_int_equal(lb_http_request(&nc, &resp, &err), LB_EINVAL);
    lb_http_resp_free(&resp);
    struct lb_http_req meth = {.url = u, .method = "GET /evil HTTP/1.1\r\n"};
    assert_int_equal(lb_http_request(&meth, &resp, &err), LB_EINVAL);
    lb_http_resp_free(&resp);
    assert_int_equal(lb_test_server_count(s), 0);
    free(u);
}

static void test_http_a_closed_port_is_an_io_error(void **state)
{
    struct lb_test_server *s = *state;
    struct lb_http_resp resp;
    struct lb_err err = {0};
    char u[64];

    start(s, NULL);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", s->port);
    lb_test_server_stop(s);    /* the port is free again: nothing listens */
    struct lb_http_req req = {.url = u, .timeout_ms = 3000};
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_EIO);
    assert_int_equal(resp.status, 0);
    lb_http_resp_free(&resp);
}

static void test_http_url_origin_drops_user_info_path_and_query(void **state)
{
    char out[128];
    char *e;

    (void)state;
    lb_http_url_origin("https://user:pw@hooks.slack.com/services/T/B/secret?x=1", out,
                       sizeof(out));
    assert_string_equal(out, "https://hooks.slack.com");
    lb_http_url_origin("http://127.0.0.1:9091/metrics/job/x", out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:9091");
    lb_http_url_origin("not a url", out, sizeof(out));
    assert_string_equal(out, "(bad url)");
    e = lb_http_escape("a b/c~d");
    assert_string_equal(e, "a%20b%2Fc~d");
    free(e);
}

/* ---- AWS Signature V4 ------------------------------------------------ */

/*
 * AWS's Signature Version 4 test suite (aws-sig-v4-test-suite, published by
 * AWS with the SigV4 documentation, "Examples of how to derive a signing key
 * / Signature Version 4 test suite"): credentials AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service
 * "service", X-Amz-Date 20150830T123600Z, host example.amazonaws.com.
 *   get-vanilla:  GET /   -> get-vanilla.authz
 *   post-vanilla: POST /  -> post-vanilla.authz
 * The expected Authorization values below are the suite's .authz files.
 * libcurl signs with the X-Amz-Date the caller sends, so the signature is
 * deterministic; CONNECT_TO sends "example.amazonaws.com" to our server
 * while the Host header (signed) stays the example's.
 */
static const struct lb_aws_credentials aws_example = {
    .access_key_id = "AKIDEXAMPLE",
    .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

static void signed_request(struct lb_test_server *s, const char *method, char *auth,
                           size_t authsz)
{
    const char *headers[] = {"X-Amz-Date: 20150830T123600Z", NULL};
    char connect_to[96];
    const char *ct[] = {connect_to, NULL};
    struct lb_http_resp resp;
    struct lb_err err = {0};
    cJSON *all;

    snprintf(connect_to, sizeof(connect_to), "example.amazonaws.com:80:127.0.0.1:%d", s->port);
    struct lb_http_req req = {.url = "http://example.amazonaws.com/", .method = method,
                              .headers = headers, .timeout_ms = 5000,
                              .aws_region = "us-east-1", .aws_service = "service",
                              .aws = &aws_example, .connect_to = ct};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    lb_http_resp_free(&resp);
    int n = lb_test_server_count(s);
    cJSON *r = logged(s, n - 1, &all);
    assert_string_equal(field(r, "method"), method);
    assert_string_equal(header(r, "host"), "example.amazonaws.com");
    if (strcmp(method, "POST") == 0)   /* an empty body is said so, and still signs */
        assert_string_equal(header(r, "content-length"), "0");
    snprintf(auth, authsz, "%s", header(r, "authorization"));
    cJSON_Delete(all);
}

static void test_http_sigv4_matches_aws_get_vanilla(void **state)
{
    struct lb_test_server *s = *state;
    char auth[512];

    start(s, NULL);
    signed_request(s, "GET", auth, sizeof(auth));
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_http_sigv4_matches_aws_post_vanilla(void **state)
{
    struct lb_test_server *s = *state;
    char auth[512];

    start(s, NULL);
    signed_request(s, "POST", auth, sizeof(auth));
    assert_string_equal(auth,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

static void test_http_sigv4_reads_credentials_like_aws_tools(void **state)
{
    struct lb_test_server *s = *state;
    struct lb_http_resp resp;
    struct lb_err err = {0};
    cJSON *all;

    start(s, NULL);
    char *u = url(s, "/rds");
    setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env-0123456789", 1);
    setenv("AWS_SESSION_TOKEN", "session-token-from-env", 1);
    struct lb_http_req req = {.url = u, .method = "POST", .body = "Action=DescribeDBInstances",
                              .timeout_ms = 5000, .aws_region = "eu-west-1",
                              .aws_service = "rds"};
    assert_int_equal(lb_http_request(&req, &resp, &err), 0);
    lb_http_resp_free(&resp);
    cJSON *r = logged(s, 0, &all);
    const char *auth = header(r, "authorization");
    assert_true(lb_str_starts(auth, "AWS4-HMAC-SHA256 Credential=AKIDFROMENV/"));
    assert_non_null(strstr(auth, "/eu-west-1/rds/aws4_request"));
    assert_non_null(strstr(auth, "x-amz-security-token"));
    assert_string_equal(header(r, "x-amz-security-token"), "session-token-from-env");
    assert_non_null(header(r, "x-amz-date"));
    assert_null(strstr(auth, "secret-from-env"));
    cJSON_Delete(all);

    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    lb_http_resp_free(&resp);
    assert_int_equal(lb_test_server_count(s), 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");
    free(u);
}

/* ---- TLS ------------------------------------------------------------- */

static int run_argv(const char *const *argv)
{
    pid_t pid;
    int status;
    posix_spawn_file_actions_t fa;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_http_tls_is_verified_by_default(void **state)
{
    struct lb_test_server *s = *state;
    char *cert = lb_path_join(s->dir, "cert.pem"), *key = lb_path_join(s->dir, "key.pem");
    const char *gen[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                         "-keyout", key, "-out", cert, "-days", "1", "-subj",
                         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", NULL};
    char port[16], u[64];
    struct lb_http_resp resp;
    struct lb_err err = {0};
    int rc = -1;

    if (run_argv(gen) != 0) {
        free(cert);
        free(key);
        skip();   /* no openssl binary: nothing to serve TLS with */
    }
    /* a free port: the test server's, once it is stopped */
    start(s, NULL);
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/", s->port);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = -1;
    {
        const char *srv[] = {"openssl", "s_server", "-quiet", "-www", "-accept", port,
                             "-cert", cert, "-key", key, NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
        assert_int_equal(posix_spawnp(&tls_pid, "openssl", &fa, NULL, (char *const *)srv,
                                      environ), 0);
        posix_spawn_file_actions_destroy(&fa);
    }
    /* wait until it accepts: an unverified request gets through */
    struct lb_http_req probe = {.url = u, .timeout_ms = 2000, .insecure = 1};
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = lb_http_request(&probe, &resp, &err);
        lb_http_resp_free(&resp);
        if (rc != 0)
            usleep(50000);
    }
    assert_int_equal(rc, 0);

    struct lb_http_req req = {.url = u, .timeout_ms = 5000};
    assert_int_equal(lb_http_request(&req, &resp, &err), LB_EIO);
    assert_int_equal(resp.status, 0);
    lb_http_resp_free(&resp);

    struct lb_http_req trusted = {.url = u, .timeout_ms = 5000, .ca_file = cert};
    assert_int_equal(lb_http_request(&trusted, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    lb_http_resp_free(&resp);

    unlink(cert);
    unlink(key);
    free(cert);
    free(key);
}

/* ---- the Lua module, through the real runner ------------------------- */

struct lua_fx {
    struct lb_test_server srv;
    struct lb_env *env;
    struct lb_store *store;
    struct lb_run_view *view;
    struct lb_runner_result res;
    char scenario[128];
};

static int lua_setup(void **state)
{
    struct lua_fx *f = calloc(1, sizeof(*f));
    struct lb_err err = {0};

    assert_int_equal(lb_test_server_init(&f->srv), 0);
    f->env = calloc(1, sizeof(*f->env));
    f->env->name = strdup("unit");
    f->env->secrets = lb_secrets_new();
    f->env->rto_ms = f->env->rpo_ms = -1;
    assert_int_equal(lb_store_open(":memory:", &f->store, &err), 0);
    snprintf(f->scenario, sizeof(f->scenario), "%s/scenario.lua", f->srv.dir);
    lb_interrupt_reset();
    *state = f;
    return 0;
}

static int lua_teardown(void **state)
{
    struct lua_fx *f = *state;

    unlink(f->scenario);
    lb_test_server_stop(&f->srv);
    lb_run_view_free(f->view);
    lb_runner_result_free(&f->res);
    lb_store_close(f->store);
    lb_env_free(f->env);
    free(f);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    return 0;
}

/* Run `src` with BASE set to the server's URL; load the stored run. */
static int run_lua(struct lua_fx *f, const char *src, int dry_run)
{
    struct lb_runner_opts o = {0};
    struct lb_err err = {0};
    FILE *fp = fopen(f->scenario, "w");
    int code;

    assert_non_null(fp);
    fprintf(fp, "local BASE = '%s'\n%s", f->srv.url, src);
    fclose(fp);
    o.scenario_path = f->scenario;
    o.env = f->env;
    o.store = f->store;
    o.dry_run = dry_run;
    code = lb_runner_run(&o, &f->res, &err);
    if (f->res.run_id[0])
        assert_int_equal(lb_store_load_run(f->store, f->res.run_id, &f->view, &err), 0);
    return code;
}

static const struct lb_step_view *step_named(const struct lb_run_view *v, const char *name)
{
    for (size_t i = 0; i < v->nsteps; i++)
        if (strcmp(v->steps[i].name, name) == 0)
            return &v->steps[i];
    fail_msg("no step %s", name);
    return NULL;
}

static void assert_checks_pass(const struct lb_run_view *v)
{
    for (size_t i = 0; i < v->nchecks; i++)
        if (!v->checks[i].ok)
            fail_msg("check '%s' failed (observed %s)", v->checks[i].name,
                     v->checks[i].observed ? v->checks[i].observed : "-");
}

static double metric(const struct lb_run_view *v, const char *name)
{
    for (size_t i = 0; i < v->nmetrics; i++)
        if (strcmp(v->metrics[i].name, name) == 0)
            return v->metrics[i].value;
    fail_msg("no metric %s", name);
    return -1;
}

static void test_http_lua_get_returns_status_headers_and_json(void **state)
{
    struct lua_fx *f = *state;
    const char *data = lb_test_server_file(&f->srv, "data.json",
        "{\"rows\": 3, \"items\": [1, \"two\", {\"a\": null, \"b\": false}], \"pi\": 1.5}");
    char *route = lb_xasprintf("/data=200:@%s", data);
    const char *routes[] = {route, NULL};

    assert_int_equal(lb_test_server_start(&f->srv, routes), 0);
    int code = run_lua(f,
        "scenario { id = 'http-get', title = 'http get' }\n"
        "step('health shows data', { kind = 'check' }, function()\n"
        "  local r = http.get(BASE .. '/data?api_token=abcd1234secret')\n"
        "  check('status', r.status == 200, { observed = r.status })\n"
        "  check('integer', r.json.rows == 3 and math.type(r.json.rows) == 'integer')\n"
        "  check('array', #r.json.items == 3 and r.json.items[2] == 'two')\n"
        "  check('null is nil, false kept', r.json.items[3].a == nil and r.json.items[3].b == false)\n"
        "  check('float', r.json.pi == 1.5)\n"
        "  check('headers', r.headers['content-type'] == 'application/json')\n"
        "  check('duration', type(r.duration) == 'number' and r.duration >= 0 and r.duration < 5)\n"
        "  check('body', r.body:find('\"rows\"', 1, true) ~= nil and not r.truncated)\n"
        "  local t = http.request { url = BASE .. '/plain', method = 'DELETE' }\n"
        "  check('plain text has no json', t.status == 200 and t.json == nil and t.body == 'ok\\n')\n"
        "end)\n", 0);
    assert_int_equal(code, 0);
    assert_checks_pass(f->view);
    assert_int_equal(f->view->nchecks, 9);
    const struct lb_step_view *st = step_named(f->view, "health shows data");
    assert_non_null(strstr(st->output_tail, "http GET http://127.0.0.1:"));
    assert_non_null(strstr(st->output_tail, "/data?api_token=**** -> 200 ("));
    assert_non_null(strstr(st->output_tail, "http DELETE "));
    assert_non_null(strstr(st->output_tail, "\"rows\": 3"));
    assert_null(strstr(st->output_tail, "abcd1234secret"));
    assert_true(metric(f->view, "http.status") == 200);
    cJSON *all;
    cJSON *r = logged(&f->srv, 1, &all);
    assert_string_equal(field(r, "method"), "DELETE");
    cJSON_Delete(all);
    free(route);
}

static void test_http_lua_json_tables_become_json_bodies(void **state)
{
    struct lua_fx *f = *state;
    cJSON *all;

    assert_int_equal(lb_test_server_start(&f->srv, NULL), 0);
    int code = run_lua(f,
        "scenario { id = 'http-post', title = 'http post' }\n"
        "step('start a restore', function()\n"
        "  local r = http.post(BASE .. '/restore', {\n"
        "    headers = { ['X-Run'] = 'r1' },\n"
        "    json = { name = 'inventory', ids = { 1, 2, 3 }, opts = { fast = true, ratio = 0.5 },\n"
        "             empty = {}, sparse = { [1] = 'a', [3] = 'c' } } })\n"
        "  check('answered', r.status == 200)\n"
        "end)\n", 0);
    assert_int_equal(code, 0);
    assert_checks_pass(f->view);
    cJSON *req = logged(&f->srv, 0, &all);
    assert_string_equal(field(req, "method"), "POST");
    assert_string_equal(header(req, "content-type"), "application/json");
    assert_string_equal(header(req, "x-run"), "r1");
    cJSON *body = cJSON_Parse(field(req, "body"));
    assert_non_null(body);
    assert_string_equal(cJSON_GetObjectItem(body, "name")->valuestring, "inventory");
    cJSON *ids = cJSON_GetObjectItem(body, "ids");
    assert_true(cJSON_IsArray(ids));
    assert_int_equal(cJSON_GetArraySize(ids), 3);
    assert_int_equal(cJSON_GetArrayItem(ids, 2)->valueint, 3);
    cJSON *o = cJSON_GetObjectItem(body, "opts");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "fast")));
    assert_true(cJSON_GetObjectItem(o, "ratio")->valuedouble == 0.5);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(body, "empty")));
    /* keys other than 1..n make an object; number keys become strings */
    cJSON *sparse = cJSON_GetObjectItem(body, "sparse");
    assert_true(cJSON_IsObject(sparse));
    assert_string_equal(cJSON_GetObjectItem(sparse, "3")->valuestring, "c");
    cJSON_Delete(body);
    cJSON_Delete(all);
}

static void test_http_lua_a_hung_server_is_a_gap_and_the_drill_goes_on(void **state)
{
    struct lua_fx *f = *state;
    const char *routes[] = {"/hang=hang", "/broken=500", NULL};

    assert_int_equal(lb_test_server_start(&f->srv, routes), 0);
    int64_t t0 = lb_mono_ms();
    int code = run_lua(f,
        "scenario { id = 'http-hang', title = 'http hang' }\n"
        "step('own timeout', { critical = false }, function()\n"
        "  http.get(BASE .. '/hang', { timeout = '300ms' })\n"
        "end)\n"
        "step('step deadline', { critical = false, timeout = '400ms' }, function()\n"
        "  http.get(BASE .. '/hang')\n"
        "end)\n"
        "step('a 500 is an answer', function()\n"
        "  local r = http.get(BASE .. '/broken')\n"
        "  check('500 seen', r.status == 500)\n"
        "end)\n", 0);
    assert_true(lb_mono_ms() - t0 < 5000);
    assert_int_equal(code, 1);
    assert_checks_pass(f->view);
    assert_string_equal(step_named(f->view, "own timeout")->status, "timeout");
    assert_string_equal(step_named(f->view, "step deadline")->status, "timeout");
    assert_string_equal(step_named(f->view, "a 500 is an answer")->status, "passed");
    assert_non_null(strstr(step_named(f->view, "own timeout")->output_tail,
                           "-> failed after"));
    assert_int_equal(f->view->ngaps, 2);
}

static void test_http_lua_misuse_raises_with_the_reason(void **state)
{
    struct lua_fx *f = *state;

    assert_int_equal(lb_test_server_start(&f->srv, NULL), 0);
    int code = run_lua(f,
        "scenario { id = 'http-misuse', title = 'http misuse' }\n"
        "local function fails(fn, want)\n"
        "  local ok, e = pcall(fn)\n"
        "  check(want, not ok and tostring(e):find(want, 1, true) ~= nil,\n"
        "        { observed = tostring(e) })\n"
        "end\n"
        "step('misuse', function()\n"
        "  fails(function() http.get(BASE, { timout = '1s' }) end, \"unknown option 'timout'\")\n"
        "  fails(function() http.post(BASE, { body = 'x', json = {} }) end, 'not both')\n"
        "  fails(function() http.get(BASE, { url = BASE }) end, 'first argument')\n"
        "  fails(function() http.request { method = 'GET' } end, 'url is required')\n"
        "  fails(function() http.post(BASE, { json = { f = print } }) end, 'cannot encode')\n"
        "  local t = {}; t.self = t\n"
        "  fails(function() http.post(BASE, { json = t }) end, 'deeper than')\n"
        "  fails(function() http.get('file:///etc/passwd') end, 'only http')\n"
        "  fails(function() http.get(BASE, { headers = { ['X-A'] = 'a\\r\\nX-B: b' } }) end,\n"
        "        'one line')\n"
        "  fails(function() http.get(BASE, { aws = { region = 'us-east-1' } }) end,\n"
        "        'region and service')\n"
        "end)\n", 0);
    assert_int_equal(code, 0);
    assert_checks_pass(f->view);
    assert_int_equal(f->view->nchecks, 9);
    assert_int_equal(lb_test_server_count(&f->srv), 0);
}

static void test_http_lua_is_not_available_while_declaring(void **state)
{
    struct lua_fx *f = *state;

    assert_int_equal(lb_test_server_start(&f->srv, NULL), 0);
    int code = run_lua(f,
        "scenario { id = 'http-declare', title = 'http at load' }\n"
        "http.get(BASE .. '/at-load')\n"
        "step('s', function() end)\n", 0);
    assert_int_equal(code, 2);
    assert_int_equal(lb_test_server_count(&f->srv), 0);
}

static void test_http_lua_a_dry_run_sends_nothing(void **state)
{
    struct lua_fx *f = *state;

    assert_int_equal(lb_test_server_start(&f->srv, NULL), 0);
    int code = run_lua(f,
        "scenario { id = 'http-dry', title = 'http dry' }\n"
        "step('would call', function() http.post(BASE .. '/side-effect', { body = 'x' }) end)\n",
        1);
    assert_int_equal(code, 0);
    assert_string_equal(f->view->status, "planned");
    usleep(100000);
    assert_int_equal(lb_test_server_count(&f->srv), 0);
}

static void test_http_lua_aws_signing_uses_env_credentials_and_redacts_them(void **state)
{
    struct lua_fx *f = *state;
    const char *echo = lb_test_server_file(&f->srv, "echo.txt",
        "<Token>session-token-0123456789</Token><Key>secret-key-0123456789</Key>");
    char *route = lb_xasprintf("/rds=200:@%s", echo);
    const char *routes[] = {route, NULL};
    cJSON *all;

    setenv("AWS_ACCESS_KEY_ID", "AKIDUNITTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-key-0123456789", 1);
    setenv("AWS_SESSION_TOKEN", "session-token-0123456789", 1);
    assert_int_equal(lb_test_server_start(&f->srv, routes), 0);
    int code = run_lua(f,
        "scenario { id = 'http-aws', title = 'http aws' }\n"
        "step('start an RDS restore', function()\n"
        "  local r = http.post(BASE .. '/rds', { body = 'Action=RestoreDBInstanceToPointInTime',\n"
        "                      aws = { region = 'us-east-1', service = 'rds' } })\n"
        "  check('signed and answered', r.status == 200)\n"
        "  log(r.body)\n"
        "end)\n", 0);
    assert_int_equal(code, 0);
    assert_checks_pass(f->view);
    cJSON *req = logged(&f->srv, 0, &all);
    const char *auth = header(req, "authorization");
    assert_true(lb_str_starts(auth, "AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/"));
    assert_non_null(strstr(auth, "/us-east-1/rds/aws4_request"));
    assert_string_equal(header(req, "x-amz-security-token"), "session-token-0123456789");
    cJSON_Delete(all);
    const struct lb_step_view *st = step_named(f->view, "start an RDS restore");
    assert_null(strstr(st->output_tail, "session-token-0123456789"));
    assert_null(strstr(st->output_tail, "secret-key-0123456789"));
    assert_non_null(strstr(st->output_tail, "<Token>****</Token>"));
    free(route);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_get_returns_status_headers_and_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_post_sends_the_body_and_headers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_a_500_is_an_answer_not_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_a_hung_server_times_out_within_the_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_the_deadline_wins_over_a_longer_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_a_passed_deadline_sends_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_an_interrupt_stops_a_hung_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_the_body_kept_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_refuses_other_schemes_and_bad_headers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_a_closed_port_is_an_io_error, setup,
                                        teardown),
        cmocka_unit_test(test_http_url_origin_drops_user_info_path_and_query),
        cmocka_unit_test_setup_teardown(test_http_sigv4_matches_aws_get_vanilla, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_sigv4_matches_aws_post_vanilla, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_sigv4_reads_credentials_like_aws_tools, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_tls_is_verified_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_get_returns_status_headers_and_json,
                                        lua_setup, lua_teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_json_tables_become_json_bodies, lua_setup,
                                        lua_teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_a_hung_server_is_a_gap_and_the_drill_goes_on,
                                        lua_setup, lua_teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_misuse_raises_with_the_reason, lua_setup,
                                        lua_teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_is_not_available_while_declaring,
                                        lua_setup, lua_teardown),
        cmocka_unit_test_setup_teardown(test_http_lua_a_dry_run_sends_nothing, lua_setup,
                                        lua_teardown),
        cmocka_unit_test_setup_teardown(
            test_http_lua_aws_signing_uses_env_credentials_and_redacts_them, lua_setup,
            lua_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
