/*
 * http: one HTTP request through libcurl, bounded in time and in memory.
 * Method, URL, headers and body in; status, headers, body (kept up to a
 * limit) and duration out. TLS verification is on unless the caller turns
 * it off; AWS Signature V4 is libcurl's own (CURLOPT_AWS_SIGV4). Every
 * request has a deadline (CURLOPT_TIMEOUT_MS, never unlimited) and stops
 * when lb_interrupted() says a signal arrived.
 *
 * Used by the Lua `http` module (src/lua/l_http.c) and by notifications
 * (notify.h). The only module that includes curl/curl.h. Knows nothing of
 * Lua or of runs; never prints.
 *
 * libcurl's process-wide initialisation (curl_global_init) is done once, on
 * the first request, under pthread_once: it is libcurl's own global state,
 * not run state, and it is never torn down.
 */
#ifndef LIFEBOAT_HTTP_H
#define LIFEBOAT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "lifeboat/util.h"

/* Used when a request sets no timeout and no deadline. */
#define LB_HTTP_DEFAULT_TIMEOUT_MS 30000
/* Response bytes kept when the request sets no limit. */
#define LB_HTTP_DEFAULT_MAX_BODY ((size_t)1024 * 1024)

/* AWS credentials for Signature V4. Borrowed strings. */
struct lb_aws_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;   /* may be NULL; sent as X-Amz-Security-Token */
};

/*
 * Fill `c` the way AWS tools read the environment: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional). Pointers borrowed
 * from the environment. LB_EINVAL (naming the missing variable, never a
 * value) when the key id or the secret is unset or empty.
 */
int lb_aws_credentials_from_env(struct lb_aws_credentials *c, struct lb_err *err);

struct lb_http_req {
    const char *method;          /* NULL: GET, or POST when there is a body */
    const char *url;             /* http:// or https:// only */
    const char *const *headers;  /* NULL-ended "Name: value" lines, or NULL */
    const char *body;            /* NULL: no body */
    size_t body_len;             /* bytes of body (strlen if 0 and body set) */
    int64_t timeout_ms;          /* whole request; 0: none of its own */
    int64_t deadline_ms;         /* monotonic; 0 or LB_NO_DEADLINE: none. The
                                    sooner of timeout and deadline wins; with
                                    neither, LB_HTTP_DEFAULT_TIMEOUT_MS */
    int insecure;                /* 1: skip TLS verification (default: verify) */
    const char *ca_file;         /* extra CA bundle (PEM), or NULL */
    int follow_redirects;        /* 1: follow up to 5 redirects (http/https) */
    size_t max_body;             /* response bytes kept; 0: LB_HTTP_DEFAULT_MAX_BODY */
    /* AWS SigV4: signed when aws_region and aws_service are both set. */
    const char *aws_region;
    const char *aws_service;
    const struct lb_aws_credentials *aws;   /* NULL: lb_aws_credentials_from_env */
    /* "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" entries (CURLOPT_CONNECT_TO),
     * NULL-ended or NULL: reach a named host at another address, keeping the
     * Host header (and so the signature) of the URL. */
    const char *const *connect_to;
};

struct lb_http_header {
    char *name;                  /* lower case */
    char *value;                 /* trimmed */
};

/* A response. Zero-initialise; lb_http_resp_free releases it. */
struct lb_http_resp {
    long status;                 /* 0 if no response arrived */
    struct lb_http_header *headers;  /* of the final response, in order */
    size_t nheaders;
    char *body;                  /* first max_body bytes, NUL-terminated (may hold
                                    NULs too: use body_len); never NULL after
                                    lb_http_request, even when it failed */
    size_t body_len;             /* bytes kept */
    size_t body_total;           /* bytes received */
    int truncated;               /* body_total > body_len */
    int64_t duration_ms;
};

/*
 * Send one request and wait for the whole response, at most until the
 * deadline. Returns 0 when a response arrived, whatever its status (a 500
 * is an answer: the caller decides). Otherwise LB_ETIMEOUT (the deadline
 * passed, nothing or part received), LB_EINTR (a signal), LB_EINVAL (bad
 * request: URL, scheme, missing AWS credentials) or LB_EIO (connection,
 * TLS, protocol). Error messages name the method and the URL's origin
 * (scheme://host:port) only: a URL's path and query may be secrets (a
 * Slack webhook is). resp is filled as far as the exchange went
 * (duration always); free it with lb_http_resp_free on every path.
 */
int lb_http_request(const struct lb_http_req *req, struct lb_http_resp *resp,
                    struct lb_err *err);
void lb_http_resp_free(struct lb_http_resp *resp);

/* The first response header called `name` (any case), or NULL. Borrowed. */
const char *lb_http_resp_header(const struct lb_http_resp *resp, const char *name);

/* Whether the response's Content-Type is JSON (application/json, or a
 * "+json" type such as application/problem+json). */
int lb_http_resp_is_json(const struct lb_http_resp *resp);

/* "scheme://host[:port]" of a URL (no user info, path or query) into out;
 * "(bad url)" when it cannot be parsed. For messages and logs. */
void lb_http_url_origin(const char *url, char *out, size_t outsz);

/* Percent-encode s for a URL path segment or query value. Caller frees. */
char *lb_http_escape(const char *s);

#endif
